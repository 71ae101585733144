package k8s

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/daprshop/daprshop/tools/k8s/image"
)

// intent is what every rendered overlay must say, learned from the rest of
// the repository rather than written down a second time.
type intent struct {
	// apps maps each app id of the self-hosted run file to its app port.
	apps map[string]int
	// stable holds the component types the pinned runtime certifies stable.
	stable map[string]bool
	// images maps each image this repository builds to the reference with
	// the tag and digest `make images` produced.
	images map[string]string
	// autoscaled: the overlay must give every service an HPA.
	autoscaled bool
}

func loadIntent(t testing.TB, target Target) intent {
	t.Helper()
	pinned, err := ReadPinned(outDir(t), target)
	if err != nil {
		t.Fatalf("%v (run `make images`)", err)
	}
	images := map[string]string{}
	for _, ref := range pinned {
		img, tag, err := image.Read(filepath.Join(outDir(t), "images", Service(ref)))
		if err != nil {
			t.Fatalf("image %s: %v (run `make images`)", ref.Name, err)
		}
		digest, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		repo := ref.Name
		if ref.NewName != "" {
			repo = ref.NewName
		}
		images[repo] = repo + ":" + tag + "@" + digest.String()
	}
	return intent{
		apps:       selfHostedApps(t),
		stable:     stableComponents(t),
		images:     images,
		autoscaled: target.Overlay == "production",
	}
}

// TestOverlaysSayWhatWeMean renders every overlay and checks what it
// intends: the self-hosted topology, stable components, pinned images,
// non-root pods, and the rest of what a production setup needs.
func TestOverlaysSayWhatWeMean(t *testing.T) {
	for _, r := range renderAll(t) {
		t.Run(r.target.Name(), func(t *testing.T) {
			for _, err := range checkIntent(r.objs, loadIntent(t, r.target)) {
				t.Error(err)
			}
		})
	}
}

// TestIntentChecksCatchMistakes breaks a rendered overlay in the ways the
// checks exist for, one at a time, and expects each to be caught.
// editContainer changes, in place, the first container of the Deployment
// name in objs.
func editContainer(objs []*unstructured.Unstructured, name string, edit func(c map[string]any)) {
	d := find(objs, "Deployment", name)
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := cs[0].(map[string]any)
	edit(c)
	cs[0] = c
	_ = unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers")
}

