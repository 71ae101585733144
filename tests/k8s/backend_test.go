package k8s

import (
	"path/filepath"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
)

// The shop's state and events run on the backend profile BACKEND names:
// on Redis, the overlays' own, which the dev overlay runs in the
// namespace (and the production overlay finds outside, here the dev
// overlay's); or on one of deploy/k8s/backends, a kustomize Component
// added to the overlay, whose servers run outside the cluster as a managed
// database does, here on the node, reached through connection strings in
// Secrets the suite creates as the cluster's operators would
// (deploy/k8s/README.md). Outside the cluster, because that is where
// production keeps a database, and because Debian's PostgreSQL and
// RabbitMQ run there as they are, with no image to build.

// backendProfile is the profile BACKEND names, asked before the cluster
// starts.
func backendProfile(t *testing.T) system.Profile {
	t.Helper()
	p, err := system.SelectedProfile()
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != system.RedisProfile.Name && p.Name != system.PostgresRabbitMQProfile.Name {
		t.Fatalf("profile %s: deploy/k8s has no backend for it", p.Name)
	}
	return p
}

// onOverlaysBackend says whether c's shop runs on the overlays' own
// backend (Redis).
func (c *shopCluster) onOverlaysBackend() bool { return c.profile.Name == system.RedisProfile.Name }

// startBackends starts the servers of c's profile on the node, outside the
// cluster, and creates the Secrets its components read; none for Redis.
func startBackends(t *testing.T, c *shopCluster, root, logDir string) {
	t.Helper()
	if c.onOverlaysBackend() {
		return
	}
	pg := system.StartPostgresOn(t, logDir, "postgres", c.NodeIP())
	mq := system.StartRabbitMQOn(t, logDir, "rabbitmq", c.NodeIP())
	c.backends = &system.Servers{
		Store: pg, Broker: mq, BrokerProc: mq.Proc,
		Procs: []system.NamedProcess{{Name: "PostgreSQL", Proc: pg.Proc}, {Name: "RabbitMQ", Proc: mq.Proc}},
	}
	// deploy/k8s/README.md, step 5: the namespace, then the Secrets.
	c.Kubectl(t, "apply", "-f", filepath.Join(root, "deploy", "k8s", "base", "namespace.yaml"))
	applySecret(t, c, "daprshop-state-postgres", "connectionString="+pg.ConnString)
	applySecret(t, c, "daprshop-pubsub-rabbitmq", "connectionString="+mq.URL)
}

// pinnedOverlay is the kustomization make images wrote for overlay on c's
// profile: out/k8s/OVERLAY, or out/k8s/OVERLAY-PROFILE with the profile's
// Component (tools/k8s, Target).
func (c *shopCluster) pinnedOverlay(root, overlay string) string {
	name := overlay
	if !c.onOverlaysBackend() {
		name += "-" + c.profile.Name
	}
	return filepath.Join(root, "out", "k8s", name)
}

// workloads are what the dev overlay runs on c's profile, in the order
// they start (the backends first).
func (c *shopCluster) workloads() []string {
	backends := []string{"statefulset/nats"}
	if c.onOverlaysBackend() {
		backends = append([]string{"statefulset/redis"}, backends...)
	}
	return append(backends, shopApps...)
}

// storedWhere says where what the shop stored is kept, which outlives its
// pods.
func (c *shopCluster) storedWhere() string {
	if c.onOverlaysBackend() {
		return "Redis's append-only file on its persistent volume"
	}
	return "PostgreSQL, outside the cluster"
}

// applySecret creates (or replaces) Secret name in the shop's namespace,
// with the literals key=value, as an operator's kubectl create secret
// generic does.
func applySecret(t *testing.T, c *shopCluster, name string, literals ...string) {
	t.Helper()
	args := []string{"-n", shopNamespace, "create", "secret", "generic", name, "--dry-run=client", "-o", "yaml"}
	for _, l := range literals {
		args = append(args, "--from-literal="+l)
	}
	c.ApplyYAML(t, c.Kubectl(t, args...))
}
