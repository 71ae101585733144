package suite

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/report"
)

// The mixed load every platform's suite runs: orders at a constant arrival
// rate (so a slow system cannot slow the load down and hide its own
// latency), some of them cancelled.
const (
	LoadRate      = 20 // orders per second
	cancelShare   = 10 // percent of confirmed orders cancelled during the load
	LoadStockEach = 150
)

// loadSKUs is how many SKUs a load orders, each restocked with
// LoadStockEach.
const loadSKUs = 3

// RetryFor bounds how long a load client retries one request: longer than
// any fault a suite injects lasts, so that every order gets its answer.
const RetryFor = 45 * time.Second

// LoadOptions say how long the load runs, and what its fault does to the
// checks.
type LoadOptions struct {
	Duration time.Duration
	// Fault, when set, is injected 3 s into the load and recorded as the
	// scenario's fault, named FaultName.
	Fault     func()
	FaultName string
	// SubscribersDisconnected: the fault cuts NATS subscribers off, so
	// what they receive is not an invariant.
	SubscribersDisconnected bool
	// ExactlyOnce: the fault kills nothing between sending a notification
	// and recording it, so none may be sent twice.
	ExactlyOnce bool
}

// Load restocks SKUs of its own, runs the load on sys, and then checks, as
// invariants of sc, what must hold whatever the interleaving and whatever
// the fault: every order answered (retried with its Idempotency-Key),
// every confirmed order readable, stock conserved and matching the live
// orders, and one notification per confirmed order, received and recorded.
// Its SKUs, customers and keys are its own, so that one system can run
// several loads (a cluster's suite does).
func Load(t *testing.T, sc *report.ScenarioRecorder, sys *Shop, opts LoadOptions) {
	t.Helper()
	l := load{id: randomHex(4)}
	for i := range loadSKUs {
		l.skus = append(l.skus, fmt.Sprintf("LOAD-%s-%d", l.id, i+1))
	}
	for _, sku := range l.skus {
		sys.Restock(t, sku, LoadStockEach)
	}
	notes := sys.CollectNotifications(t)

	sc.Phase(fmt.Sprintf("load: %d orders/s for %s", LoadRate, opts.Duration))
	done := make(chan loadResult)
	go func() { done <- l.run(t, sys, opts.Duration) }()
	if opts.Fault != nil {
		time.Sleep(3 * time.Second)
		endFault := sc.Fault(opts.FaultName)
		opts.Fault()
		endFault()
	}
	res := <-done
	sc.Phase("checking invariants")
	confirmed := res.confirmed
	t.Logf("load: %d confirmed, %d cancelled, %d rejected; %d needed retries", len(confirmed), res.cancelled, res.rejected, res.retried)
	sc.Check("orders confirmed under load", len(confirmed) > 0, "some", fmt.Sprint(len(confirmed)))
	sc.Check("every order answered, retried with its Idempotency-Key", len(res.unanswered) == 0,
		fmt.Sprintf("an answer other than 5xx within %s", RetryFor),
		fmt.Sprintf("%d unanswered: %v (%d orders needed retries)", len(res.unanswered), FirstFew(res.unanswered), res.retried))
	sc.Check("every answer one the API gives", len(res.unexpected) == 0,
		"201 placed or 409 out of stock; 200 cancelled", fmt.Sprintf("%d others: %v", len(res.unexpected), FirstFew(res.unexpected)))

	// Every order answered 201 can be read back; what the live ones hold
	// is what the stored orders say, whatever the client saw of a cancel.
	held := map[string]map[string]int{} // by SKU, by order id
	var unreadable []string
	for id, o := range confirmed {
		var got Order
		s := sys.Call(t, http.MethodGet, sys.App(t, "order").URL+"/orders/"+id, "", &got)
		switch {
		case s == http.StatusOK && got.Status == "confirmed":
			if held[o.sku] == nil {
				held[o.sku] = map[string]int{}
			}
			held[o.sku][id] = o.quantity
		case s == http.StatusOK && got.Status == "cancelled":
		default:
			unreadable = append(unreadable, fmt.Sprintf("%s: %d %s", id, s, got.Status))
		}
	}
	sc.Check("every confirmed order readable", len(unreadable) == 0, "all read back", fmt.Sprint(unreadable))

	// Stock: conserved, and reserved is exactly what live orders hold; a
	// SKU that is not names the orders whose holds are amiss.
	var drift []string
	for _, sku := range l.skus {
		got := sys.StoredItem(t, sku)
		if live := sumValues(held[sku]); got.Available+got.Reserved+got.Fulfilled != LoadStockEach || got.Reserved+got.Fulfilled != live {
			drift = append(drift, fmt.Sprintf("%s: available %d reserved %d fulfilled %d, live orders hold %d (%s)",
				sku, got.Available, got.Reserved, got.Fulfilled, live, strings.Join(holdsAmiss(t, sys, got.Holds, held[sku]), ", ")))
		}
	}
	sc.Check("stock conserved and matching live orders", len(drift) == 0,
		fmt.Sprintf("available+reserved+fulfilled = %d and reserved+fulfilled = held by live orders, per SKU", LoadStockEach), fmt.Sprint(drift))

	// One notification per confirmed order, received by a subscriber. Core
	// NATS delivers at most once, and only to a connected subscriber: when
	// the fault cuts subscribers off (NATS itself stopped), what they miss
	// is shown, not judged.
	missing, dups := notes.Await(slices.Collect(maps.Keys(confirmed)), 30*time.Second)
	if opts.SubscribersDisconnected {
		t.Logf("a NATS subscriber missed %d notifications while disconnected: %v", len(missing), FirstFew(missing))
	} else {
		sc.Check("every notification received on NATS", len(missing) == 0,
			fmt.Sprintf("%d notifications", len(confirmed)), fmt.Sprintf("%d missing: %v", len(missing), FirstFew(missing)))
	}
	// And sent: the service records each one once NATS has accepted it.
	// Where an unsent one's event got to names the link that broke.
	unsent := unrecorded(t, sys, confirmed, 10*time.Second)
	sc.Check("every confirmed order notified (recorded as sent)", len(unsent) == 0,
		fmt.Sprintf("%d notifications", len(confirmed)), fmt.Sprintf("%d unsent: %s", len(unsent), strings.Join(trails(t, sys, unsent), " | ")))

	// Without a fault none may come twice; with one, a repeat carries the
	// same Nats-Msg-Id for receivers to drop, and is shown.
	if opts.Fault == nil || opts.ExactlyOnce {
		sc.Check("no notification delivered twice", len(dups) == 0, "none", fmt.Sprint(dups))
	} else if len(dups) > 0 {
		t.Logf("repeated notifications (same Nats-Msg-Id, for receivers to drop): %v", FirstFew(dups))
	}
}

