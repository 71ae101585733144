// Package chart renders Dapr's Helm chart (charts/dapr in the dapr module)
// with Helm's own chart loader and template engine, offline: what `helm
// template dapr charts/dapr --namespace dapr-system --include-crds` prints,
// subcharts and CRDs included, with no helm binary and no cluster.
package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// Release and Namespace are the release name and namespace Dapr's
// documentation installs the chart as, and deploy/k8s expects (its
// NetworkPolicies admit the sidecars' traffic to dapr-system).
const (
	Release   = "dapr"
	Namespace = "dapr-system"
)

// Images are the names, under the chart's global.registry, of the images
// the rendered chart runs (at global.tag): the control plane's, and daprd,
// which the injector adds to every Dapr-enabled pod. Each image holds the
// binary of that name at /NAME: the chart and the injector run them by that
// path.
var Images = []string{"operator", "placement", "sentry", "scheduler", "injector", "daprd"}

// Manifest is one object of the rendered chart: the file of the chart it
// comes from, its YAML, and whether it is a CRD (of the chart's crds/,
// which `helm install` creates, and waits for, before the rest).
type Manifest struct {
	Source  string
	Content string
	CRD     bool
}

// Render renders the chart at dir with values over the chart's own (the
// way `helm template -f` merges them), as release Release in Namespace,
// and returns its objects: the CRDs of the chart and its subcharts first,
// then the rest in the order `helm install` applies them.
func Render(dir string, values map[string]any) ([]Manifest, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	// What `helm install` and `helm template` do before rendering: enable
	// or disable subcharts by their conditions and tags, import values.
	if err := chartutil.ProcessDependenciesWithMerge(ch, values); err != nil {
		return nil, fmt.Errorf("chart %s: dependencies: %w", dir, err)
	}
	opts := chartutil.ReleaseOptions{Name: Release, Namespace: Namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("chart %s: values: %w", dir, err)
	}
	// The zero Engine has no cluster to talk to: `lookup` finds nothing,
	// as in `helm template`.
	files, err := engine.Engine{}.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", dir, err)
	}
	for name := range files {
		if path.Base(name) == "NOTES.txt" {
			delete(files, name)
		}
	}
	hooks, sorted, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	if len(hooks) > 0 {
		// A hook runs at install time, which applying a file cannot do.
		return nil, fmt.Errorf("chart %s: %d hooks (%s first): not supported", dir, len(hooks), hooks[0].Path)
	}

	var out []Manifest
	for _, crd := range ch.CRDObjects() {
		for _, doc := range releaseutil.SplitManifests(string(crd.File.Data)) {
			if strings.TrimSpace(doc) != "" {
				out = append(out, Manifest{Source: crd.Filename, Content: doc, CRD: true})
			}
		}
	}
	for _, m := range sorted {
		out = append(out, Manifest{Source: m.Name, Content: m.Content})
	}
	return out, nil
}

// Stream returns the manifests as one YAML stream, each document headed by
// the file it comes from, as `helm template` prints them.
func Stream(ms []Manifest) []byte {
	var b bytes.Buffer
	for _, m := range ms {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Source, strings.TrimSpace(m.Content))
	}
	return b.Bytes()
}

// SchedulerStorage is the size of each scheduler's claim on a test
// cluster, which has no storage provisioner: the suite binds the claims
// to volumes of its own, of this size.
const SchedulerStorage = "1Gi"

// TestClusterValues are the values a one-node test cluster adds to a
// platform team's own: every image from registry at tag, imported into the
// node beforehand and never pulled; mTLS on; no high availability (one
// replica each, but see below); and the schedulers' claims of one size
// whatever the release (placement keeps its Raft log in memory when not
// HA).
//
// The chart of Dapr 1.18 always runs three schedulers (replicas and the
// etcd initial cluster are fixed in its StatefulSet), which one node can
// hold: their pod anti-affinity is only preferred. Their embedded etcd
// keeps its data on a claim each: in memory, a scheduler restarted by an
// upgrade comes back empty, its peers still count it a member, and it
// fails ("member ... has already been bootstrapped"). The size is fixed
// because a StatefulSet's claims cannot change: helm upgrade keeps the
// running one's (the 1.18 chart looks it up; 1.17 asked 1Gi, 1.18 asks
// 16Gi of a new install), which an offline rendering cannot see.
func TestClusterValues(registry, tag string) map[string]any {
	return map[string]any{
		"global": map[string]any{
			"registry":        registry,
			"tag":             tag,
			"imagePullPolicy": "Never",
			"mtls":            map[string]any{"enabled": true},
			"ha":              map[string]any{"enabled": false},
		},
		"dapr_scheduler": map[string]any{
			"cluster": map[string]any{"inMemoryStorage": false, "storageSize": SchedulerStorage},
		},
		"dapr_sidecar_injector": map[string]any{
			"sidecarImagePullPolicy": "Never",
		},
	}
}

// ReadValues returns the values of a YAML file, as `helm -f FILE` reads it.
func ReadValues(file string) (map[string]any, error) {
	v, err := chartutil.ReadValuesFile(file)
	if err != nil {
		return nil, err
	}
	return v.AsMap(), nil
}

// Merge returns the values of each layer merged over the ones before it,
// as `helm -f a.yaml -f b.yaml` merges files: tables merge key by key, any
// other value replaces the one before.
func Merge(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		mergeInto(out, l)
	}
	return out
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				copied := Merge(dv)
				mergeInto(copied, sv)
				dst[k] = copied
				continue
			}
			dst[k] = Merge(sv)
			continue
		}
		dst[k] = v
	}
}

// Dir returns where Dapr's chart is in the dapr module at version (such as
// "v1.18.2"), downloading the module into Go's module cache when needed.
func Dir(version string) (string, error) {
	dir, _, err := Module("github.com/dapr/dapr", version)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "charts", "dapr"), nil
}

// Module returns where Go's module cache holds path@version, and the file
// of its go.mod, downloading it when needed (from the module proxy `go`
// is configured with).
func Module(path, version string) (dir, gomod string, err error) {
	cmd := exec.Command("go", "mod", "download", "-json", path+"@"+version)
	// Outside any module, so that no go.mod or go.sum is touched.
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, runErr := cmd.Output()
	var m struct{ Dir, GoMod, Error string }
	if err := json.Unmarshal(data, &m); err != nil && runErr == nil {
		return "", "", fmt.Errorf("go mod download %s@%s: %w", path, version, err)
	}
	if m.Error != "" {
		return "", "", fmt.Errorf("go mod download %s@%s: %s", path, version, m.Error)
	}
	if runErr != nil {
		return "", "", fmt.Errorf("go mod download %s@%s: %w: %s", path, version, runErr, stderr.String())
	}
	if m.Dir == "" {
		return "", "", errors.New("go mod download " + path + "@" + version + ": no directory")
	}
	return m.Dir, m.GoMod, nil
}
