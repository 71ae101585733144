package k8s

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestAPIServerAcceptsEveryOverlay applies every rendered overlay to a real
// kube-apiserver (on Debian's etcd), with the Dapr CRDs of the pinned
// runtime installed, as `kubectl apply --dry-run=server` would: every object
// must be accepted, with no warning (deprecated APIs, pod templates the
// namespace's "restricted" Pod Security Standard would refuse).
func TestAPIServerAcceptsEveryOverlay(t *testing.T) {
	t.Parallel() // mostly waiting on builds or the API server: overlap them
	c := startCluster(t)
	for _, r := range renderAll(t) {
		t.Run(r.target.Name(), func(t *testing.T) {
			for _, err := range c.apply(t, withPods(r.objs)) {
				t.Error(err)
			}
		})
	}
	// Dapr's control plane as make k8s-e2e installs it on the test cluster:
	// its chart rendered with deploy/k8s/dapr-values.yaml and the cluster's
	// values, in its namespace (the CRDs are installed already, above).
	t.Run("dapr chart", func(t *testing.T) {
		for _, err := range c.apply(t, chartObjects(t)) {
			t.Error(err)
		}
	})

	// The same API server refuses manifests that are wrong in ways only it
	// knows: so the check above can fail.
	r := renderAll(t)[0]
	cases := []struct {
		name   string
		break_ func(objs []*unstructured.Unstructured)
		want   string
	}{
		{"misspelled Deployment field", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "order")
			_ = unstructured.SetNestedField(d.Object, int64(30), "spec", "template", "spec", "terminationGracePeriodSecond")
		}, "terminationGracePeriodSecond"},
		{"selector does not match the pod labels", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "inventory")
			_ = unstructured.SetNestedStringMap(d.Object, map[string]string{"app.kubernetes.io/name": "other"}, "spec", "selector", "matchLabels")
		}, "selector"},
		{"Component without a version (Dapr CRD schema)", func(objs []*unstructured.Unstructured) {
			c := find(objs, "Component", "statestore")
			unstructured.RemoveNestedField(c.Object, "spec", "version")
		}, "version"},
		{"Subscription with an unknown field (Dapr CRD schema)", func(objs []*unstructured.Unstructured) {
			s := find(objs, "Subscription", "orders-to-notification")
			_ = unstructured.SetNestedField(s.Object, "x", "spec", "deadLetterTopik")
		}, "deadLetterTopik"},
		{"privileged pod in a restricted namespace", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "notification")
			cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			_ = unstructured.SetNestedField(cs[0].(map[string]any), true, "securityContext", "privileged")
			_ = unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers")
		}, "privileged"},
		{"a spread constraint only a pod is checked for", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "order")
			spread := map[string]any{
				"topologyKey": "kubernetes.io/hostname", "maxSkew": int64(1), "whenUnsatisfiable": "ScheduleAnyway",
				"labelSelector":  map[string]any{"matchExpressions": []any{map[string]any{"key": "app.kubernetes.io/name", "operator": "Exists"}}},
				"matchLabelKeys": []any{"app.kubernetes.io/name"},
			}
			_ = unstructured.SetNestedSlice(d.Object, []any{spread}, "spec", "template", "spec", "topologySpreadConstraints")
		}, "exists in both matchLabelKeys and labelSelector"},
		{"PodDisruptionBudget with two budgets", func(objs []*unstructured.Unstructured) {
			p := find(objs, "PodDisruptionBudget", "order")
			_ = unstructured.SetNestedField(p.Object, int64(1), "spec", "minAvailable")
		}, "minAvailable"},
	}
	for _, tc := range cases {
		t.Run("rejects/"+tc.name, func(t *testing.T) {
			objs := deepCopyAll(r.objs)
			tc.break_(objs)
			errs := c.apply(t, withPods(objs))
			if len(errs) == 0 {
				t.Fatalf("got every object accepted, want a refusal about %q", tc.want)
			}
			found := false
			for _, err := range errs {
				found = found || strings.Contains(err.Error(), tc.want)
			}
			if !found {
				t.Errorf("got %v, want a refusal about %q", errs, tc.want)
			}
		})
	}
}

