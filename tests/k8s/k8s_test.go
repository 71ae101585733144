package k8s

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/tests/harness/cluster"
	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/otlp"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// Namespaces, as deploy/k8s and its README have them.
const (
	shopNamespace = "daprshop"
	daprNamespace = "dapr-system"
)

// shopApps are the services' Deployments.
var shopApps = []string{"deployment/inventory", "deployment/order", "deployment/notification"}

// shopPods selects the pods of shopCluster.workloads.
const shopPods = "app.kubernetes.io/name in (redis,nats,inventory,order,notification)"

// shopAppPods selects the pods of shopApps, each with its sidecar.
const shopAppPods = "app.kubernetes.io/name in (order,inventory,notification)"

// serviceTimeout bounds how long a Service may take to route to its
// pods once they are rolled out.
const serviceTimeout = 30 * time.Second

// rolloutTimeout bounds how long a workload may take to be ready after it
// is applied or restarted: image import is done, so this is the pods'
// start (a sidecar's included).
const rolloutTimeout = 3 * time.Minute

// TestKubernetes brings the cluster up once and runs every scenario on it,
// in order: each builds on what the one before left running, as a
// platform team's steps do.
func TestKubernetes(t *testing.T) {
	root := repo.Root(t)
	// With K8S_E2E_UPGRADE_FROM, the cluster starts on that release and is
	// upgraded to what is under test once the shop runs (asked before the
	// cluster starts: a wrong knob is one error, at once).
	underTest, from := daprReleases(t, root)
	faultsOn := faultOverlays(t)
	profile := backendProfile(t)
	first := underTest
	if from != nil {
		first = *from
	}
	// The cluster's persistent volumes, which outlive their pods (made
	// first, so removed after the cluster has stopped).
	volumes := t.TempDir()
	logDir := filepath.Join(run.Out(root), "logs")
	c := &shopCluster{profile: profile, Cluster: cluster.Start(t, cluster.Options{
		ImagesDir: filepath.Join(root, "out", "k8s-e2e", "images"),
		LogDir:    logDir,
	})}

	provideVolumes(t, c, volumes, schedulerVolumes...)
	if !t.Run("Dapr control plane", func(t *testing.T) { installDapr(t, c, first) }) {
		t.FailNow()
	}
	// The collector deploy/k8s sends traces to: the suite's own receiver,
	// on the node, behind the Service the Configuration names.
	backend := otlp.StartOn(t, c.NodeIP())
	provideCollector(t, c, backend)
	// The issuer the dev overlay's ConfigMap names: the suite's own, on
	// the node, behind that Service; it signs every token the suite's
	// clients present.
	c.issuer = authtest.StartAs(t, net.JoinHostPort(c.NodeIP(), "0"), devIssuerURL)
	provideIssuer(t, c)
	startBackends(t, c, root, logDir)
	if !t.Run("daprshop deployed", func(t *testing.T) { deployShop(t, c, root, devOverlay, volumes) }) {
		t.FailNow()
	}
	t.Run("happy path", func(t *testing.T) {
		sc := run.Scenario(t, "happy path on Kubernetes")
		suite.HappyPath(t, sc, shopOn(t, c, sc))
	})
	if from != nil {
		// Named without what is under test: both sides of a verdict run it.
		moveDaprUnderLoad(t, c, "upgraded under load from "+from.String()+" to what is under test", underTest)
	}
	// Who may do what holds on the cluster as on one machine: the same
	// attacks, through the Services, on the dev overlay's NATS.
	t.Run("hostile client", func(t *testing.T) {
		sc := run.Scenario(t, "hostile client on Kubernetes")
		suite.HostileClient(t, sc, shopOn(t, c, sc))
	})
	t.Run("hostile client: NATS", func(t *testing.T) {
		sc := run.Scenario(t, "hostile client: NATS, on Kubernetes")
		suite.HostileClientOnNATS(t, sc, shopOn(t, c, sc))
	})
	t.Run("traces", func(t *testing.T) {
		sc := run.Scenario(t, "traces complete on Kubernetes")
		shop := shopOn(t, c, sc)
		msgs := shop.Subscribe(t, "c-traced")
		orders := make([]suite.TracedOrder, 3)
		for i := range orders {
			orders[i] = shop.PlaceTracedOrder(t, "c-traced")
		}
		for range orders {
			suite.Receive(t, msgs)
		}
		suite.CheckTracesComplete(sc, backend, orders)
		if t.Failed() {
			suite.LogTraces(t, backend)
		}
	})
	t.Run("drain", func(t *testing.T) { drainNode(t, c) })
	if faultsOn[devOverlay] {
		faultsUnderLoad(t, c, faults(c), "", soleReplicas)
	}
	if !t.Run("production overlay", func(t *testing.T) { upgradeToProduction(t, c, root) }) {
		t.FailNow()
	}
	t.Run("happy path, production", func(t *testing.T) {
		sc := run.Scenario(t, "happy path on Kubernetes, production overlay")
		suite.HappyPath(t, sc, shopOn(t, c, sc))
	})
	// With two replicas of each, the same faults: a pod deleted, a
	// container killed, a rollout.
	if faultsOn[productionOverlay] {
		faultsUnderLoad(t, c, faults(c), ", production overlay", replicated)
	}
	if from != nil {
		moveDaprUnderLoad(t, c, "rolled back under load to "+from.String(), *from)
	}
}

