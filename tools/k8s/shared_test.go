package k8s

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestSameDaprResourcesAsSelfHosted checks that every Dapr resource of
// components/ (what `make run` and the e2e suite use), with the backend
// profile's own files in place of those of the same name, says the same in
// every rendered target. Resiliency and subscriptions are the same;
// components differ only where a cluster must: a value the sidecar reads
// from its environment (envRef) comes from a Kubernetes Secret
// (secretKeyRef). The Configuration is the cluster's own (mTLS, tracing,
// access control), but keeps what self-hosted turns on. What the apps are
// told of the stores (order's create ETag) is the profile's, as
// deploy/selfhosted/env says it.
func TestSameDaprResourcesAsSelfHosted(t *testing.T) {
	root := repo.Root(t)
	for _, r := range renderAll(t) {
		t.Run(r.target.Name(), func(t *testing.T) {
			selfHosted, want := selfHostedProfile(t, root, r.target.Backend)
			if d := find(r.objs, "Deployment", "order"); d == nil {
				t.Error("no Deployment order")
			} else if got := appEnv(d, "order", createETag); got != want {
				t.Errorf("order's %s is %q; the profile's, in deploy/selfhosted/env, is %q", createETag, got, want)
			}
			for _, want := range selfHosted {
				switch want.GetKind() {
				case "Configuration":
					for _, got := range byKind(r.objs, "Configuration") {
						compareConfiguration(t, got, want)
					}
				default:
					got := find(r.objs, want.GetKind(), want.GetName())
					if got == nil {
						t.Errorf("%s of components/ is missing", id(want))
						continue
					}
					if want.GetKind() == "Component" {
						compareComponent(t, got, want)
						continue
					}
					for _, field := range []string{"apiVersion", "spec", "scopes"} {
						if !reflect.DeepEqual(got.Object[field], want.Object[field]) {
							t.Errorf("%s: %s differs from components/:\n got: %v\nwant: %v", id(got), field, got.Object[field], want.Object[field])
						}
					}
				}
			}
		})
	}
}

func compareComponent(t *testing.T, got, want *unstructured.Unstructured) {
	t.Helper()
	for _, field := range [][]string{{"apiVersion"}, {"spec", "type"}, {"spec", "version"}, {"scopes"}} {
		g, _, _ := unstructured.NestedFieldNoCopy(got.Object, field...)
		w, _, _ := unstructured.NestedFieldNoCopy(want.Object, field...)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %v: got %v, want %v as in components/", id(got), field, g, w)
		}
	}
	gotMD, _, _ := unstructured.NestedSlice(got.Object, "spec", "metadata")
	wantMD, _, _ := unstructured.NestedSlice(want.Object, "spec", "metadata")
	if len(gotMD) != len(wantMD) {
		t.Errorf("%s: %d metadata fields, want %d as in components/", id(got), len(gotMD), len(wantMD))
		return
	}
	for i := range wantMD {
		g, w := gotMD[i].(map[string]any), wantMD[i].(map[string]any)
		if g["name"] != w["name"] {
			t.Errorf("%s: metadata %d: %v, want %v as in components/", id(got), i, g["name"], w["name"])
			continue
		}
		if _, fromEnv := w["envRef"]; fromEnv {
			if _, ok := g["secretKeyRef"]; !ok {
				t.Errorf("%s: metadata %v: self-hosted reads it from the environment; want a secretKeyRef", id(got), g["name"])
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: metadata %v: got %v, want %v as in components/", id(got), g["name"], g, w)
		}
	}
}

func compareConfiguration(t *testing.T, got, want *unstructured.Unstructured) {
	t.Helper()
	spec, _, _ := unstructured.NestedMap(want.Object, "spec")
	for field, w := range spec {
		switch field {
		case "tracing", "mtls", "accessControl":
			continue // a cluster's own: checked by TestOverlaysSayWhatWeMean
		}
		g, _, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", field)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: spec.%s: got %v, want %v as in components/", id(got), field, g, w)
		}
	}
}

// createETag is the variable that tells order how its store creates a
// record inside a transaction (internal/config.EnvOrderStoreCreateETag).
const createETag = "ORDERSTORE_CREATE_ETAG"

// selfHostedProfile returns the Dapr resources self-hosted runs on backend
// ("" for the overlays' own, Redis): components/*.yaml, with those of
// components/BACKEND/ in place of the files of the same name; and the
// createETag its deploy/selfhosted/env/backend-PROFILE.env gives order.
func selfHostedProfile(t *testing.T, root, backend string) (resources []*unstructured.Unstructured, orderCreateETag string) {
	t.Helper()
	profile, layers := "redis", []string{filepath.Join(root, "components")}
	if backend != "" {
		profile = backend
		layers = append(layers, filepath.Join(root, "components", backend))
	}
	files := map[string]string{}
	for _, layer := range layers {
		paths, err := filepath.Glob(filepath.Join(layer, "*.yaml"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no %s/*.yaml: %v", layer, err)
		}
		for _, p := range paths {
			files[filepath.Base(p)] = p
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		resources = append(resources, decodeFile(t, files[name])...)
	}
	path := filepath.Join(root, "deploy", "selfhosted", "env", "backend-"+profile+".env")
	env, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + createETag + `=(.*)$`).FindSubmatch(env)
	if m == nil {
		t.Fatalf("%s sets no %s", path, createETag)
	}
	return resources, string(m[1])
}
