package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// Service invocation latency, measured one call at a time so that the
// sidecars' own cost is what varies, not queueing: the numbers a release
// gate on invocation latency (Dapr's own fails a build that adds 2 ms at
// p90) compares.
const (
	invocationWarmup = 200
	invocationCalls  = 2000
)

// TestInvocationLatency reads an item from inventory through order's
// sidecar, as order does to reserve, invocationCalls times in a row, and
// keeps every call's latency in the report: `make rc-check` compares the
// candidate's with the baseline's, run after run, by a statistical test.
func TestInvocationLatency(t *testing.T) {
	sc := run.Scenario(t, invocationScenario)
	sys := suite.Start(t, sc, system.Options{})
	sys.Restock(t, "PROBE-1", 1)
	url := sys.App(t, "order").DaprURL + "/v1.0/invoke/inventory/method/items/PROBE-1"
	for range invocationWarmup {
		if _, err := sys.TryCall(http.MethodGet, url, "", nil); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	sc.KeepSamples()
	sc.Phase(fmt.Sprintf("%d invocations, one at a time", invocationCalls))
	failed := map[string]int{}
	for range invocationCalls {
		var item suite.Item
		status, err := sys.TryCall(http.MethodGet, url, "", &item)
		switch {
		case err != nil:
			failed[err.Error()]++
		case status != http.StatusOK || item.SKU != "PROBE-1":
			failed[fmt.Sprintf("%d %+v", status, item)]++
		}
	}
	sc.Check("every invocation answered with the item", len(failed) == 0,
		fmt.Sprintf("%d × 200 with PROBE-1", invocationCalls), fmt.Sprintf("failures by answer: %v", failed))
}

// invocationScenario names the scenario TestInvocationLatency records.
const invocationScenario = "service invocation latency"