func TestIntentChecksCatchMistakes(t *testing.T) {
	r := renderAll(t)[0]
	want := loadIntent(t, r.target)
	if errs := checkIntent(r.objs, want); len(errs) != 0 {
		t.Fatalf("%s does not pass as rendered: %v", r.target.Name(), errs)
	}
	cases := []struct {
		name   string
		break_ func(objs []*unstructured.Unstructured)
		want   string
	}{
		{"image tagged latest", func(objs []*unstructured.Unstructured) {
			editContainer(objs, "order", func(c map[string]any) {
				c["image"] = "daprshop/order:latest"
			})
		}, "latest"},
		{"image not the one built", func(objs []*unstructured.Unstructured) {
			editContainer(objs, "inventory", func(c map[string]any) {
				ref, _, _ := strings.Cut(c["image"].(string), "@")
				c["image"] = ref // the tag alone, no digest
			})
		}, "not the digest built"},
		{"pod runs as root", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "notification")
			_ = unstructured.SetNestedField(d.Object, int64(0), "spec", "template", "spec", "securityContext", "runAsUser")
		}, "root"},
		{"app id unknown to self-hosted", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "order")
			_ = unstructured.SetNestedField(d.Object, "orders", "spec", "template", "metadata", "annotations", "dapr.io/app-id")
		}, "app id"},
		{"app port differs from self-hosted", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "inventory")
			_ = unstructured.SetNestedField(d.Object, "9999", "spec", "template", "metadata", "annotations", "dapr.io/app-port")
		}, "app-port"},
		{"component type not stable", func(objs []*unstructured.Unstructured) {
			c := find(objs, "Component", "pubsub")
			_ = unstructured.SetNestedField(c.Object, "pubsub.jetstream", "spec", "type")
		}, "not stable"},
		{"component password in plain text", func(objs []*unstructured.Unstructured) {
			c := find(objs, "Component", "statestore")
			md, _, _ := unstructured.NestedSlice(c.Object, "spec", "metadata")
			md[1] = map[string]any{"name": "redisPassword", "value": "hunter2"}
			_ = unstructured.SetNestedSlice(c.Object, md, "spec", "metadata")
		}, "secretKeyRef"},
		{"inventory open to every app", func(objs []*unstructured.Unstructured) {
			c := find(objs, "Configuration", "daprshop-inventory")
			_ = unstructured.SetNestedField(c.Object, "allow", "spec", "accessControl", "defaultAction")
		}, "defaultAction"},
		{"sidecar stops with its app", func(objs []*unstructured.Unstructured) {
			d := find(objs, "Deployment", "order")
			unstructured.RemoveNestedField(d.Object, "spec", "template", "metadata", "annotations", "dapr.io/block-shutdown-duration")
		}, "block-shutdown-duration"},
		{"app stops serving at once", func(objs []*unstructured.Unstructured) {
			editContainer(objs, "inventory", func(c map[string]any) {
				delete(c, "lifecycle")
			})
		}, "preStop"},
		{"invoked app stops serving before its callers look again", func(objs []*unstructured.Unstructured) {
			editContainer(objs, "inventory", func(c map[string]any) {
				_ = unstructured.SetNestedField(c, int64(30), "lifecycle", "preStop", "sleep", "seconds")
			})
		}, "callerAddressLifetime"},
		{"a metric series per path", func(objs []*unstructured.Unstructured) {
			c := find(objs, "Configuration", "daprshop-inventory")
			unstructured.RemoveNestedField(c.Object, "spec", "metric", "http")
		}, "increasedCardinality"},
		{"no readiness probe", func(objs []*unstructured.Unstructured) {
			editContainer(objs, "order", func(c map[string]any) {
				delete(c, "readinessProbe")
			})
		}, "readiness"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := deepCopyAll(r.objs)
			tc.break_(objs)
			errs := checkIntent(objs, want)
			if len(errs) == 0 {
				t.Fatalf("got no finding, want one about %q", tc.want)
			}
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Errorf("got %v, want a finding about %q", errs, tc.want)
			}
		})
	}
}

// checkIntent returns every way objs falls short of want.
func checkIntent(objs []*unstructured.Unstructured, want intent) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	configs := map[string]*unstructured.Unstructured{}
	for _, c := range byKind(objs, "Configuration") {
		configs[c.GetName()] = c
	}

	// Every workload's pods: non-root, locked down, with pinned images.
	seen := map[string]bool{}
	for _, o := range objs {
		var tmpl corev1.PodTemplateSpec
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := fromUnstructured(o, &d); err != nil {
				fail("%s: %v", id(o), err)
				continue
			}
			tmpl = d.Spec.Template
			errs = append(errs, checkDaprApp(o, d, want, configs, seen)...)
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err := fromUnstructured(o, &s); err != nil {
				fail("%s: %v", id(o), err)
				continue
			}
			tmpl = s.Spec.Template
		default:
			continue
		}
		errs = append(errs, checkPod(id(o), tmpl.Spec, want)...)
	}
	for app := range want.apps {
		if !seen[app] {
			fail("no Deployment runs app id %s of the self-hosted run file", app)
		}
	}

	// Each service survives a node drain, and scales where the overlay says.
	for _, d := range byKind(objs, "Deployment") {
		podLabels := labels.Set(nestedMap(d, "spec", "template", "metadata", "labels"))
		if !slices.ContainsFunc(byKind(objs, "PodDisruptionBudget"), func(o *unstructured.Unstructured) bool {
			var pdb policyv1.PodDisruptionBudget
			if fromUnstructured(o, &pdb) != nil || pdb.Spec.Selector == nil {
				return false
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			return err == nil && !sel.Empty() && sel.Matches(podLabels)
		}) {
			fail("%s: no PodDisruptionBudget selects its pods", id(d))
		}
		if want.autoscaled && !slices.ContainsFunc(byKind(objs, "HorizontalPodAutoscaler"), func(o *unstructured.Unstructured) bool {
			var h autoscalingv2.HorizontalPodAutoscaler
			return fromUnstructured(o, &h) == nil && h.Spec.ScaleTargetRef.Kind == "Deployment" &&
				h.Spec.ScaleTargetRef.Name == d.GetName() && h.Spec.MinReplicas != nil && *h.Spec.MinReplicas >= 2
		}) {
			fail("%s: no HorizontalPodAutoscaler with at least 2 replicas scales it", id(d))
		}
	}

	// Nothing reaches or leaves a pod unless a policy says so.
	if !slices.ContainsFunc(byKind(objs, "NetworkPolicy"), func(o *unstructured.Unstructured) bool {
		var np networkingv1.NetworkPolicy
		return fromUnstructured(o, &np) == nil && len(np.Spec.PodSelector.MatchLabels) == 0 &&
			len(np.Spec.PodSelector.MatchExpressions) == 0 && len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	}) {
		fail("no default-deny NetworkPolicy (every pod, ingress and egress, no rule)")
	}

	errs = append(errs, checkComponents(objs, want)...)
	errs = append(errs, checkConfigurations(objs, configs)...)
	for _, kind := range []string{"Resiliency", "Subscription"} {
		for _, o := range byKind(objs, kind) {
			errs = append(errs, checkScopes(o, want)...)
		}
	}
	return errs
}

