package k8s

import (
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestSameDaprResourcesAsSelfHosted checks that every Dapr resource of
// components/ (what `make run` and the e2e suite use) says the same in every
// rendered overlay. Resiliency and subscriptions are the same; components
// differ only where a cluster must: a value the sidecar reads from its
// environment (envRef) comes from a Kubernetes Secret (secretKeyRef). The
// Configuration is the cluster's own (mTLS, tracing, access control), but
// keeps what self-hosted turns on.
func TestSameDaprResourcesAsSelfHosted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repo.Root(t), "components", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no components/*.yaml: %v", err)
	}
	var selfHosted []*unstructured.Unstructured
	for _, f := range files {
		selfHosted = append(selfHosted, decodeFile(t, f)...)
	}
	for _, r := range renderAll(t) {
		t.Run(r.overlay, func(t *testing.T) {
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