// The overlays of deploy/k8s the suite deploys, the dev one first.
const (
	devOverlay        = "dev"
	productionOverlay = "production"
)

// faultOverlays are the overlays K8S_E2E_FAULT_OVERLAYS names (asked
// before the cluster starts, as every knob of the suite).
func faultOverlays(t *testing.T) map[string]bool {
	t.Helper()
	on := map[string]bool{}
	for _, o := range strings.Fields(knobs.K8SFaultOverlays.Value()) {
		if o != devOverlay && o != productionOverlay {
			t.Fatalf("%s=%q: want %s, %s or both", knobs.K8SFaultOverlays.Name, knobs.K8SFaultOverlays.Value(), devOverlay, productionOverlay)
		}
		on[o] = true
	}
	return on
}

// faultsUnderLoad runs the suite's load once per fault, its scenario named
// with suffix, on an overlay whose apps run replicas.
func faultsUnderLoad(t *testing.T, c *shopCluster, fs []fault, suffix string, replicas replication) {
	for _, f := range fs {
		name := f.name + suffix
		t.Run(name, func(t *testing.T) {
			sc := run.Scenario(t, name)
			duration, err := knobs.E2ELoadDuration.Duration()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			defer func() {
				if t.Failed() {
					logErrorsSince(t, c, start)
				}
			}()
			if !checkSidecarsIdle(t, c, sc, "before the load") {
				c.spinning = true
				t.FailNow()
			}
			suite.Load(t, sc, shopOn(t, c, sc), suite.LoadOptions{
				Duration:  duration,
				FaultName: name,
				Fault:     func() { f.inject(t, sc) },
				RetryFor:  f.retryFor(replicas),
			})
			if !checkSidecarsIdle(t, c, sc, "after the load") {
				c.spinning = true
			}
		})
		if c.spinning {
			// A sidecar that burns a core with no load, restarted or not,
			// starves the node: every scenario after it would fail, each
			// after its whole time, and the suite would run into its time
			// limit.
			t.Fatalf("stopped after %q: a sidecar spins with no load on it", name)
		}
	}
}

// installDapr installs Dapr's control plane as deploy/k8s/README.md tells a
// platform team to: release r's chart with deploy/k8s/dapr-values.yaml,
// rendered by make k8s-e2e (with the test cluster's images, no HA, the
// schedulers' claims on the suite's volumes), in dapr-system; and checks
// that each service runs r.
func installDapr(t *testing.T, c *shopCluster, r daprRelease) {
	sc := run.Scenario(t, "Dapr control plane installed from its Helm chart")
	c.Kubectl(t, "create", "namespace", daprNamespace)
	applyDapr(t, c, sc, r)
	mtls := c.Kubectl(t, "-n", daprNamespace, "get", "configuration", "daprsystem", "-o", "jsonpath={.spec.mtls.enabled}")
	sc.Check("mTLS on", mtls == "true", "daprsystem Configuration: spec.mtls.enabled true", mtls)
	ca := c.Kubectl(t, "-n", daprNamespace, "get", "secret", "dapr-trust-bundle", "-o", "jsonpath={.data.ca\\.crt}")
	sc.Check("sentry issued the trust bundle", ca != "", "dapr-trust-bundle holds ca.crt", fmt.Sprintf("%d bytes (base64)", len(ca)))
}