// checkDaprApp checks a Deployment's Dapr sidecar settings against the
// self-hosted topology and what a production sidecar needs.
func checkDaprApp(o *unstructured.Unstructured, d appsv1.Deployment, want intent, configs map[string]*unstructured.Unstructured, seen map[string]bool) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(id(o)+": "+format, args...))
	}
	ann := d.Spec.Template.Annotations
	if ann["dapr.io/enabled"] != "true" {
		fail("no Dapr sidecar (dapr.io/enabled)")
		return errs
	}
	app := ann["dapr.io/app-id"]
	port, ok := want.apps[app]
	if !ok {
		fail("app id %q is not one of the self-hosted run file's", app)
		return errs
	}
	seen[app] = true
	if got := ann["dapr.io/app-port"]; got != strconv.Itoa(port) {
		fail("dapr.io/app-port %q, want %d as in the self-hosted run file", got, port)
	}
	for _, key := range []string{"dapr.io/log-as-json", "dapr.io/enable-metrics", "dapr.io/enable-app-health-check"} {
		if ann[key] != "true" {
			fail("%s: got %q, want \"true\"", key, ann[key])
		}
	}
	for _, key := range []string{"dapr.io/sidecar-cpu-request", "dapr.io/sidecar-memory-request",
		"dapr.io/sidecar-cpu-limit", "dapr.io/sidecar-memory-limit", "dapr.io/api-token-secret"} {
		if ann[key] == "" {
			fail("no %s", key)
		}
	}
	if configs[ann["dapr.io/config"]] == nil {
		fail("dapr.io/config %q names no Configuration of this overlay", ann["dapr.io/config"])
	}
	c := d.Spec.Template.Spec.Containers[0]
	errs = append(errs, checkShutdown(id(o), ann, d.Spec.Template.Spec, c, len(allowedCallers(configs[ann["dapr.io/config"]])) > 0)...)
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port }) {
		fail("container %s does not expose the app port %d", c.Name, port)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "APP_PORT" && e.Value == strconv.Itoa(port) }) {
		fail("container %s: APP_PORT is not %d", c.Name, port)
	}
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			fail("container %s: no %s probe on %s", c.Name, p.what, p.path)
		}
	}
	return errs
}

