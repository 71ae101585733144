package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// Load settings; E2E_LOAD_DURATION makes the phase longer for a soak.
const (
	loadRate      = 20 // orders per second, at a constant arrival rate
	cancelShare   = 10 // percent of confirmed orders cancelled during the load
	loadStockEach = 150
)

var loadSKUs = []string{"LOAD-1", "LOAD-2", "LOAD-3"}

// TestSustainedLoad places orders at a constant arrival rate (so a slow
// system cannot slow the load down and hide its own latency), cancels some,
// and then checks the invariants that must hold whatever the interleaving:
// stock conserved and matching the confirmed orders, every confirmed order
// readable, and one notification per confirmed order.
func TestSustainedLoad(t *testing.T) {
	testLoad(t, "sustained mixed load", loadOptions{}, nil)
}

// TestFaultNotificationCrash kills the notification app with SIGKILL in the
// middle of the load and starts it again: events it was handling are
// redelivered, and no notification may be lost. A crash between sending and
// recording may send one twice, with the same Nats-Msg-Id, which the report
// shows.
func TestFaultNotificationCrash(t *testing.T) {
	testLoad(t, "fault: notification killed and restarted", loadOptions{}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		app := sys.App(t, "notification")
		crash(app.Proc)
		checkRecovers(sc, "notification ready again after restart", app.URL+"/readyz", http.StatusOK, app)
	})
}

// TestFaultInventorySidecarCrash kills inventory's daprd with SIGKILL under
// load and starts it again. Order's invocations fail or wait meanwhile (the
// resiliency policy retries them); stock must stay conserved and match the
// orders that were confirmed.
func TestFaultInventorySidecarCrash(t *testing.T) {
	testLoad(t, "fault: inventory sidecar killed and restarted", loadOptions{}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		app := sys.App(t, "inventory")
		crash(app.Daprd)
		checkRecovers(sc, "inventory sidecar healthy again after restart", app.DaprURL+"/v1.0/healthz", http.StatusNoContent, app)
	})
}

// TestFaultInventoryHangs freezes the inventory app for 3 s under load: a
// slow downstream. Invocations wait (within the resiliency policy's 5 s
// timeout) and the invariants must hold afterwards.
func TestFaultInventoryHangs(t *testing.T) {
	testLoad(t, "fault: inventory frozen for 3s", loadOptions{}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		app := sys.App(t, "inventory")
		if err := app.Proc.Pause(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		err := app.Proc.Resume()
		sc.Check("inventory resumed", err == nil, "SIGCONT delivered", fmt.Sprint(err))
	})
}

// TestFaultNATSOutage stops NATS for 3 s under load. Notifications cannot be
// sent meanwhile; their events are retried, and every one must be sent once
// NATS is back.
func TestFaultNATSOutage(t *testing.T) {
	testLoad(t, "fault: NATS stopped for 3s", loadOptions{subscribersDisconnected: true}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		sys.NATS.Proc.Stop()
		time.Sleep(3 * time.Second)
		sys.NATS.Proc.Restart()
		app := sys.App(t, "notification")
		checkRecovers(sc, "notification reconnected to NATS", app.URL+"/readyz", http.StatusOK, app)
	})
}

// TestFaultOrderCrash kills the order app with SIGKILL under load and starts
// it again. To make the crash land where it hurts, inventory is frozen for a
// second first: the orders in flight then all wait between asking for stock
// and storing the order, and inventory reserves their stock after order has
// died. The load's clients retry with their Idempotency-Key, which finishes
// each such order rather than placing another, so no stock stays held by an
// order that was never stored.
func TestFaultOrderCrash(t *testing.T) {
	testLoad(t, "fault: order app killed and restarted", loadOptions{}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		order, inventory := sys.App(t, "order"), sys.App(t, "inventory")
		if err := inventory.Proc.Pause(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		order.Proc.Kill()
		if err := inventory.Proc.Resume(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		order.Proc.Restart()
		checkRecovers(sc, "order ready again after restart", order.URL+"/readyz", http.StatusOK, order)
	})
}

// TestFaultRedisCrash kills Redis, the state store and the pub/sub broker
// both, with SIGKILL under load and starts it again from its append-only
// file. Writes fail meanwhile and are retried; nothing acknowledged may be
// lost, and every event must still be delivered once.
func TestFaultRedisCrash(t *testing.T) {
	testLoad(t, "fault: Redis killed and restarted", loadOptions{}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		crash(sys.Redis.Proc)
		inventory := sys.App(t, "inventory")
		checkRecovers(sc, "state readable through Dapr again", inventory.URL+"/items/"+loadSKUs[0], http.StatusOK, inventory)
	})
}

