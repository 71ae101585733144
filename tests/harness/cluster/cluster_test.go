package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/cluster"
	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// The cluster needs root, and runs in a network and mount namespace of its
// own (netns.ReexecPrivileged); without root the package's tests do not run.
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "cluster: not run: a cluster needs root")
		os.Exit(0)
	}
	if !netns.Inside() {
		os.Exit(netns.ReexecPrivileged())
	}
	os.Exit(m.Run())
}

// echoImage is tools/kubernetes cmd/echo as an image, which the cluster's
// images directory holds beside the pause and CoreDNS images.
const echoImage = "daprshop/echo:1"

const web = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: web
        image: ` + echoImage + `
        imagePullPolicy: Never
        args: [serve, ":8080"]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: client
    image: ` + echoImage + `
    imagePullPolicy: Never
    args: [get, "http://web/from-pod"]
    securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: [ALL]}}
`

// TestClusterServesAService starts a cluster, runs a Deployment behind a
// Service, and reaches it by name through CoreDNS and its cluster IP
// through kube-proxy, from a pod and from the node; then stops the cluster
// and checks it left nothing behind.
func TestClusterServesAService(t *testing.T) {
	tunables := readSysctls(t)
	c := cluster.Start(t, cluster.Options{})

	c.ApplyYAML(t, web)
	c.WaitRollout(t, "default", "deployment/web", time.Minute)
	c.Kubectl(t, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/client", "--timeout=60s")
	if got := c.Kubectl(t, "logs", "client"); !strings.HasPrefix(got, "web-") || !strings.Contains(got, " /from-pod") {
		t.Errorf("from a pod, http://web/from-pod answered %q, want a web pod's name and /from-pod", got)
	}

	var svc struct {
		Spec struct{ ClusterIP string }
	}
	c.GetJSON(t, &svc, "service", "web")
	// The node resolves through CoreDNS too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, "web.default.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0] != svc.Spec.ClusterIP {
		t.Errorf("web.default.svc.cluster.local resolved to %v, want the Service's cluster IP %s", addrs, svc.Spec.ClusterIP)
	}
	body := get(t, ctx, "http://web.default.svc.cluster.local/from-node")
	if !strings.HasPrefix(body, "web-") {
		t.Errorf("from the node, the Service answered %q, want a web pod's name", body)
	}

	// What a web container has used, as its cgroup counts it: starting
	// and serving took some.
	var pods struct {
		Items []struct {
			Status struct {
				ContainerStatuses []struct{ ContainerID string }
			}
		}
	}
	c.GetJSON(t, &pods, "pods", "-l", "app=web")
	_, id, _ := strings.Cut(pods.Items[0].Status.ContainerStatuses[0].ContainerID, "://")
	if used := c.ContainerCPU(t, id); used <= 0 {
		t.Errorf("web's container %s used %s of CPU, want some", id, used)
	}

	pids := c.PIDs()
	c.Stop(t)
	for _, pid := range pids {
		// Each was waited for by proc, so not even a zombie is left.
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("process %d still there after Stop", pid)
		}
	}
	if left := c.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	for k, was := range tunables {
		if now := readSysctls(t)[k]; now != was {
			t.Errorf("sysctl %s: got %s after the cluster, want %s as before", k, now, was)
		}
	}
}

func get(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}

// readSysctls reads the machine-wide sysctls the kubelet would change.
func readSysctls(t *testing.T) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"} {
		data, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			t.Fatal(err)
		}
		vals[k] = strings.TrimSpace(string(data))
	}
	return vals
}

// TestImagesNameTheirVersions checks that the cluster's image names carry
// the versions tools/kubernetes and tools/coredns pin, as the Makefile tags
// the images it builds.
func TestImagesNameTheirVersions(t *testing.T) {
	root := repo.Root(t)
	cases := []struct {
		image, gomod, module string
	}{
		{cluster.PauseImage, "tools/kubernetes/go.mod", "k8s.io/kubernetes"},
		{cluster.CoreDNSImage, "tools/coredns/go.mod", "github.com/coredns/coredns"},
	}
	for _, tc := range cases {
		data, err := os.ReadFile(filepath.Join(root, tc.gomod))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(tc.module) + ` v(\S+)$`).FindSubmatch(data)
		if m == nil {
			t.Fatalf("%s does not require %s", tc.gomod, tc.module)
		}
		if _, tag, _ := strings.Cut(tc.image, ":"); tag != string(m[1]) {
			t.Errorf("%s is tagged %s, want %s as %s pins", tc.image, tag, m[1], tc.gomod)
		}
	}
}