// checkShutdown checks that a terminating pod loses no request: the app
// keeps serving (preStop sleep) while the cluster stops routing to it, then
// drains for SHUTDOWN_TIMEOUT; its sidecar serves it all that time
// (block-shutdown-duration), then drains its own calls
// (graceful-shutdown-seconds); and the kubelet waits for all of it
// (terminationGracePeriodSeconds). An app that other apps invoke through
// Dapr (invoked) serves for at least callerAddressLifetime.
func checkShutdown(name string, ann map[string]string, spec corev1.PodSpec, app corev1.Container, invoked bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(name+": "+format, args...)) }
	var preStop time.Duration
	if h := app.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
		preStop = time.Duration(h.PreStop.Sleep.Seconds) * time.Second
	}
	if preStop <= 0 {
		fail("container %s: no preStop sleep: it stops serving while the cluster still routes to it", app.Name)
	}
	if invoked && preStop < callerAddressLifetime {
		fail("container %s: preStop sleep %s: its callers' sidecars may hold on to this pod's address for %s (callerAddressLifetime)",
			app.Name, preStop, callerAddressLifetime)
	}
	drain := 20 * time.Second // the apps' default SHUTDOWN_TIMEOUT (internal/config)
	for _, e := range app.Env {
		if e.Name != "SHUTDOWN_TIMEOUT" {
			continue
		}
		var err error
		if drain, err = time.ParseDuration(e.Value); err != nil {
			fail("container %s: SHUTDOWN_TIMEOUT: %v", app.Name, err)
		}
	}
	block, err := time.ParseDuration(ann["dapr.io/block-shutdown-duration"])
	if err != nil || block < preStop+drain {
		fail("dapr.io/block-shutdown-duration %q: the sidecar must serve its app through preStop and the drain (%s)",
			ann["dapr.io/block-shutdown-duration"], preStop+drain)
	}
	grace, err := strconv.Atoi(ann["dapr.io/graceful-shutdown-seconds"])
	if err != nil || spec.TerminationGracePeriodSeconds == nil ||
		block+time.Duration(grace)*time.Second > time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second {
		fail("dapr.io/graceful-shutdown-seconds %q: block-shutdown-duration and it must fit in terminationGracePeriodSeconds",
			ann["dapr.io/graceful-shutdown-seconds"])
	}
	return errs
}

// callerAddressLifetime is how long a caller's sidecar may go on calling a
// pod after it is told to stop. On Kubernetes, daprd finds another app by
// looking its headless Service (APP-dapr) up in the cluster's DNS and
// keeps the answer for 20 s (resolverCacheTTL in dapr's pkg/messaging);
// the Service forgets a terminating pod at once, but the cluster's DNS may
// give the old answer for its TTL, 30 s (CoreDNS's `ttl 30`, as kubeadm
// sets it). A pod that stops serving sooner leaves its callers failing
// until then, even with a replacement ready (make k8s-e2e measured 18 to
// 25 s of failed orders when inventory's pod was replaced, with 10 s).
const callerAddressLifetime = 50 * time.Second

// allowedCallers are the apps Configuration c lets invoke the app it is the
// Configuration of (none for a nil c).
func allowedCallers(c *unstructured.Unstructured) []string {
	if c == nil {
		return nil
	}
	policies, _, _ := unstructured.NestedSlice(c.Object, "spec", "accessControl", "policies")
	var allowed []string
	for _, p := range policies {
		m, _ := p.(map[string]any)
		if m["defaultAction"] == "allow" {
			allowed = append(allowed, fmt.Sprint(m["appId"]))
		}
	}
	return allowed
}

