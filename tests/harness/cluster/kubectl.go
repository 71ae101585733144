package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Kubectl runs the cluster's kubectl with the admin's kubeconfig and
// returns its standard output; an error fails the test.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.KubectlContext(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// KubectlContext is Kubectl returning its error (which carries kubectl's
// standard error) instead of failing a test.
func (c *Cluster) KubectlContext(ctx context.Context, args ...string) (string, error) {
	return c.kubectlIn(ctx, "", args...)
}

func (c *Cluster) kubectlIn(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin("kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// GetJSON runs `kubectl get ARGS -o json` and decodes its output into v.
func (c *Cluster) GetJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := c.Kubectl(t, append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubectl get %s: %v", strings.Join(args, " "), err)
	}
}

// Apply applies the manifest file, or every manifest in the directory, at
// path.
func (c *Cluster) Apply(t testing.TB, path string) {
	t.Helper()
	c.Kubectl(t, "apply", "-f", path)
}

// ApplyYAML applies the manifests in manifest.
func (c *Cluster) ApplyYAML(t testing.TB, manifest string) {
	t.Helper()
	if _, err := c.kubectlIn(context.Background(), manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// ApplyKustomize applies the kustomization in dir (kubectl apply -k).
func (c *Cluster) ApplyKustomize(t testing.TB, dir string) {
	t.Helper()
	c.Kubectl(t, "apply", "-k", dir)
}

// WaitRollout waits until resource (deployment/NAME, statefulset/NAME,
// daemonset/NAME) in namespace has rolled out, for up to timeout.
func (c *Cluster) WaitRollout(t testing.TB, namespace, resource string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	if _, err := c.KubectlContext(ctx, "-n", namespace, "rollout", "status", resource, "--timeout", timeout.String()); err != nil {
		t.Fatal(err)
	}
}
