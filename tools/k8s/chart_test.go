package k8s

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tools/k8s/chart"
)

// The image names a test cluster imports for the Dapr control plane: what
// the tests render the chart with.
const (
	testRegistry = "localhost/dapr"
	testTag      = "1.18.2-test"
)

// TestDaprChartForTestCluster renders Dapr's chart, at the runtime version
// tools/daprd pins, as make k8s-e2e does (deploy/k8s/dapr-values.yaml, then
// the one-node test cluster's values) and checks that the cluster can run
// it: every image is one the cluster imports, none is pulled, no object
// needs a storage provisioner, mTLS is on, and each container runs its
// image's binary as a non-root user with nothing from the host.
func TestDaprChartForTestCluster(t *testing.T) {
	t.Parallel()
	objs := renderChart(t, nil)
	for _, p := range chartProblems(objs) {
		t.Error(p)
	}

	// The chart's CRDs come first, as helm installs them, and are the
	// files startCluster installs.
	dir, _ := daprModule(t)
	files, _ := filepath.Glob(filepath.Join(dir, "charts", "dapr", "crds", "*.yaml"))
	for i, o := range objs {
		if isCRD := o.GetKind() == "CustomResourceDefinition"; isCRD != (i < len(files)) {
			t.Errorf("object %d is %s: want the chart's %d CRDs first, then the rest", i, id(o), len(files))
		}
	}

	// The same checks find what a wrong value breaks: so they can fail.
	cases := []struct {
		name   string
		values string
		want   string
	}{
		{"scheduler in memory", "dapr_scheduler: {cluster: {inMemoryStorage: true}}", "in memory"},
		{"scheduler's claims of another size", "dapr_scheduler: {cluster: {storageSize: 16Gi}}", "claims 16Gi"},
		{"placement in HA (Raft log on a claim)", "dapr_placement: {ha: true}", "volumeClaimTemplates"},
		{"mTLS off", "global: {mtls: {enabled: false}}", "mTLS"},
		{"sidecar from another registry", "dapr_sidecar_injector: {image: {name: ghcr.io/dapr/daprd:1.18.2}}", "ghcr.io/dapr/daprd:1.18.2"},
		{"images pulled", "global: {imagePullPolicy: Always}", "imagePullPolicy Always"},
		{"injector under debug (dlv, SYS_PTRACE)", "dapr_sidecar_injector: {debug: {enabled: true}}", "/dlv"},
	}
	for _, tc := range cases {
		t.Run("finds/"+tc.name, func(t *testing.T) {
			t.Parallel()
			problems := chartProblems(renderChart(t, valuesOf(t, tc.values)))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("got problems %q, want one about %q", problems, tc.want)
			}
			t.Logf("found: %q", problems)
		})
	}
}