// controlPlaneRelease is the version, without its v, of the release whose
// control plane make k8s-e2e installs (K8S_E2E_DAPR_VERSION, else the
// pinned one).
func controlPlaneRelease(t *testing.T, root string) string {
	t.Helper()
	v, err := repo.DaprVersionOr(root, knobs.K8SDaprVersion.Value())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(v, "v")
}

// deployShop applies deploy/k8s's overlay with the images make images
// built (out/k8s/OVERLAY pins them), waits until every workload is rolled
// out, and checks what the injector made of each pod.
func deployShop(t *testing.T, c *shopCluster, root, overlay, volumes string) {
	sc := run.Scenario(t, "daprshop deployed from deploy/k8s ("+overlay+" overlay)")
	if c.onOverlaysBackend() {
		provideVolumes(t, c, volumes, redisVolume)
	}
	c.Kubectl(t, "apply", "-k", c.pinnedOverlay(root, overlay))
	checkRollout(t, c, sc, c.workloads())
}

// upgradeToProduction moves the running shop to the production overlay as
// deploy/k8s/README.md's steps 5 and 6 say: the Secrets an operator
// creates (new tokens; Redis and NATS are the ones the dev overlay runs,
// standing in for external ones; another profile's servers are outside
// already, their Secrets made), then the pinned production overlay applied
// over dev's. Every Deployment then runs two replicas, spread,
// under its PodDisruptionBudget and HorizontalPodAutoscaler.
func upgradeToProduction(t *testing.T, c *shopCluster, root string) {
	sc := run.Scenario(t, "daprshop moved to the production overlay")
	secrets := map[string][]string{
		"daprshop-nats":           {"url=nats://nats.daprshop.svc.cluster.local:4222"},
		"daprshop-dapr-api-token": {"token=" + rand.Text()},
		"daprshop-app-api-token":  {"token=" + rand.Text()},
	}
	if c.onOverlaysBackend() {
		password := secret(t, c, "daprshop-state-redis", "password")
		const redisHost = "redis.daprshop.svc.cluster.local:6379"
		secrets["daprshop-state-redis"] = []string{"host=" + redisHost, "password=" + password}
		secrets["daprshop-pubsub-redis"] = []string{"host=" + redisHost, "password=" + password}
	}
	for name, literals := range secrets {
		applySecret(t, c, name, literals...)
	}
	// notification's NATS credentials, from what notification nats-trust
	// made: the dev overlay's, which its NATS trusts.
	c.ApplyYAML(t, c.Kubectl(t, "-n", shopNamespace, "create", "secret", "generic", "daprshop-nats-trust", "--dry-run=client", "-o", "yaml",
		"--from-file="+filepath.Join(devNATSTrust(t), "notification")))
	c.ApplyYAML(t, c.Kubectl(t, "-n", shopNamespace, "create", "configmap", "daprshop-auth", "--dry-run=client", "-o", "yaml",
		"--from-literal=issuer="+c.issuer.URL, "--from-literal=audience="+authtest.Audience))
	c.Kubectl(t, "apply", "-k", c.pinnedOverlay(root, productionOverlay))
	checkRollout(t, c, sc, shopApps)

	for _, d := range shopApps {
		name := strings.TrimPrefix(d, "deployment/")
		get := func(kind, path string) string {
			return c.Kubectl(t, "-n", shopNamespace, "get", kind, name, "-o", "jsonpath={"+path+"}")
		}
		ready, allowed, min := get("deployment", ".status.readyReplicas"), get("pdb", ".status.disruptionsAllowed"), get("hpa", ".spec.minReplicas")
		sc.Check(name+": two replicas, one of which may be disrupted, autoscaled from two", ready == "2" && allowed == "1" && min == "2",
			"2 ready replicas, PodDisruptionBudget allowing 1, HorizontalPodAutoscaler minReplicas 2",
			fmt.Sprintf("%s ready, %s allowed, minReplicas %s", ready, allowed, min))
	}
	rate := c.Kubectl(t, "-n", shopNamespace, "get", "configuration", "daprshop", "-o", "jsonpath={.spec.tracing.samplingRate}")
	sc.Check("one trace in ten", rate == "0.1", "samplingRate 0.1", rate)
}