// checkPod checks a pod template: non-root, no privilege, read-only root
// file system, resources set, images pinned.
func checkPod(name string, spec corev1.PodSpec, want intent) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(name+": "+format, args...)) }
	psc := spec.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		fail("pod runs as root (runAsUser 0)")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			fail("container %s: no securityContext", c.Name)
			continue
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			fail("container %s may run as root (no runAsNonRoot)", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			fail("container %s runs as root (runAsUser 0)", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			fail("container %s is privileged", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("container %s allows privilege escalation", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("container %s: root file system not read-only", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			fail("container %s: capabilities not all dropped", c.Name)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				fail("container %s: no %s request", c.Name, res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				fail("container %s: no %s limit", c.Name, res)
			}
		}
		errs = append(errs, checkImage(name, c, want)...)
	}
	return errs
}

// checkImage: every image names a tag that is not "latest"; the images this
// repository builds name the tag and digest of the build.
func checkImage(name string, c corev1.Container, want intent) []error {
	ref, _, _ := strings.Cut(c.Image, "@")
	repo, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if tag == "" || tag == "latest" {
		return []error{fmt.Errorf("%s: container %s: image %q must name a tag other than latest", name, c.Name, c.Image)}
	}
	if built, ok := want.images[repo]; ok && c.Image != built {
		return []error{fmt.Errorf("%s: container %s: image %q is not the digest built (%s)", name, c.Name, c.Image, built)}
	}
	return nil
}

// checkComponents: stable types only, scoped to known apps, secrets from the
// Kubernetes secret store.
func checkComponents(objs []*unstructured.Unstructured, want intent) []error {
	var errs []error
	for _, c := range byKind(objs, "Component") {
		fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(id(c)+": "+format, args...)) }
		typ, _, _ := unstructured.NestedString(c.Object, "spec", "type")
		version, _, _ := unstructured.NestedString(c.Object, "spec", "version")
		if !want.stable[typ+"/"+version] {
			fail("type %s/%s is not stable in the pinned runtime's components-contrib", typ, version)
		}
		errs = append(errs, checkScopes(c, want)...)
		md, _, _ := unstructured.NestedSlice(c.Object, "spec", "metadata")
		usesSecrets := false
		for _, item := range md {
			m, _ := item.(map[string]any)
			name, _ := m["name"].(string)
			_, fromSecret := m["secretKeyRef"]
			usesSecrets = usesSecrets || fromSecret
			if _, ok := m["envRef"]; ok {
				fail("metadata %s: envRef; on a cluster, use secretKeyRef", name)
			}
			if secretLike(name) && !fromSecret {
				fail("metadata %s must come from a secretKeyRef", name)
			}
		}
		if store, _, _ := unstructured.NestedString(c.Object, "auth", "secretStore"); usesSecrets && store != "kubernetes" {
			fail("auth.secretStore %q, want kubernetes", store)
		}
	}
	return errs
}

// secretLike says whether a component metadata field holds a credential or
// an address that differs per environment.
func secretLike(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "host") ||
		strings.Contains(n, "token") || strings.Contains(n, "connectionstring")
}