// unrecorded waits up to timeout for the notification service to have
// recorded the notification of every order, looking at its state in the
// state store, and returns the orders still without one.
func unrecorded(t *testing.T, sys *Shop, orders map[string]loadOrder, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for id := range orders {
			_, ok, err := sys.Store.State(context.Background(), "notification", "notification:"+id+".confirmed")
			if err != nil {
				t.Errorf("state store: %v", err)
				return nil
			}
			if !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// holdsAmiss names the orders whose hold on a SKU (holds, as inventory
// stored them) differs from what the live orders hold (live), with the
// status each is stored with.
func holdsAmiss(t testing.TB, sys *Shop, holds, live map[string]int) []string {
	var amiss []string
	for _, id := range slices.Sorted(maps.Keys(mergeKeys(holds, live))) {
		if holds[id] == live[id] {
			continue
		}
		var o Order
		status := sys.Call(t, http.MethodGet, sys.App(t, "order").URL+"/orders/"+id, "", &o)
		amiss = append(amiss, fmt.Sprintf("order %s holds %d, live %d, stored: %d %s", id, holds[id], live[id], status, o.Status))
	}
	return amiss
}

func mergeKeys(a, b map[string]int) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

func sumValues(m map[string]int) int {
	sum := 0
	for _, v := range m {
		sum += v
	}
	return sum
}

// trails returns the EventTrail of the confirmation of each of the first
// few orders, and how many more there are.
func trails(t testing.TB, sys *Shop, orders []string) []string {
	few := make([]string, 0, firstFew+1)
	for _, id := range orders[:min(len(orders), firstFew)] {
		few = append(few, sys.EventTrail(t, id+".confirmed"))
	}
	return append(few, FirstFew(orders)[len(few):]...)
}

// firstFew is how many ids a report lists before it only counts.
const firstFew = 5

// FirstFew shortens a list of ids for a report: the first few, and how
// many more.
func FirstFew(ids []string) []string {
	if len(ids) > firstFew {
		return append(ids[:firstFew:firstFew], fmt.Sprintf("and %d more", len(ids)-firstFew))
	}
	return ids
}

// load is one run of the load: its id, in its keys and customers, and its
// SKUs.
type load struct {
	id   string
	skus []string
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
	// names (by idempotency key, or the order a cancel was for) the
	// requests that never got an answer, and unexpected those answered
	// other than a placed, refused or cancelled order.
	retried    int
	unanswered []string
	unexpected []string
}

// UntilAnswered calls attempt until it answers with something other than a
// transport error or a 5xx, as a client of a public API should: with
// backoff, for at most RetryFor. It returns the last status and error, and
// how many attempts it took.
func UntilAnswered(attempt func() (int, error)) (status, attempts int, err error) {
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(RetryFor)
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

// run places orders at LoadRate for duration, each from its own goroutine
// so that a slow answer never delays the next order, and cancels
// cancelShare percent of the confirmed ones. Every order carries an
// Idempotency-Key, and a failed attempt is retried with it.
func (l load) run(t *testing.T, sys *Shop, duration time.Duration) loadResult {
	res := loadResult{confirmed: map[string]loadOrder{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / LoadRate)
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
			o := loadOrder{sku: l.skus[rand.IntN(len(l.skus))], quantity: 1 + rand.IntN(3)}
			key := fmt.Sprintf("load-%s-%d", l.id, i)
			var id string
			status, attempts, err := UntilAnswered(func() (int, error) {
				s, got, err := sys.TryPlaceOrder(key, fmt.Sprintf("c-load-%s-%d", l.id, i%10), o.sku, o.quantity)
				id = got
				return s, err
			})
			cancelStatus, cancelErr := 0, error(nil)
			if err == nil && status == http.StatusCreated && rand.IntN(100) < cancelShare {
				var got Order
				cancelStatus, _, cancelErr = UntilAnswered(func() (int, error) {
					return sys.TryCall(http.MethodPost, sys.App(t, "order").URL+"/orders/"+id+"/cancel", "", &got)
				})
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
			case status == http.StatusConflict:
				res.rejected++
			default:
				res.unexpected = append(res.unexpected, fmt.Sprintf("%s: %d", key, status))
			}
			switch {
			case cancelStatus == 0 && cancelErr == nil:
			case cancelErr != nil || cancelStatus >= http.StatusInternalServerError:
				res.unanswered = append(res.unanswered, fmt.Sprintf("cancel of %s (%d, %v)", id, cancelStatus, cancelErr))
			case cancelStatus == http.StatusOK:
				res.cancelled++
			default:
				res.unexpected = append(res.unexpected, fmt.Sprintf("cancel of %s: %d", id, cancelStatus))
			}
		})
	}
}