// checkRollout waits for every workload to roll out, then checks what the
// README's last step checks by hand, each app answering through its Service
// (kube-proxy routes to a pod once its endpoint is ready, a moment after
// the rollout), and what the injector made of every daprshop pod.
func checkRollout(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, workloads []string) {
	t.Helper()
	sc.Phase("waiting for the rollout")
	for _, w := range workloads {
		out, err := c.KubectlContext(context.Background(), "-n", shopNamespace, "rollout", "status", w, "--timeout", rolloutTimeout.String())
		sc.Check(w+" ready", err == nil, "rolled out within "+rolloutTimeout.String(), why(c, shopNamespace, w, out, err))
	}
	shop := shopOn(t, c, sc)
	for _, id := range []string{"order", "inventory", "notification"} {
		ctx, cancel := context.WithTimeout(context.Background(), serviceTimeout)
		start := time.Now()
		err := system.WaitHTTP(ctx, shop.App(t, id).URL+"/readyz", http.StatusOK)
		cancel()
		observed := "after " + time.Since(start).Round(time.Millisecond).String()
		if err != nil {
			observed += ": " + err.Error()
		}
		sc.Check(id+" answers through its Service", err == nil, "/readyz 200 within "+serviceTimeout.String(), observed)
	}
	// And the whole path, as a client sees it: an order confirmed, retried
	// as a client would while the sidecars find each other's new pods.
	var placed suite.Order
	start := time.Now()
	status, attempts, err := suite.UntilAnswered(func() (int, error) {
		return shop.TryCall(http.MethodPost, shop.App(t, "order").URL+"/orders", `{"customerId":"c-rollout","items":[{"sku":"SKU-1","quantity":1}]}`, &placed)
	})
	sc.Check("an order confirmed end to end", err == nil && status == http.StatusCreated && placed.Status == "confirmed",
		"201 with a confirmed order within "+suite.RetryFor.String(),
		fmt.Sprintf("%d %q after %d attempts in %s, %v", status, placed.Status, attempts, time.Since(start).Round(time.Millisecond), err))
	running := pods(t, c, shopPods)
	checkSidecars(t, c, sc, running)
	for _, p := range running {
		if p.Metadata.Annotations["dapr.io/enabled"] != "true" {
			continue
		}
		problems := sidecarProblems(p)
		sc.Check("sidecar of "+podName(p, running)+" as its annotations ask", len(problems) == 0,
			"daprd's flags, resources, security context and token as the pod's dapr.io annotations say",
			strings.Join(append([]string{p.Metadata.Name + ":"}, problems...), " "))
	}
}

// podName names p among pods by its app and its place among that app's
// pods ("order's pod 2"): what an invariant about it is called, the same
// in every run, where the pod's own name is new each time (and two runs'
// reports are compared by their invariants' names).
func podName(p pod, pods []pod) string {
	app := p.Metadata.Labels["app.kubernetes.io/name"]
	n := 0
	for _, q := range pods {
		if q.Metadata.Labels["app.kubernetes.io/name"] == app && q.Metadata.Name <= p.Metadata.Name {
			n++
		}
	}
	return fmt.Sprintf("%s's pod %d", app, n)
}

// secret returns key of the daprshop Secret name.
func secret(t *testing.T, c *shopCluster, name, key string) string {
	t.Helper()
	v, err := base64.StdEncoding.DecodeString(c.Kubectl(t, "-n", shopNamespace, "get", "secret", name, "-o", "jsonpath={.data."+key+"}"))
	if err != nil {
		t.Fatalf("secret %s: %v", name, err)
	}
	return string(v)
}