// crash kills p with SIGKILL, leaves it down for 2 s, and starts it again.
func crash(p *proc.Process) {
	p.Kill()
	time.Sleep(2 * time.Second)
	p.Restart()
}

// checkRecovers records as an invariant that url answers want within 60 s,
// and how long that took: the time to recover from a fault.
func checkRecovers(sc *report.ScenarioRecorder, invariant, url string, want int, app *system.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	err := system.WaitHTTP(ctx, url, want, app.Proc, app.Daprd)
	observed := fmt.Sprintf("recovered after %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		observed = err.Error()
	}
	sc.Check(invariant, err == nil, "within 60s", observed)
}

// testLoad runs the load for the scenario name, with fault (if any) injected
// 3 s in, then checks the load's invariants.
func testLoad(t *testing.T, name string, opts loadOptions, fault func(*testing.T, *suite.Shop, *report.ScenarioRecorder)) {
	sc := run.Scenario(t, name)
	sys := suite.Start(t, sc, opts.system)
	for _, sku := range loadSKUs {
		sys.Restock(t, sku, loadStockEach)
	}
	notes := sys.CollectNotifications(t)

	duration, err := knobs.E2ELoadDuration.Duration()
	if err != nil {
		t.Fatal(err)
	}

	sc.Phase(fmt.Sprintf("load: %d orders/s for %s", loadRate, duration))
	done := make(chan loadResult)
	go func() { done <- runLoad(t, sys, duration) }()
	if fault != nil {
		time.Sleep(3 * time.Second)
		endFault := sc.Fault(name)
		fault(t, sys, sc)
		endFault()
	}
	res := <-done
	sc.Phase("checking invariants")
	confirmed := res.confirmed
	t.Logf("load: %d confirmed, %d cancelled, %d rejected; %d needed retries", len(confirmed), res.cancelled, res.rejected, res.retried)
	sc.Check("orders confirmed under load", len(confirmed) > 0, "some", fmt.Sprint(len(confirmed)))
	sc.Check("every order answered, retried with its Idempotency-Key", len(res.unanswered) == 0,
		fmt.Sprintf("an answer other than 5xx within %s", retryFor),
		fmt.Sprintf("%d unanswered: %v (%d orders needed retries)", len(res.unanswered), firstFew(res.unanswered), res.retried))

	// Every order answered 201 can be read back; what the live ones hold
	// is what the stored orders say, whatever the client saw of a cancel.
	held := map[string]int{}
	var unreadable []string
	for id, o := range confirmed {
		var got suite.Order
		s := sys.Call(t, http.MethodGet, sys.App(t, "order").URL+"/orders/"+id, "", &got)
		switch {
		case s == http.StatusOK && got.Status == "confirmed":
			held[o.sku] += o.quantity
		case s == http.StatusOK && got.Status == "cancelled":
		default:
			unreadable = append(unreadable, fmt.Sprintf("%s: %d %s", id, s, got.Status))
		}
	}
	sc.Check("every confirmed order readable", len(unreadable) == 0, "all read back", fmt.Sprint(unreadable))

	// Stock: conserved, and reserved is exactly what live orders hold.
	var drift []string
	for _, sku := range loadSKUs {
		got := sys.StoredItem(t, sku)
		if got.Available+got.Reserved != loadStockEach || got.Reserved != held[sku] {
			drift = append(drift, fmt.Sprintf("%s: available %d reserved %d, live orders hold %d", sku, got.Available, got.Reserved, held[sku]))
		}
	}
	sc.Check("stock conserved and matching live orders", len(drift) == 0,
		fmt.Sprintf("available+reserved = %d and reserved = held by live orders, per SKU", loadStockEach), fmt.Sprint(drift))

	// One notification per confirmed order, received by a subscriber. Core
	// NATS delivers at most once, and only to a connected subscriber: when
	// the fault cuts subscribers off (NATS itself stopped), what they miss
	// is shown, not judged.
	missing, dups := notes.Await(slices.Collect(maps.Keys(confirmed)), 30*time.Second)
	if opts.subscribersDisconnected {
		t.Logf("a NATS subscriber missed %d notifications while disconnected: %v", len(missing), firstFew(missing))
	} else {
		sc.Check("every notification received on NATS", len(missing) == 0,
			fmt.Sprintf("%d notifications", len(confirmed)), fmt.Sprintf("%d missing: %v", len(missing), firstFew(missing)))
	}
	// And sent: the service records each one once NATS has accepted it.
	unsent := unrecorded(t, sys, confirmed, 10*time.Second)
	sc.Check("every confirmed order notified (recorded as sent)", len(unsent) == 0,
		fmt.Sprintf("%d notifications", len(confirmed)), fmt.Sprintf("%d unsent: %v", len(unsent), firstFew(unsent)))

	// Without a fault none may come twice; with one, a repeat carries the
	// same Nats-Msg-Id for receivers to drop, and is shown.
	if fault == nil || opts.exactlyOnce {
		sc.Check("no notification delivered twice", len(dups) == 0, "none", fmt.Sprint(dups))
	} else if len(dups) > 0 {
		t.Logf("repeated notifications (same Nats-Msg-Id, for receivers to drop): %v", firstFew(dups))
	}
}

