package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// startTries is how many times TestSidecarStartsAmidItsComponentsPorts
// starts a sidecar. The replay is a race by nature; here a daprd that binds
// its internal port after its components connected failed every start
// (6 of 6 on each of 1.16.5, 1.17.5 and 1.18.1).
const startTries = 6

// ephemeralRange is how many ports, the sidecar's internal gRPC port the
// lowest of them, outgoing connections take their own port from while the
// sidecar starts: room for the connections order's components open to one
// server, and few enough that they are likely to take the internal port.
const ephemeralRange = 4

// TestSidecarStartsAmidItsComponentsPorts starts order's sidecar (no app)
// with the kernel handing outgoing connections their local port from a
// small range that holds the sidecar's internal gRPC port, as any port can
// be in production (Kubernetes' 50002 is inside Linux's default range).
// A daprd must claim its port before its components connect: one that
// binds it later finds a component's connection on it and exits ("bind:
// address already in use"), as daprd did up to 1.18.1 (dapr/dapr#6023,
// fixed by #10149 in 1.18.2).
func TestSidecarStartsAmidItsComponentsPorts(t *testing.T) {
	sc := run.Scenario(t, "sidecar start: its internal port among the ephemeral ports")
	servers := system.StartServers(t)
	var failed []string
	for try := range startTries {
		internal := proc.FreePortRun(t, ephemeralRange)
		restore, err := netns.SetEphemeralPorts(internal, internal+ephemeralRange-1)
		if err != nil {
			t.Fatal(err)
		}
		// Also if the test stops midway: the scenarios after it need the
		// namespace's own range back.
		t.Cleanup(func() { _ = restore() })
		sidecar := system.StartDaprd(t, "order", servers, internal)
		ctx, cancel := context.WithTimeout(context.Background(), system.ReadyTimeout)
		err = system.WaitHTTP(ctx, sidecar.DaprURL+"/v1.0/healthz", http.StatusNoContent, sidecar.Daprd)
		cancel()
		if err := restore(); err != nil {
			t.Fatal(err)
		}
		stopErr := sidecar.Daprd.Shutdown()
		switch {
		case err != nil: // its exit is the finding, not its stop
			why := system.FatalMessage(sidecar.Daprd.Log())
			if why == "" {
				why, _, _ = strings.Cut(err.Error(), "\n") // the log's tail follows
			}
			failed = append(failed, fmt.Sprintf("start %d: %s", try+1, why))
		case stopErr != nil:
			t.Error(stopErr)
		}
	}
	sc.Check("the sidecar starts although its components' connections take ports beside its internal port (dapr/dapr#10149)",
		len(failed) == 0, fmt.Sprintf("%d of %d starts healthy", startTries, startTries),
		fmt.Sprintf("%d of %d failed: %s", len(failed), startTries, strings.Join(failed, "; ")))
}