// provideCollector stands backend in for the OpenTelemetry collector the
// README's step 3 asks for: Service otel-collector in namespace
// observability, its endpoint the receiver's address on the node.
func provideCollector(t *testing.T, c *shopCluster, backend *otlp.Receiver) {
	t.Helper()
	provideOnNode(t, c, "observability", "otel-collector", "otlp-grpc", 4317, backend.Addr)
}

// provideOnNode puts what listens at addr (host:port on the node) behind
// Service name's port (named portName) in namespace, created here: a
// Service of the cluster's whose endpoint is a server of the suite's own.
func provideOnNode(t *testing.T, c *shopCluster, namespace, name, portName string, port int, addr string) {
	t.Helper()
	host, target, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Service
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  ports:
    - name: %[3]s
      port: %[4]d
      protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[2]s-on-the-node
  namespace: %[1]s
  labels:
    kubernetes.io/service-name: %[2]s
addressType: IPv4
ports:
  - name: %[3]s
    port: %[5]s
    protocol: TCP
endpoints:
  - addresses: [%[6]q]
`, namespace, name, portName, port, target, host))
}

// shopCluster is the cluster daprshop runs on, with the issuer whose
// tokens its apps accept.
type shopCluster struct {
	*cluster.Cluster
	issuer *authtest.Issuer
	// profile is the backend profile the shop runs on; backends are its
	// servers outside the cluster (nil on Redis, which the dev overlay
	// runs inside).
	profile  system.Profile
	backends *system.Servers
	// dapr is the Dapr release the cluster runs now.
	dapr daprRelease
	// spinning: checkSidecarsIdle found a sidecar burning CPU with no
	// load on it even once restarted, and the suite stops.
	spinning bool
}

// devIssuerURL is the issuer deploy/k8s/overlays/dev names (ConfigMap
// daprshop-auth).
const devIssuerURL = "http://issuer.identity.svc.cluster.local"

// provideIssuer puts c's issuer behind Service issuer in namespace
// identity, as the dev overlay expects a development identity provider.
func provideIssuer(t *testing.T, c *shopCluster) {
	t.Helper()
	provideOnNode(t, c, "identity", "issuer", "http", 80, c.issuer.Addr())
}

// claimVolume is a persistent volume bound to one claim of a
// StatefulSet, as a cluster's storage provisioner would give it (this one
// has none): a hostPath directory under the test's volumes, owned by the
// user the claim's pod runs as, which outlives the pod as a real volume
// does.
type claimVolume struct {
	namespace, claim string
	owner            int
	size             string
}

// The volumes of Redis (deploy/k8s/overlays/dev/redis.yaml) and of
// Dapr's three schedulers (their claims are tools/k8s/chart's
// SchedulerStorage, their user the chart's fsGroup).
var (
	redisVolume      = claimVolume{shopNamespace, "data-redis-0", 999, "1Gi"}
	schedulerVolumes = []claimVolume{
		{daprNamespace, "dapr-scheduler-data-dir-dapr-scheduler-server-0", 65532, "1Gi"},
		{daprNamespace, "dapr-scheduler-data-dir-dapr-scheduler-server-1", 65532, "1Gi"},
		{daprNamespace, "dapr-scheduler-data-dir-dapr-scheduler-server-2", 65532, "1Gi"},
	}
)

// provideVolumes makes each of vs, its directory under volumes.
func provideVolumes(t *testing.T, c *shopCluster, volumes string, vs ...claimVolume) {
	t.Helper()
	for _, v := range vs {
		dir := filepath.Join(volumes, v.namespace+"_"+v.claim)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, v.owner, v.owner); err != nil {
			t.Fatal(err)
		}
		c.ApplyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: %s
spec:
  capacity:
    storage: %s
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef:
    namespace: %s
    name: %s
  hostPath:
    path: %s
    type: Directory
`, v.claim, v.size, v.namespace, v.claim, dir))
	}
}