// withPods returns objs and, for each Deployment and StatefulSet, a Pod of
// its template, as its controller would create: some of a pod's rules are
// checked only when a Pod is created, never for a template (a key in both
// a spread constraint's selector and its matchLabelKeys, say), and a
// workload whose pods are all refused is accepted.
func withPods(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := slices.Clone(objs)
	for _, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" {
			continue
		}
		tmpl, _, _ := unstructured.NestedMap(o.Object, "spec", "template")
		pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod"}}
		if meta, ok := tmpl["metadata"].(map[string]any); ok {
			pod.Object["metadata"] = meta
		}
		spec, _ := tmpl["spec"].(map[string]any)
		// A StatefulSet's controller adds a volume per claim template.
		claims, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
		for _, claim := range claims {
			name, _, _ := unstructured.NestedString(claim.(map[string]any), "metadata", "name")
			volumes, _ := spec["volumes"].([]any)
			spec["volumes"] = append(volumes, map[string]any{
				"name": name, "persistentVolumeClaim": map[string]any{"claimName": name + "-" + o.GetName() + "-0"},
			})
		}
		pod.Object["spec"] = spec
		pod.SetName(strings.ToLower(o.GetKind()) + "-" + o.GetName())
		pod.SetNamespace(o.GetNamespace())
		out = append(out, pod)
	}
	return out
}

// cluster is a kube-apiserver with its etcd, and clients for it.
type cluster struct {
	dyn      dynamic.Interface
	mapper   meta.ResettableRESTMapper
	warnings *warnings
}

// startCluster starts etcd and kube-apiserver on free loopback ports, waits
// until the API server is ready, and installs the Dapr CRDs. Both processes
// are stopped, by PID, when the test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	root := repo.Root(t)
	apiserver := knobs.KubeAPIServer.Path(root, filepath.Join("out", "kubernetes", "kube-apiserver"))
	if _, err := os.Stat(apiserver); err != nil {
		t.Fatalf("no kube-apiserver: %v (run `make k8s-validate`, or set %s)", err, knobs.KubeAPIServer.Name)
	}
	etcd := lookPath(t, "etcd", "etcd-server")
	dir := t.TempDir()
	logDir := filepath.Join(root, "out", "k8s-validate")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}

	clientPort, peerPort := proc.FreePort(t), proc.FreePort(t)
	clientURL := "http://" + proc.Addr(clientPort)
	peerURL := "http://" + proc.Addr(peerPort)
	// etcd shuts down on SIGINT and then re-raises it: it ends "killed by
	// SIGINT", which is its clean stop. proc stops it after kube-apiserver,
	// started later.
	proc.Start(t, proc.Spec{
		Name: "etcd", Path: etcd, LogDir: logDir, EndsByStopSignal: true,
		Args: []string{
			"--name", "k8s-validate", "--data-dir", filepath.Join(dir, "etcd"),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "k8s-validate=" + peerURL,
		},
	})

	// A static token for the test's client, and the service account keys
	// the API server insists on.
	token := rand.Text()
	writeFile(t, filepath.Join(dir, "tokens.csv"), token+",admin,admin,system:masters\n")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sa.key"), string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sa.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))

	port := proc.FreePort(t)
	api := proc.Start(t, proc.Spec{
		Name: "kube-apiserver", Path: apiserver, LogDir: logDir,
		Args: []string{
			"--etcd-servers", clientURL,
			"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
			"--secure-port", fmt.Sprint(port), "--cert-dir", filepath.Join(dir, "certs"),
			"--token-auth-file", filepath.Join(dir, "tokens.csv"),
			"--authorization-mode", "RBAC",
			"--service-account-issuer", "https://kubernetes.default.svc",
			"--service-account-key-file", filepath.Join(dir, "sa.pub"),
			"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
			"--service-cluster-ip-range", "10.96.0.0/24",
		},
	})

	w := &warnings{}
	cfg := &rest.Config{
		Host:            "https://" + proc.Addr(port),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, // its own self-signed certificate
		WarningHandler:  w,
		QPS:             100,
		Burst:           200,
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, disco.RESTClient(), api)

	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		dyn:      dyn,
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
		warnings: w,
	}
	c.installDaprCRDs(t)
	return c
}

