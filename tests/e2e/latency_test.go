package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// Dapr's operations measured one at a time, so that the sidecars' own cost
// is what varies, not queueing: the numbers a release gate compares
// (Dapr's own fails a build that adds 2 ms to invocation's p90; its perf
// tests time state get, publish and subscribe as well). `make rc-check`
// runs these scenarios again, round after round on each side, and
// compares each one's latencies by a statistical test.
const (
	invocationWarmup = 200
	invocationCalls  = 2000
	blockWarmup      = 100
	blockCalls       = 1000
	// A delivery goes through the broker and notification's sidecar and
	// app to NATS: some 10 ms, so fewer of them.
	deliveryCalls = 300
	// deliveryTimeout bounds one delivery, which takes milliseconds.
	deliveryTimeout = 10 * time.Second
)

// The scenarios' names: rc-check runs them by their tests' names
// (LatencyTests) and reads them by these.
const (
	invocationScenario = "service invocation latency"
	stateSaveScenario  = "Dapr latency: state save"
	stateGetScenario   = "Dapr latency: state get"
	stateTxScenario    = "Dapr latency: state transaction"
	deliveryScenario   = "Dapr latency: publish to delivery"
)

// TestInvocationLatency reads an item from inventory through order's
// sidecar, as order does to reserve, one call after another.
func TestInvocationLatency(t *testing.T) {
	sc := run.Scenario(t, invocationScenario)
	sys := suite.Start(t, sc, system.Options{})
	sys.Restock(t, "PROBE-1", 1)
	url := sys.App(t, "order").DaprURL + "/v1.0/invoke/inventory/method/items/PROBE-1"
	oneAtATime(t, sc, "invocations", "every invocation answered with the item", invocationWarmup, invocationCalls, func(int) error {
		var item suite.Item
		status, err := sys.TryCall(http.MethodGet, url, "", &item)
		if err == nil && (status != http.StatusOK || item.SKU != "PROBE-1") {
			err = fmt.Errorf("%d %+v", status, item)
		}
		return err
	})
}

// TestBuildingBlockLatency times Dapr's state and pub/sub operations one
// at a time through order's sidecar, each a scenario of its own, on one
// system: a save, a get and a transaction on order's store, and an order
// event published and delivered (notification's sidecar hands it to the
// app, which tells the customer on NATS).
func TestBuildingBlockLatency(t *testing.T) {
	sys := suite.Start(t, nil, system.Options{})
	store := sys.App(t, "order").DaprURL + "/v1.0/state/orderstore"
	key := func(i int) string { return fmt.Sprintf("latency-probe-%d", i%10) }
	answered := func(want int) func(int, error) error {
		return func(status int, err error) error {
			if err == nil && status != want {
				err = fmt.Errorf("status %d, want %d", status, want)
			}
			return err
		}
	}
	noContent, ok := answered(http.StatusNoContent), answered(http.StatusOK)
	stateOps := []struct {
		scenario, what, check string
		op                    func(sys *suite.Shop, i int) error
	}{
		{stateSaveScenario, "state saves", "every save answered 204", func(sys *suite.Shop, i int) error {
			return noContent(sys.TryCall(http.MethodPost, store, fmt.Sprintf(`[{"key":%q,"value":{"n":%d}}]`, key(i), i), nil))
		}},
		{stateGetScenario, "state gets", "every get answered 200", func(sys *suite.Shop, i int) error {
			return ok(sys.TryCall(http.MethodGet, store+"/"+key(i), "", nil))
		}},
		{stateTxScenario, "state transactions", "every transaction answered 204", func(sys *suite.Shop, i int) error {
			body := fmt.Sprintf(`{"operations":[{"operation":"upsert","request":{"key":%q,"value":{"n":%d}}}]}`, key(i), i)
			return noContent(sys.TryCall(http.MethodPost, store+"/transaction", body, nil))
		}},
	}
	for _, s := range stateOps {
		t.Run(s.scenario, func(t *testing.T) {
			sc := run.Scenario(t, s.scenario)
			shop := sys.For(sc)
			oneAtATime(t, sc, s.what, s.check, blockWarmup, blockCalls, func(i int) error { return s.op(shop, i) })
			sc.Resources(suite.Resources(sys.Usage()))
		})
	}
	t.Run(deliveryScenario, func(t *testing.T) {
		sc := run.Scenario(t, deliveryScenario)
		const customer = "c-latency"
		notified := sys.Subscribe(t, customer)
		// The publish is part of what is timed, not a request of its own.
		unrecorded := sys.For(nil)
		oneAtATime(t, sc, "events published and delivered", "every event delivered to its customer", blockWarmup, deliveryCalls, func(i int) error {
			order := fmt.Sprintf("o-latency-%d", i)
			start := time.Now()
			err := publish(t, unrecorded, "orders", orderEvent(order, customer, "confirmed", 1))
			for err == nil {
				select {
				case msg := <-notified:
					if strings.Contains(string(msg.Data), `"`+order+`"`) { // not o-latency-10's for o-latency-1
						sc.Request(time.Since(start), false)
						return nil
					}
				case <-time.After(deliveryTimeout):
					err = fmt.Errorf("not delivered within %s", deliveryTimeout)
				}
			}
			sc.Request(time.Since(start), true)
			return err
		})
		sc.Resources(suite.Resources(sys.Usage()))
	})
}

// oneAtATime runs op warmup times, then calls times measured
// (MeasureOneAtATime), each call after the one before, and checks that
// every measured call succeeded; what names the calls.
func oneAtATime(t *testing.T, sc *report.ScenarioRecorder, what, check string, warmup, calls int, op func(i int) error) {
	t.Helper()
	for i := range warmup {
		if err := op(i); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	sc.MeasureOneAtATime()
	sc.Phase(fmt.Sprintf("%d %s, one at a time", calls, what))
	failed := map[string]int{}
	for i := range calls {
		if err := op(warmup + i); err != nil {
			failed[err.Error()]++
		}
	}
	sc.Check(check, len(failed) == 0, fmt.Sprintf("%d of %d", calls, calls), fmt.Sprintf("failures by answer: %v", failed))
}
