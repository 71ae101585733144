package k8s

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tools/k8s/chart"
)

// outDir is where `make images` wrote the layouts and pinned overlays.
func outDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(repo.Root(t), "out")
}

// rendered is one target (an overlay on a backend) as a release deploys
// it: the pinned kustomization `make images` wrote, rendered by kustomize.
type rendered struct {
	target Target
	objs   []*unstructured.Unstructured
}

// renderAll renders every target, pinned to the images `make images` built.
func renderAll(t testing.TB) []rendered {
	t.Helper()
	targets, err := Targets(repo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []rendered
	for _, target := range targets {
		dir := PinnedDir(outDir(t), target)
		if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
			t.Fatalf("%s: no pinned kustomization at %s: run `make images` first", target.Name(), dir)
		}
		out = append(out, rendered{target: target, objs: render(t, dir)})
	}
	return out
}

// render runs kustomize on dir, as `kubectl kustomize` or `kustomize build`
// would (the same load restrictions).
func render(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		// Through JSON, so numbers are int64 or float64, as in objects
		// read from the API server.
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("kustomize %s: %v", dir, err)
		}
		var obj unstructured.Unstructured
		if err := obj.UnmarshalJSON(data); err != nil {
			t.Fatalf("kustomize %s: %s: %v", dir, r.CurId(), err)
		}
		objs = append(objs, &obj)
	}
	return objs
}

// selfHostedApps returns each app id of deploy/selfhosted/dapr.yaml with its
// app port.
func selfHostedApps(t testing.TB) map[string]int {
	t.Helper()
	apps, err := repo.ReadRunFile(filepath.Join(repo.Root(t), "deploy", "selfhosted", "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, a := range apps {
		ports[a.AppID] = a.AppPort
	}
	return ports
}

// moduleDir returns where the Go module cache holds path@version, and the
// file of its go.mod, downloading it when needed.
func moduleDir(t testing.TB, path, version string) (dir, gomod string) {
	t.Helper()
	dir, gomod, err := chart.Module(path, version)
	if err != nil {
		t.Fatal(err)
	}
	return dir, gomod
}

var (
	daprOnce sync.Once
	daprDir  string
	daprMod  string
)

// daprModule returns the dapr module at the runtime version tools/daprd
// pins (its Helm chart holds the CRDs), and its go.mod file.
func daprModule(t testing.TB) (dir, gomod string) {
	t.Helper()
	daprOnce.Do(func() {
		version, err := repo.PinnedDaprVersion(repo.Root(t))
		if err != nil {
			t.Fatal(err)
		}
		daprDir, daprMod = moduleDir(t, "github.com/dapr/dapr", version)
	})
	if daprDir == "" {
		t.Fatal("the dapr module is not available")
	}
	return daprDir, daprMod
}

var contribRe = regexp.MustCompile(`(?m)^\s*github\.com/dapr/components-contrib (v\S+)`)

// stableComponents returns the component types ("state.redis/v1") that
// components-contrib, at the version the pinned dapr requires, certifies
// stable in its metadata.yaml files.
func stableComponents(t testing.TB) map[string]bool {
	t.Helper()
	_, gomod := daprModule(t)
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	m := contribRe.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not require github.com/dapr/components-contrib", gomod)
	}
	dir, _ := moduleDir(t, "github.com/dapr/components-contrib", string(m[1]))
	stable := map[string]bool{}
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "metadata.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var md struct{ Type, Name, Version, Status string }
		if err := yaml.Unmarshal(data, &md); err != nil {
			return nil // not a component's metadata
		}
		if md.Status == "stable" && md.Type != "" && md.Name != "" {
			stable[md.Type+"."+md.Name+"/"+md.Version] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stable) < 10 {
		t.Fatalf("%s: only %d stable components found; is this components-contrib?", dir, len(stable))
	}
	return stable
}

// byKind returns the objects of one kind.
func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func deepCopyAll(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

func id(o *unstructured.Unstructured) string {
	return strings.ToLower(o.GetKind()) + "/" + o.GetName()
}