// shopOn returns daprshop on the cluster as its clients see it: the
// Services' cluster addresses (kube-proxy routes them on the node), and
// its backends, to look past the apps: Redis with the password of the
// overlay's Secret, or the servers outside the cluster.
func shopOn(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder) *suite.Shop {
	t.Helper()
	service := func(name string) string {
		return c.Kubectl(t, "-n", shopNamespace, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}")
	}
	var backends system.Servers
	if c.onOverlaysBackend() {
		redis := &system.Redis{Addr: service("redis") + ":6379", Password: secret(t, c, "daprshop-state-redis", "password")}
		backends = system.Servers{Redis: redis, PubSubRedis: redis, Store: redis, Broker: redis}
	} else {
		backends = *c.backends
	}
	sys := &system.System{
		Profile: c.profile,
		Servers: backends,
		NATS:    &system.NATS{URL: "nats://" + service("nats") + ":4222", Auth: system.LoadNATSAuth(t, devNATSTrust(t))},
		Issuer:  c.issuer,
		Apps:    map[string]*system.App{},
	}
	for _, id := range []string{"order", "inventory", "notification"} {
		sys.Apps[id] = &system.App{ID: id, URL: "http://" + service(id)}
	}
	return &suite.Shop{System: sys, Scenario: sc}
}

// devNATSTrust is the dev overlay's NATS keys, as notification nats-trust
// made them.
func devNATSTrust(t *testing.T) string {
	return filepath.Join(repo.Root(t), "deploy", "k8s", "overlays", devOverlay, "nats-trust")
}

