package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// TestNonStableComponentIsRefused shows that the daprd under test holds only
// the components Dapr certifies stable: given the project's resources plus a
// JetStream pub/sub (not stable), the sidecar refuses to start and says
// which component it could not load.
func TestNonStableComponentIsRefused(t *testing.T) {
	sc := run.Scenario(t, "stable components only")
	env := system.LoadEnv(t)
	logDir := env.LogDir(t)
	redis := system.StartRedis(t, logDir, "redis")

	resources := t.TempDir()
	copyDir(t, filepath.Join(env.Root, "components"), resources)
	jetstream := `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: events-jetstream
spec:
  type: pubsub.jetstream
  version: v1
  metadata:
    - name: natsURL
      value: nats://127.0.0.1:4222
`
	if err := os.WriteFile(filepath.Join(resources, "jetstream.yaml"), []byte(jetstream), 0o644); err != nil {
		t.Fatal(err)
	}

	sidecar := system.StartSidecar(t, env, env.App(t, "order"), system.Options{ResourcesPath: resources}, logDir,
		system.Backends{Components: system.RedisEnv(redis, redis), NATS: "nats://127.0.0.1:1"})

	select {
	case <-sidecar.Daprd.Exited():
	case <-time.After(60 * time.Second):
		sc.Check("daprd refuses a non-stable component", false, "exit within 60s", "still running")
		return
	}
	_ = sidecar.Daprd.Shutdown() // its exit is what is checked here, not a failure to report
	log := proc.Tail(sidecar.Daprd.Log(), 200)
	sc.Check("daprd refuses a non-stable component", sidecar.Daprd.Err() != nil && strings.Contains(log, "pubsub.jetstream"),
		"a failure exit, naming pubsub.jetstream", fmt.Sprintf("exit %v; log names it: %v", sidecar.Daprd.Err(), strings.Contains(log, "pubsub.jetstream")))
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
