package suite

import (
	"cmp"
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

	"github.com/daprshop/daprshop/tests/harness/proc"
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

// A load orders loadSKUs SKUs, each restocked with LoadStockEach, for
// loadCustomers customers.
const (
	loadSKUs      = 3
	loadCustomers = 10
)

// LoadAfterFault is how long the load goes on, at least, after its fault
// is over.
const LoadAfterFault = 5 * time.Second

// RetryFor bounds how long a load client retries one request: longer than
// any fault a suite injects lasts, so that every order gets its answer.
const RetryFor = 45 * time.Second

// LoadOptions say how long the load runs, and what its fault does to the
// checks.
type LoadOptions struct {
	// Duration is how long the load runs; with a fault, at least until
	// LoadAfterFault after it is over.
	Duration time.Duration
	// Fault, when set, is injected 3 s into the load and recorded as the
	// scenario's fault, named FaultName; it returns when the fault is over.
	Fault     func()
	FaultName string
	// RetryFor is how long a client retries one request (default
	// RetryFor): longer for a fault that takes away the only instance of
	// a service, whose callers wait for its replacement.
	RetryFor time.Duration
	// SubscribersDisconnected: the fault cuts NATS subscribers off, so
	// what they receive is not an invariant.
	SubscribersDisconnected bool
	// ExactlyOnce: the fault kills nothing between sending a notification
	// and recording it, so none may be sent twice.
	ExactlyOnce bool
	// LostEvents, when set, is the known Dapr issue by which the fault may
	// lose an event (acknowledged, never handled): the notifications
	// missing on NATS and unrecorded are reported as known, not failed.
	LostEvents string
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
	l := load{id: randomHex(4), retryFor: cmp.Or(opts.RetryFor, RetryFor)}
	for i := range loadSKUs {
		l.skus = append(l.skus, fmt.Sprintf("LOAD-%s-%d", l.id, i+1))
	}
	for _, sku := range l.skus {
		sys.Restock(t, sku, LoadStockEach)
	}
	notes := sys.CollectNotifications(t)

	sc.Phase(fmt.Sprintf("load: %d orders/s for %s", LoadRate, opts.Duration))
	sc.OpenLoop()
	stop := make(chan struct{})
	done := make(chan loadResult)
	go func() { done <- l.run(t, sys, stop) }()
	end := time.Now().Add(opts.Duration)
	if opts.Fault != nil {
		time.Sleep(3 * time.Second)
		endFault := sc.Fault(opts.FaultName)
		opts.Fault()
		endFault()
		// A fault that outlasts the load would be met only by the retries
		// of the orders placed before it: new orders meet what it left.
		if after := time.Now().Add(LoadAfterFault); after.After(end) {
			end = after
		}
	}
	time.Sleep(time.Until(end))
	close(stop)
	res := <-done
	sc.Phase("checking invariants")
	confirmed := res.confirmed
	t.Logf("load: %d confirmed, %d cancelled, %d rejected; %d needed retries, the longest answered after %s",
		len(confirmed), res.cancelled, res.rejected, res.retried, res.longestAnswer.Round(time.Millisecond))
	sc.Check("orders confirmed under load", len(confirmed) > 0, "some", fmt.Sprint(len(confirmed)))
	sc.Check("every order answered, retried with its Idempotency-Key", len(res.unanswered) == 0,
		fmt.Sprintf("an answer other than 5xx within %s", l.retryFor),
		fmt.Sprintf("%d unanswered: %v (%d orders needed retries, the longest answered after %s)",
			len(res.unanswered), FirstFew(res.unanswered), res.retried, res.longestAnswer.Round(time.Millisecond)))
	sc.Check("every answer one the API gives", len(res.unexpected) == 0,
		"201 placed or 409 out of stock; 200 cancelled", fmt.Sprintf("%d others: %v", len(res.unexpected), FirstFew(res.unexpected)))

	// Every order answered 201 can be read back; what the live ones hold
	// is what the stored orders say, whatever the client saw of a cancel.
	held := map[string]map[string]int{} // by SKU, by order id
	final := map[string]string{}        // each order's status, by order id
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
			final[id] = got.Status
		case s == http.StatusOK && got.Status == "cancelled":
			final[id] = got.Status
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

	// Every order's final status told, received by a subscriber. Core
	// NATS delivers at most once, and only to a connected subscriber: when
	// the fault cuts subscribers off (NATS itself stopped), what they miss
	// is shown, not judged. What they do receive of an order never goes
	// back in its life: a cancelled order is not "confirmed" last.
	missing, dups := notes.Await(final, 30*time.Second)
	excused := sc.KnownIssueFor(opts.LostEvents)
	if opts.SubscribersDisconnected {
		t.Logf("a NATS subscriber missed %d notifications while disconnected: %v", len(missing), FirstFew(missing))
	} else {
		sc.Check("every notification received on NATS", len(missing) == 0,
			fmt.Sprintf("%d notifications", len(final)), fmt.Sprintf("%d missing: %v", len(missing), FirstFew(missing)))
	}
	// And sent: the service records each one once NATS has accepted it.
	// Where an unsent one's event got to names the link that broke.
	unsent := Unrecorded(t, sys, final, 30*time.Second)
	sc.Check("every confirmed order notified (recorded as sent)", len(unsent) == 0,
		fmt.Sprintf("%d notifications", len(final)), fmt.Sprintf("%d unsent: %s", len(unsent), strings.Join(trails(t, sys, unsent), " | ")))
	excused()
	if !opts.SubscribersDisconnected {
		wrong := notes.OutOfOrder(final)
		sc.Check("what a customer is told of an order never goes back (NATS)", len(wrong) == 0,
			"each order's notifications in the order of its life, the last its final status", fmt.Sprintf("%d out of order: %v", len(wrong), FirstFew(wrong)))
	}
	wrong := HistoriesOutOfOrder(t, sys, l.customers(), final)
	sc.Check("what a customer is told of an order never goes back (history)", len(wrong) == 0,
		"each order's history in the order of its life, the newest its final status", fmt.Sprintf("%d out of order: %v", len(wrong), FirstFew(wrong)))

	// Without a fault none may come twice; with one, a repeat carries the
	// same Nats-Msg-Id for receivers to drop, and is shown.
	if opts.Fault == nil || opts.ExactlyOnce {
		sc.Check("no notification delivered twice", len(dups) == 0, "none", fmt.Sprint(dups))
	} else if len(dups) > 0 {
		t.Logf("repeated notifications (same Nats-Msg-Id, for receivers to drop): %v", FirstFew(dups))
	}
}

// Unrecorded waits up to timeout for the notification service to have
// recorded the notification of every order's final status (final, by
// order id), looking at its state in the state store, and returns the ids
// of the notifications still missing.
func Unrecorded(t *testing.T, sys *Shop, final map[string]string, timeout time.Duration) []string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	missing, _ := proc.Await(ctx, func(ctx context.Context) ([]string, bool) {
		var missing []string
		for id, status := range final {
			_, ok, err := sys.Store.State(ctx, "notification", "notification:"+id+"."+status)
			if err != nil && ctx.Err() == nil {
				t.Fatalf("state store: %v", err)
			}
			if !ok {
				missing = append(missing, id+"."+status)
			}
		}
		return missing, len(missing) == 0
	})
	return missing
}