// renderChart renders the pinned runtime's chart with
// deploy/k8s/dapr-values.yaml, the test cluster's values, and then extra
// (to break a value), and decodes every object.
func renderChart(t testing.TB, extra map[string]any) []*unstructured.Unstructured {
	t.Helper()
	dapr, _ := daprModule(t)
	platform, err := chart.ReadValues(filepath.Join(repo.Root(t), "deploy", "k8s", "dapr-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := chart.Render(filepath.Join(dapr, "charts", "dapr"),
		chart.Merge(platform, chart.TestClusterValues(testRegistry, testTag), extra))
	if err != nil {
		t.Fatal(err)
	}
	return decodeStream(t, "the rendered chart", chart.Stream(ms))
}

func valuesOf(t testing.TB, yaml string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := utilyaml.Unmarshal([]byte(yaml), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// schedulerSet is the StatefulSet of Dapr's schedulers.
const schedulerSet = "dapr-scheduler-server"

// chartProblems returns what keeps the rendered chart from running on the
// one-node test cluster as intended.
func chartProblems(objs []*unstructured.Unstructured) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	want := map[string]bool{}
	for _, name := range chart.Images {
		want[testRegistry+"/"+name+":"+testTag] = true
	}
	named := map[string]bool{}
	checkImage := func(o *unstructured.Unstructured, image string) {
		named[image] = true
		if !want[image] {
			add("%s: image %s: want one of %s/{%s}:%s", id(o), image, testRegistry, strings.Join(chart.Images, ","), testTag)
		}
	}

	mtls := false
	for _, o := range objs {
		switch o.GetKind() {
		case "PersistentVolumeClaim":
			add("%s: this cluster has no storage provisioner", id(o))
		case "Configuration":
			on, _, _ := unstructured.NestedBool(o.Object, "spec", "mtls", "enabled")
			mtls = mtls || (o.GetName() == "daprsystem" && on)
		}
		pod, ok, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		if !ok {
			continue
		}
		claims, ok, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
		switch {
		case o.GetName() == schedulerSet && !ok:
			add("%s: no volumeClaimTemplates: the schedulers' etcd in memory does not survive a rolling restart", id(o))
		case o.GetName() != schedulerSet && ok:
			add("%s: volumeClaimTemplates: this cluster has no storage provisioner", id(o))
		}
		for _, c := range claims {
			size, _, _ := unstructured.NestedString(c.(map[string]any), "spec", "resources", "requests", "storage")
			if size != chart.SchedulerStorage {
				add("%s: claims %s each: the suite's volumes hold %s", id(o), size, chart.SchedulerStorage)
			}
		}
		if pod["hostNetwork"] == true || pod["hostPID"] == true || pod["hostIPC"] == true {
			add("%s: shares a namespace of the host", id(o))
		}
		vols, _, _ := unstructured.NestedSlice(pod, "volumes")
		for _, v := range vols {
			if _, ok := v.(map[string]any)["hostPath"]; ok {
				add("%s: volume %v is a hostPath", id(o), v.(map[string]any)["name"])
			}
		}
		for _, field := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(pod, field)
			for _, c := range cs {
				c := c.(map[string]any)
				image, _ := c["image"].(string)
				checkImage(o, image)
				if p := c["imagePullPolicy"]; p != "Never" {
					add("%s: container %s: imagePullPolicy %v: want Never (images are imported, never pulled)", id(o), c["name"], p)
				}
				// The image runs /NAME: the chart must run that binary.
				name := strings.TrimSuffix(image[strings.LastIndex(image, "/")+1:], ":"+testTag)
				cmd, _, _ := unstructured.NestedStringSlice(c, "command")
				if len(cmd) == 0 || cmd[0] != "/"+name {
					add("%s: container %s runs %q: the image %s has /%s alone", id(o), c["name"], cmd, image, name)
				}
				sc, _, _ := unstructured.NestedMap(c, "securityContext")
				if sc["runAsNonRoot"] != true || sc["privileged"] == true || sc["allowPrivilegeEscalation"] != false {
					add("%s: container %s: securityContext %v: want non-root, unprivileged", id(o), c["name"], sc)
				}
				if added, _, _ := unstructured.NestedSlice(sc, "capabilities", "add"); len(added) > 0 {
					add("%s: container %s adds capabilities %v", id(o), c["name"], added)
				}
				env, _, _ := unstructured.NestedSlice(c, "env")
				for _, e := range env {
					e := e.(map[string]any)
					switch e["name"] {
					case "SIDECAR_IMAGE": // the injector's: the daprd it injects
						checkImage(o, fmt.Sprint(e["value"]))
					case "SIDECAR_IMAGE_PULL_POLICY":
						if e["value"] != "Never" {
							add("%s: sidecars' imagePullPolicy %v: want Never", id(o), e["value"])
						}
					}
				}
			}
		}
	}
	if !mtls {
		add("no Configuration daprsystem with spec.mtls.enabled: want mTLS on")
	}
	for image := range want {
		if !named[image] {
			add("image %s: nothing runs it", image)
		}
	}
	slices.Sort(problems)
	return problems
}

// chartObjects returns what the API server test applies of the rendered
// chart: its namespace, created first, and every object but the CRDs,
// which startCluster installs from the same files.
func chartObjects(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(chart.Namespace)
	objs := []*unstructured.Unstructured{ns}
	for _, o := range renderChart(t, nil) {
		if o.GetKind() != "CustomResourceDefinition" {
			objs = append(objs, o)
		}
	}
	return objs
}