// waitReady waits until the API server answers ok on /readyz.
func waitReady(t *testing.T, client rest.Interface, api *proc.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := proc.WaitUntil(ctx, func(ctx context.Context) error {
		body, err := client.Get().AbsPath("/readyz").Timeout(5 * time.Second).DoRaw(ctx)
		if err == nil && string(body) != "ok" {
			err = fmt.Errorf("/readyz: %s", body)
		}
		return err
	}, api)
	if err != nil {
		t.Fatalf("kube-apiserver not ready: %v", err)
	}
}

// installDaprCRDs creates the CRDs of the dapr module's Helm chart, at the
// runtime version tools/daprd pins, and waits until each is established.
func (c *cluster) installDaprCRDs(t *testing.T) {
	t.Helper()
	dir, _ := daprModule(t)
	files, err := filepath.Glob(filepath.Join(dir, "charts", "dapr", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s/charts/dapr/crds: %v", dir, err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var names []string
	for _, f := range files {
		for _, crd := range decodeFile(t, f) {
			if _, err := c.dyn.Resource(crdGVR).Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create CRD %s from %s: %v", crd.GetName(), f, err)
			}
			names = append(names, crd.GetName())
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, name := range names {
		for {
			crd, err := c.dyn.Resource(crdGVR).Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && established(crd) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established after 1m: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.mapper.Reset()
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cond := range conds {
		m, _ := cond.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// apply sends every object to the API server as `kubectl apply
// --dry-run=server` does (unknown fields refused), and returns each refusal
// and warning. Namespaces and ServiceAccounts are created for real first,
// with each namespace's "default" ServiceAccount (no controller here makes
// it), since nothing can be validated in a namespace that does not exist,
// nor a pod whose ServiceAccount does not.
func (c *cluster) apply(t *testing.T, objs []*unstructured.Unstructured) []error {
	t.Helper()
	var errs []error
	real := func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "Namespace" || o.GetKind() == "ServiceAccount"
	}
	first := slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return !real(o) })
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount"}}
			sa.SetName("default")
			sa.SetNamespace(o.GetName())
			first = append(first, sa)
		}
	}
	slices.SortStableFunc(first, func(a, b *unstructured.Unstructured) int {
		return cmp.Compare(a.GetKind(), b.GetKind()) // Namespace before ServiceAccount
	})
	for _, o := range first {
		err := c.create(o, metav1.CreateOptions{FieldManager: "k8s-validate", FieldValidation: metav1.FieldValidationStrict})
		if apierrors.IsAlreadyExists(err) {
			err = nil // created, and so validated, for an overlay before
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id(o), err))
		}
	}
	for _, o := range objs {
		if real(o) {
			continue
		}
		c.warnings.reset()
		err := c.create(o, metav1.CreateOptions{FieldManager: "k8s-validate", FieldValidation: metav1.FieldValidationStrict, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id(o), err))
		}
		for _, w := range c.warnings.take() {
			errs = append(errs, fmt.Errorf("%s: warning: %s", id(o), w))
		}
	}
	return errs
}

func (c *cluster) create(o *unstructured.Unstructured, opts metav1.CreateOptions) error {
	gvk := o.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("the API server does not serve %s: %w", gvk, err)
	}
	var r dynamic.ResourceInterface = c.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			return errors.New("namespaced, but no namespace")
		}
		r = c.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = r.Create(ctx, o, opts)
	return err
}

// warnings collects the Warning headers of the API server's answers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) reset() { w.take() }

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// decodeFile returns the objects of a YAML file of one or more documents.
func decodeFile(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeStream(t, path, data)
}

// decodeStream returns the objects of a YAML stream of one or more
// documents; name says what it is in an error.
func decodeStream(t testing.TB, name string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue // an empty document
		}
		// As the API server reads it: numbers become int64 or float64.
		var o unstructured.Unstructured
		if err := o.UnmarshalJSON(raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objs = append(objs, &o)
	}
}

// lookPath finds a server the test needs, or says which Debian package has it.
func lookPath(t *testing.T, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s (make k8s-validate does)", bin, pkg)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