// checkConfigurations: mTLS and tracing everywhere; no app may invoke
// another, except order, which may invoke inventory.
func checkConfigurations(objs []*unstructured.Unstructured, configs map[string]*unstructured.Unstructured) []error {
	var errs []error
	appConfig := map[string]string{}
	for _, d := range byKind(objs, "Deployment") {
		ann := nestedMap(d, "spec", "template", "metadata", "annotations")
		appConfig[ann["dapr.io/app-id"]] = ann["dapr.io/config"]
	}
	for name, c := range configs {
		fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(id(c)+": "+format, args...)) }
		if on, _, _ := unstructured.NestedBool(c.Object, "spec", "mtls", "enabled"); !on {
			fail("mTLS not enabled")
		}
		if ep, _, _ := unstructured.NestedString(c.Object, "spec", "tracing", "otel", "endpointAddress"); ep == "" {
			fail("no tracing endpoint")
		}
		// A metric series per request path is one per order id: a sidecar
		// whose memory grows with the orders (make soak).
		if more, found, _ := unstructured.NestedBool(c.Object, "spec", "metric", "http", "increasedCardinality"); !found || more {
			fail("metric.http.increasedCardinality not false: a metric series per request path")
		}
		if action, _, _ := unstructured.NestedString(c.Object, "spec", "accessControl", "defaultAction"); action != "deny" {
			fail("accessControl.defaultAction %q, want deny", action)
		}
		allowed := allowedCallers(c)
		wantAllowed := []string(nil)
		if name == appConfig["inventory"] {
			wantAllowed = []string{"order"}
		}
		if !slices.Equal(allowed, wantAllowed) {
			fail("apps allowed to invoke: got %v, want %v", allowed, wantAllowed)
		}
	}
	// An app's own spans go where its sidecar's do: the same collector.
	for _, d := range byKind(objs, "Deployment") {
		ann := nestedMap(d, "spec", "template", "metadata", "annotations")
		c, ok := configs[ann["dapr.io/config"]]
		if !ok {
			continue
		}
		ep, _, _ := unstructured.NestedString(c.Object, "spec", "tracing", "otel", "endpointAddress")
		if got, want := appEnv(d, ann["dapr.io/app-id"], "OTEL_EXPORTER_OTLP_ENDPOINT"), "http://"+ep; got != want {
			errs = append(errs, fmt.Errorf("%s: the app exports its spans to %q, its sidecar to %q", id(d), got, want))
		}
	}
	// The tokens: the sidecar requires one and presents the other, and the
	// app reads both from the same Secrets (the injector hands neither to
	// the app), or it refuses to start.
	for _, d := range byKind(objs, "Deployment") {
		ann := nestedMap(d, "spec", "template", "metadata", "annotations")
		for _, tok := range []struct{ annotation, env string }{
			{"dapr.io/api-token-secret", "DAPR_API_TOKEN"},
			{"dapr.io/app-token-secret", "APP_API_TOKEN"},
		} {
			secret := ann[tok.annotation]
			if secret == "" {
				errs = append(errs, fmt.Errorf("%s: no %s: the sidecar runs without that token", id(d), tok.annotation))
			} else if got := appEnvSecret(d, ann["dapr.io/app-id"], tok.env); got != secret {
				errs = append(errs, fmt.Errorf("%s: the app reads %s from Secret %q, its sidecar from %q", id(d), tok.env, got, secret))
			}
		}
	}
	if appConfig["inventory"] != "" && slices.ContainsFunc([]string{"order", "notification"}, func(app string) bool {
		return appConfig[app] == appConfig["inventory"]
	}) {
		errs = append(errs, fmt.Errorf("inventory shares its Configuration (and so its access control) with another app"))
	}
	return errs
}

// checkScopes: a Dapr resource is scoped to apps that exist.
func checkScopes(o *unstructured.Unstructured, want intent) []error {
	scopes, _, _ := unstructured.NestedStringSlice(o.Object, "scopes")
	if len(scopes) == 0 {
		return []error{fmt.Errorf("%s: not scoped to any app", id(o))}
	}
	var errs []error
	for _, s := range scopes {
		if _, ok := want.apps[s]; !ok {
			errs = append(errs, fmt.Errorf("%s: scoped to %q, which is no app id", id(o), s))
		}
	}
	return errs
}

// appEnv returns the value of variable name in the container called app of
// Deployment d ("" when unset).
func appEnv(d *unstructured.Unstructured, app, name string) string {
	s, _ := appEnvVar(d, app, name)["value"].(string)
	return s
}

// appEnvSecret returns the Secret whose key "token" variable name of the
// container app of Deployment d comes from ("" when it comes from none).
func appEnvSecret(d *unstructured.Unstructured, app, name string) string {
	ref, _, _ := unstructured.NestedStringMap(appEnvVar(d, app, name), "valueFrom", "secretKeyRef")
	if ref["key"] != "token" {
		return ""
	}
	return ref["name"]
}

// appEnvVar returns variable name of the container app of Deployment d, as
// the manifest has it (nil when unset).
func appEnvVar(d *unstructured.Unstructured, app, name string) map[string]any {
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		m, _ := c.(map[string]any)
		if m["name"] != app {
			continue
		}
		env, _, _ := unstructured.NestedSlice(m, "env")
		for _, e := range env {
			if v, _ := e.(map[string]any); v["name"] == name {
				return v
			}
		}
	}
	return nil
}

func fromUnstructured(o *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into)
}

func nestedMap(o *unstructured.Unstructured, fields ...string) map[string]string {
	m, _, _ := unstructured.NestedStringMap(o.Object, fields...)
	return m
}