// HistoriesOutOfOrder reads the history of customers, and of the orders in
// final (their final status, by order id) returns those whose history is
// not InOrder: it went back in their life, or lists something after their
// final status. A history is written just after its notification is
// recorded, so it is read again for up to 10 s while one is amiss.
func HistoriesOutOfOrder(t *testing.T, sys *Shop, customers []string, final map[string]string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wrong, _ := proc.Await(ctx, func(context.Context) ([]string, bool) {
		told := map[string][]string{} // by order id, oldest first
		for _, customer := range customers {
			for _, n := range sys.History(t, customer) {
				told[n.OrderID] = append([]string{n.Status}, told[n.OrderID]...)
			}
		}
		var wrong []string
		for _, id := range slices.Sorted(maps.Keys(final)) {
			if !InOrder(told[id], final[id]) {
				wrong = append(wrong, fmt.Sprintf("%s: %s, is %s", id, strings.Join(told[id], " then "), final[id]))
			}
		}
		return wrong, len(wrong) == 0
	})
	return wrong
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

// trails returns the EventTrail of each of the first few events, and how
// many more there are.
func trails(t testing.TB, sys *Shop, events []string) []string {
	few := make([]string, 0, firstFew+1)
	for _, id := range events[:min(len(events), firstFew)] {
		few = append(few, sys.EventTrail(t, id))
	}
	return append(few, FirstFew(events)[len(few):]...)
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
	// retryFor is how long a client retries one request.
	retryFor time.Duration
}

// customers returns the customers of the load's orders.
func (l load) customers() []string {
	all := make([]string, loadCustomers)
	for i := range all {
		all[i] = l.customer(i)
	}
	return all
}

// customer returns the customer of the load's order i.
func (l load) customer(i int) string {
	return fmt.Sprintf("c-load-%s-%d", l.id, i%loadCustomers)
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
	// longestAnswer is the longest an answered request took, its retries
	// included: how long the fault kept clients waiting.
	longestAnswer time.Duration
}

// UntilAnswered calls attempt until it answers with something other than a
// transport error or a 5xx, as a client of a public API should: with
// backoff, for at most RetryFor. It returns the last status and error, and
// how many attempts it took.
func UntilAnswered(attempt func() (int, error)) (status, attempts int, err error) {
	return UntilAnsweredWithin(RetryFor, attempt)
}

// UntilAnsweredWithin is UntilAnswered retrying for at most window.
func UntilAnsweredWithin(window time.Duration, attempt func() (int, error)) (status, attempts int, err error) {
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(window)
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

// run places orders at LoadRate until stop is closed, each from its own
// goroutine so that a slow answer never delays the next order, and cancels
// cancelShare percent of the confirmed ones. Every order carries an
// Idempotency-Key, and a failed attempt is retried with it.
func (l load) run(t *testing.T, sys *Shop, stop <-chan struct{}) loadResult {
	res := loadResult{confirmed: map[string]loadOrder{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / LoadRate)
	defer tick.Stop()
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
			start := time.Now()
			status, attempts, err := UntilAnsweredWithin(l.retryFor, func() (int, error) {
				s, got, err := sys.TryPlaceOrder(key, l.customer(i), o.sku, o.quantity)
				id = got
				return s, err
			})
			placing := time.Since(start)
			cancelStatus, cancelErr, cancelling := 0, error(nil), time.Duration(0)
			if err == nil && status == http.StatusCreated && rand.IntN(100) < cancelShare {
				var got Order
				start := time.Now()
				cancelStatus, _, cancelErr = UntilAnsweredWithin(l.retryFor, func() (int, error) {
					return sys.TryCall(http.MethodPost, sys.App(t, "order").URL+"/orders/"+id+"/cancel", "", &got)
				})
				cancelling = time.Since(start)
			}
			mu.Lock()
			defer mu.Unlock()
			if attempts > 1 {
				res.retried++
			}
			if err == nil && status < http.StatusInternalServerError {
				res.longestAnswer = max(res.longestAnswer, placing)
			}
			if cancelErr == nil && cancelStatus != 0 && cancelStatus < http.StatusInternalServerError {
				res.longestAnswer = max(res.longestAnswer, cancelling)
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