// loadOptions say how the system runs for a fault, and what the fault does
// to the checks.
type loadOptions struct {
	system system.Options
	// subscribersDisconnected: the fault cuts NATS subscribers off, so
	// what they receive is not an invariant.
	subscribersDisconnected bool
	// exactlyOnce: the fault kills nothing between sending a
	// notification and recording it, so none may be sent twice.
	exactlyOnce bool
}

// unrecorded waits up to timeout for the notification service to have
// recorded the notification of every order, looking at its state in Redis,
// and returns the orders still without one.
func unrecorded(t *testing.T, sys *suite.Shop, orders map[string]loadOrder, timeout time.Duration) []string {
	rdb := sys.Redis.Client(t)
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for id := range orders {
			n, err := rdb.Exists(context.Background(), "notification||notification:"+id+".confirmed").Result()
			if err != nil {
				t.Errorf("redis EXISTS: %v", err)
				return nil
			}
			if n == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func firstFew(ids []string) []string {
	if len(ids) > 5 {
		return append(ids[:5:5], fmt.Sprintf("and %d more", len(ids)-5))
	}
	return ids
}

type loadOrder struct {
	sku      string
	quantity int
}

type loadResult struct {
	confirmed map[string]loadOrder // by order id
	cancelled int
	rejected  int
	// retried counts the orders whose first attempt failed; unanswered
	// names (by idempotency key) those that never got an answer.
	retried    int
	unanswered []string
}

// retryFor bounds how long a load client retries one request: longer than
// any fault the suite injects lasts, so that every order gets its answer.
const retryFor = 45 * time.Second

// untilAnswered calls attempt until it answers with something other than a
// transport error or a 5xx, as a client of a public API should: with
// backoff, for at most retryFor. It returns the last status and error, and
// how many attempts it took.
func untilAnswered(attempt func() (int, error)) (status, attempts int, err error) {
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(retryFor)
	for {
		attempts++
		status, err = attempt()
		if err == nil && status < http.StatusInternalServerError || time.Now().After(deadline) {
			return status, attempts, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// runLoad places orders at loadRate for duration, each from its own
// goroutine so that a slow answer never delays the next order, and cancels
// cancelShare percent of the confirmed ones. Every order carries an
// Idempotency-Key, and a failed attempt is retried with it.
func runLoad(t *testing.T, sys *suite.Shop, duration time.Duration) loadResult {
	res := loadResult{confirmed: map[string]loadOrder{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / loadRate)
	defer tick.Stop()
	stop := time.After(duration)
	for i := 0; ; i++ {
		select {
		case <-stop:
			wg.Wait()
			return res
		case <-tick.C:
		}
		wg.Go(func() {
			o := loadOrder{sku: loadSKUs[rand.IntN(len(loadSKUs))], quantity: 1 + rand.IntN(3)}
			key := fmt.Sprintf("load-%d", i)
			var id string
			status, attempts, err := untilAnswered(func() (int, error) {
				s, got, err := sys.TryPlaceOrder(key, fmt.Sprintf("c-load-%d", i%10), o.sku, o.quantity)
				id = got
				return s, err
			})
			cancelled := false
			if err == nil && status == http.StatusCreated && rand.IntN(100) < cancelShare {
				var got suite.Order
				s, _, err := untilAnswered(func() (int, error) {
					return sys.TryCall(http.MethodPost, sys.App(t, "order").URL+"/orders/"+id+"/cancel", "", &got)
				})
				cancelled = err == nil && s == http.StatusOK
			}
			mu.Lock()
			defer mu.Unlock()
			if attempts > 1 {
				res.retried++
			}
			switch {
			case err != nil || status >= http.StatusInternalServerError:
				res.unanswered = append(res.unanswered, fmt.Sprintf("%s (%d, %v)", key, status, err))
			case status == http.StatusCreated:
				res.confirmed[id] = o
				if cancelled {
					res.cancelled++
				}
			case status == http.StatusConflict:
				res.rejected++
			}
		})
	}
}