// pods returns daprshop's pods that match selector and are not
// terminating: a pod that is (kept serving by its preStop sleep after a
// rollout, say) is on its way out, and no fault or check is about it.
func pods(t *testing.T, c *shopCluster, selector string) []pod {
	t.Helper()
	var list struct{ Items []pod }
	if err := json.Unmarshal([]byte(c.Kubectl(t, "-n", shopNamespace, "get", "pods", "-l", selector, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	live := slices.DeleteFunc(list.Items, func(p pod) bool { return p.Metadata.DeletionTimestamp != "" })
	if len(live) == 0 {
		t.Fatalf("no live pod in %s matches %s", shopNamespace, selector)
	}
	return live
}

// why says why workload (when not "") did not roll out: kubectl's answer,
// what the workload's conditions say (a pod its ReplicaSet may not
// create, say), and the namespace's latest warning events (a pod the
// admission refused, an image that is missing, a probe that fails).
func why(c *shopCluster, namespace, workload, out string, err error) string {
	if err == nil {
		return strings.TrimSpace(out)
	}
	ctx := context.Background()
	var conditions string
	if workload != "" {
		conditions, _ = c.KubectlContext(ctx, "-n", namespace, "get", workload,
			"-o", `jsonpath={range .status.conditions[*]}{.type}: {.message}; {end}`)
	}
	events, _ := c.KubectlContext(ctx, "-n", namespace, "get", "events", "--field-selector", "type=Warning",
		"--sort-by", ".lastTimestamp", "-o", "custom-columns=OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message", "--no-headers")
	lines := strings.Split(strings.TrimSpace(events), "\n")
	lines = lines[max(0, len(lines)-5):]
	return fmt.Sprintf("%v: %s; conditions: %s; latest warnings: %s", err, strings.TrimSpace(out), strings.TrimSpace(conditions), strings.Join(lines, " | "))
}

// A fault the Kubernetes way, injected under the suite's load.
type fault struct {
	name   string
	inject func(t *testing.T, sc *report.ScenarioRecorder)
	// takesAnInvokedPod: the fault deletes a pod of an app other apps
	// invoke, which with a sole replica leaves its callers none to call.
	takesAnInvokedPod bool
}

// replication says whether an overlay runs one pod of each app (dev) or
// more (production).
type replication bool

const (
	soleReplicas replication = false
	replicated   replication = true
)

// soleReplicaRetryFor is how long the load's clients retry when the only
// pod of an invoked app is deleted. Its callers' sidecars find it through
// the cluster's DNS (its headless Service, APP-dapr), which lists no pod
// from the deletion until the replacement is ready, and caches that "no
// such name" for 30 s (CoreDNS's TTL, as kubeadm sets it), even past the
// replacement's start; inventory's circuit breaker may then stay open for
// 15 s more. On CI's busy node orders failed for about a minute.
const soleReplicaRetryFor = 2 * time.Minute

// retryFor is how long the load's clients retry under f on an overlay
// with replicas: the suite's RetryFor, unless the fault leaves an invoked
// app without a pod.
func (f fault) retryFor(replicas replication) time.Duration {
	if f.takesAnInvokedPod && replicas == soleReplicas {
		return soleReplicaRetryFor
	}
	return suite.RetryFor
}

// faults are the ways a cluster takes a pod away under load: the load's
// clients retry with their Idempotency-Key, and every invariant of the
// load must hold (suite.Load). A fault is over when the pods it took away
// are gone, not when their successors are ready: a terminating pod serves
// on for a while (preStop), and the load must meet the moment it stops.
func faults(c *shopCluster) []fault {
	return []fault{
		{"fault: an inventory pod deleted (its Deployment brings it back)", func(t *testing.T, sc *report.ScenarioRecorder) {
			p := pods(t, c, "app.kubernetes.io/name=inventory")[0]
			c.Kubectl(t, "-n", shopNamespace, "delete", "pod", p.Metadata.Name, "--wait=false")
			c.recovers(sc, "deployment/inventory")
			c.gone(sc, "the deleted pod gone", []pod{p})
		}, true},
		{"fault: order's daprd container killed", func(t *testing.T, sc *report.ScenarioRecorder) {
			p := pods(t, c, "app.kubernetes.io/name=order")[0]
			killSidecar(t, c, sc, p, "SIGKILL", "order's daprd restarted by the kubelet")
		}, false},
		{"fault: kubectl rollout restart of every Deployment", func(t *testing.T, sc *report.ScenarioRecorder) {
			restartApps(t, c, sc)
		}, false},
		{"fault: another app's Configuration created, changed and deleted in the namespace", func(t *testing.T, sc *report.ScenarioRecorder) {
			changeAnotherAppsConfiguration(t, c, sc)
		}, false},
	}
}

// restartApps restarts every Deployment of the shop (kubectl rollout
// restart) and waits until each is available again and the pods it
// replaced are gone.
func restartApps(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder) {
	t.Helper()
	before := pods(t, c, shopAppPods)
	c.Kubectl(t, "-n", shopNamespace, "rollout", "restart", "deployment")
	for _, w := range shopApps {
		c.recovers(sc, w)
	}
	c.gone(sc, "the replaced pods gone", before)
}

// recovers checks that workload rolls out within rolloutTimeout.
func (c *shopCluster) recovers(sc *report.ScenarioRecorder, workload string) {
	start := time.Now()
	out, err := c.KubectlContext(context.Background(), "-n", shopNamespace, "rollout", "status", workload, "--timeout", rolloutTimeout.String())
	sc.Check(workload+" available again", err == nil, "rolled out within "+rolloutTimeout.String(),
		fmt.Sprintf("after %s: %s", time.Since(start).Round(time.Second), why(c, shopNamespace, workload, out, err)))
}

// gone checks, as invariant, that the pods taken terminate within
// rolloutTimeout.
func (c *shopCluster) gone(sc *report.ScenarioRecorder, invariant string, taken []pod) {
	start := time.Now()
	args := []string{"-n", shopNamespace, "wait", "--for=delete", "--timeout", rolloutTimeout.String()}
	for _, p := range taken {
		args = append(args, "pod/"+p.Metadata.Name)
	}
	out, err := c.KubectlContext(context.Background(), args...)
	sc.Check(invariant, err == nil, "terminated within "+rolloutTimeout.String(),
		fmt.Sprintf("after %s: %s", time.Since(start).Round(time.Second), why(c, shopNamespace, "", out, err)))
}

// drainNode drains daprshop's pods off the node as a platform team does
// before maintenance: each evicted through the eviction API, so that its
// PodDisruptionBudget has its say, and the node cordoned; then uncordoned.
// (Dapr's control plane stays: its scheduler's budget forbids evicting it
// from the only node, as it should, and a real cluster would move it to
// another node first.) What daprshop stored must survive (Redis's data is
// on its persistent volume, PostgreSQL outside the cluster), and the shop must take orders again once its
// pods are back.
func drainNode(t *testing.T, c *shopCluster) {
	sc := run.Scenario(t, "daprshop's pods drained off the node, then back")
	shop := shopOn(t, c, sc)
	shop.Restock(t, "DRAIN-1", 10)
	if status, _ := shop.PlaceOrder(t, "", "c-drain", "DRAIN-1", 3); status != http.StatusCreated {
		t.Fatalf("POST /orders before the drain: got %d, want 201", status)
	}
	before := shop.StoredItem(t, "DRAIN-1")

	sc.Phase("draining")
	out, err := c.KubectlContext(context.Background(), "drain", cluster.NodeName, "--pod-selector", shopPods,
		"--delete-emptydir-data", "--timeout", rolloutTimeout.String())
	sc.Check("drain evicts every daprshop pod, as their budgets allow", err == nil,
		"kubectl drain succeeds within "+rolloutTimeout.String(), why(c, shopNamespace, "", out, err))
	left := c.Kubectl(t, "-n", shopNamespace, "get", "pods", "-l", shopPods, "--field-selector", "spec.nodeName="+cluster.NodeName, "-o", "name")
	sc.Check("no daprshop pod left on the drained node", strings.TrimSpace(left) == "", "none", left)

	sc.Phase("uncordoned: the pods come back")
	c.Kubectl(t, "uncordon", cluster.NodeName)
	for _, w := range c.workloads() {
		out, err := c.KubectlContext(context.Background(), "-n", shopNamespace, "rollout", "status", w, "--timeout", rolloutTimeout.String())
		sc.Check(w+" back", err == nil, "rolled out within "+rolloutTimeout.String(), why(c, shopNamespace, w, out, err))
	}
	after := shop.StoredItem(t, "DRAIN-1")
	sc.Check("stored state survives its pod's eviction", reflect.DeepEqual(after, before),
		fmt.Sprintf("%+v (%s)", before, c.storedWhere()), fmt.Sprintf("%+v", after))
	var placed suite.Order
	status, attempts, err := suite.UntilAnswered(func() (int, error) {
		return shop.TryCall(http.MethodPost, shop.App(t, "order").URL+"/orders", `{"customerId":"c-drain","items":[{"sku":"DRAIN-1","quantity":1}]}`, &placed)
	})
	sc.Check("orders taken again", err == nil && status == http.StatusCreated && placed.Status == "confirmed",
		"201 with a confirmed order", fmt.Sprintf("%d %q after %d attempts, %v", status, placed.Status, attempts, err))
}

// killSidecar sends p's daprd signal through the node's container runtime
// and records, as invariant, that the kubelet restarted it and the pod is
// ready again.
func killSidecar(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, p pod, signal, invariant string) {
	t.Helper()
	restarts := restartCount(p, sidecarContainer)
	c.KillContainer(t, containerID(t, p, sidecarContainer), signal)
	waitFor(t, sc, invariant, func() bool {
		var now pod
		c.GetJSON(t, &now, "-n", shopNamespace, "pod", p.Metadata.Name)
		return restartCount(now, sidecarContainer) > restarts && ready(now)
	})
}

// containerID is the container runtime's id of p's container name.
func containerID(t *testing.T, p pod, name string) string {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			_, id, _ := strings.Cut(s.ContainerID, "://")
			return id
		}
	}
	t.Fatalf("pod %s has no running container %s", p.Metadata.Name, name)
	return ""
}

func restartCount(p pod, name string) int {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			return s.RestartCount
		}
	}
	return 0
}

// ready reports whether every container of p is ready.
func ready(p pod) bool {
	for _, s := range p.Status.ContainerStatuses {
		if !s.Ready {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) > 0
}

// waitFor records as an invariant that cond holds within rolloutTimeout,
// and how long it took.
func waitFor(t *testing.T, sc *report.ScenarioRecorder, invariant string, cond func() bool) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
	defer cancel()
	if _, err := proc.Await(ctx, func(context.Context) (struct{}, bool) { return struct{}{}, cond() }); err != nil {
		sc.Check(invariant, false, "within "+rolloutTimeout.String(), "not after "+rolloutTimeout.String())
		return
	}
	sc.Check(invariant, true, "within "+rolloutTimeout.String(), "after "+time.Since(start).Round(time.Second).String())
}
