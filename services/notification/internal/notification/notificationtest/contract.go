package notificationtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/contracttest"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// concurrency is how many goroutines race in the concurrent subtests.
const concurrency = contracttest.Writers

// TestStore checks that the notification.Store made by newStore does what
// the interface promises and the Service relies on. newStore is called once
// per subtest; the stores it returns may share their data (a real state
// store), so every subtest uses ids of its own. A claim is a lease, but the
// suite never waits for one to run out: how a real store expires its claims
// is for that store's own tests.
func TestStore(t *testing.T, newStore func(t *testing.T) notification.Store) {
	t.Run("unknown id is not delivered", func(t *testing.T) {
		s := newStore(t)
		id := newID("e")
		checkDelivered(t, s, "o-"+id, id, 1, notification.Claimed, false)
	})

	t.Run("told is delivered", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		n := newNotification(newID("c"))
		mustDo(t, "Told", s.Told(ctx, n, 1))
		checkDelivered(t, s, n.OrderID, n.ID, 1, notification.Superseded, true)
	})

	t.Run("recording again changes nothing", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		first := newNotification(newID("c"))
		second := first
		second.Message = "a second copy"
		mustDo(t, "Told", s.Told(ctx, first, 1))
		// A redelivery that sent again records again: not an error.
		mustDo(t, "Told of the same id again", s.Told(ctx, second, 1))
		checkHistory(t, s, first.CustomerID, first)
	})

	t.Run("first claimer wins until unclaim", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		order, e1, e2 := newID("o"), newID("e"), newID("e")
		checkClaim(t, s, order, e1, 1, notification.Claimed)
		// Another delivery of the same event, or of another of the order.
		checkClaim(t, s, order, e1, 1, notification.Busy)
		checkClaim(t, s, order, e2, 2, notification.Busy)
		// Ending a lease another delivery holds ends nothing.
		mustDo(t, "Unclaim by another event", s.Unclaim(ctx, order, e2))
		checkClaim(t, s, order, e2, 2, notification.Busy)
		mustDo(t, "Unclaim", s.Unclaim(ctx, order, e1))
		checkClaim(t, s, order, e2, 2, notification.Claimed)
	})

	t.Run("told ends the lease, and what came before it", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		second := newNotification(newID("c"))
		checkClaim(t, s, second.OrderID, second.ID, 2, notification.Claimed)
		mustDo(t, "Told", s.Told(ctx, second, 2))
		// The customer heard of version 2: version 1 comes too late, and
		// version 2 was told.
		checkClaim(t, s, second.OrderID, newID("e"), 1, notification.Superseded)
		checkClaim(t, s, second.OrderID, second.ID, 2, notification.Superseded)
		checkClaim(t, s, second.OrderID, newID("e"), 3, notification.Claimed)
	})

	t.Run("told while another delivery holds the lease leaves it held", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		customer := newID("c")
		earlier, first, second := newNotification(customer), newNotification(customer), newNotification(customer)
		second.OrderID = first.OrderID
		// The customer's history has a head, and the order a lease: Told
		// of first can write all it does at once.
		mustDo(t, "Told", s.Told(ctx, earlier, 1))
		checkClaim(t, s, first.OrderID, second.ID, 2, notification.Claimed)
		mustDo(t, "Told of another event", s.Told(ctx, first, 1))
		checkClaim(t, s, first.OrderID, newID("e"), 3, notification.Busy)
		checkHistory(t, s, customer, earlier, first)
	})

	t.Run("told never goes back", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		customer := newID("c")
		first, second := newNotification(customer), newNotification(customer)
		second.OrderID = first.OrderID
		mustDo(t, "Told of version 2", s.Told(ctx, second, 2))
		// A redelivery of an earlier event, found delivered, tells again.
		mustDo(t, "Told of version 1", s.Told(ctx, first, 1))
		checkClaim(t, s, first.OrderID, second.ID, 2, notification.Superseded)
	})

	t.Run("orders are claimed apart", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		a, b := newNotification(newID("c")), newNotification(newID("c"))
		checkClaim(t, s, a.OrderID, a.ID, 1, notification.Claimed)
		checkClaim(t, s, b.OrderID, b.ID, 1, notification.Claimed)
		mustDo(t, "Told", s.Told(ctx, a, 1))
		checkClaim(t, s, b.OrderID, newID("e"), 2, notification.Busy)
	})

	t.Run("a claim is not a delivery", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		id := newID("e")
		checkClaim(t, s, "o-"+id, id, 1, notification.Claimed)
		mustDo(t, "Unclaim", s.Unclaim(ctx, "o-"+id, id))
		checkDelivered(t, s, "o-"+id, id, 1, notification.Claimed, false)
	})

	t.Run("concurrent claims have one winner", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		order := newID("o")
		var wins atomic.Int32
		var n atomic.Int32
		race(t, concurrency, func() error {
			// Deliveries of one event and of others of the order.
			got, _, err := s.Claim(ctx, order, fmt.Sprint("e-", n.Add(1)%3), 1+int(n.Load()%3))
			if got == notification.Claimed {
				wins.Add(1)
			}
			return err
		})
		if got := wins.Load(); got != 1 {
			t.Errorf("%d concurrent Claims of one order: got %d winners, want 1", concurrency, got)
		}
	})

	t.Run("history of an unknown customer is empty", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		got, older, err := s.History(ctx, newID("c"), -1, 10)
		if err != nil || len(got) != 0 || older != 0 {
			t.Fatalf("History of an unknown customer: got %v, older %d, %v; want none, 0, nil", got, older, err)
		}
		// Empty, not nil: GET /notifications answers it as the JSON
		// list [], not null.
		if got == nil {
			t.Errorf("History of an unknown customer: got nil, want an empty slice")
		}
	})

	t.Run("history in the order added", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		customer := newID("c")
		// Ids out of lexical order: an implementation that sorts, or
		// iterates a map, shows up.
		want := []notification.Notification{
			newNotification(customer), newNotification(customer), newNotification(customer),
		}
		want[0].ID, want[1].ID, want[2].ID = "z-"+want[0].ID, "a-"+want[1].ID, "m-"+want[2].ID
		for _, n := range want {
			mustDo(t, "Told", s.Told(ctx, n, 1))
		}
		checkHistory(t, s, customer, want...)
	})

	t.Run("histories are per customer", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		a, b := newNotification(newID("c")), newNotification(newID("c"))
		for _, n := range []notification.Notification{a, b} {
			mustDo(t, "Told", s.Told(ctx, n, 1))
		}
		checkHistory(t, s, a.CustomerID, a)
		checkHistory(t, s, b.CustomerID, b)
	})

	t.Run("telling again changes nothing", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		customer := newID("c")
		first, second := newNotification(customer), newNotification(customer)
		// A redelivery of the first event tells it again, after the second.
		for _, n := range []notification.Notification{first, second, first} {
			mustDo(t, "Told", s.Told(ctx, n, 1))
		}
		checkHistory(t, s, customer, first, second)
	})

	t.Run("a long history pages newest first", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		customer := newID("c")
		// More than two of the largest pages a client may ask for, so that
		// a store keeping its history in pages of that size crosses two
		// of their boundaries.
		want := make([]notification.Notification, 2*notification.MaxHistoryPage+5)
		for i := range want {
			want[i] = newNotification(customer)
			mustDo(t, "Told", s.Told(ctx, want[i], 1))
		}
		// A redelivery of a recent one is not listed again.
		mustDo(t, "Told again", s.Told(ctx, want[len(want)-3], 1))
		checkHistory(t, s, customer, want...)
		if got := historyOf(t, s, customer, notification.MaxHistoryPage); !slices.EqualFunc(got, want, sameNotification) {
			t.Errorf("History by pages of %d: got %v, want %v", notification.MaxHistoryPage, notificationIDs(got), notificationIDs(want))
		}
		// A position past the end is the end.
		page, older, err := s.History(ctx, customer, len(want)+50, 3)
		if err != nil || len(page) != 3 || page[0].ID != want[len(want)-1].ID || older != len(want)-3 {
			t.Errorf("History before %d, 3: got %v, older %d, %v; want the newest 3, older %d",
				len(want)+50, notificationIDs(page), older, err, len(want)-3)
		}
	})

	t.Run("concurrent additions to one history lose nothing", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		customer := newID("c")
		want := make(map[string]bool, concurrency)
		var mu sync.Mutex
		race(t, concurrency, func() error {
			n := newNotification(customer)
			mu.Lock()
			want[n.ID] = true
			mu.Unlock()
			return s.Told(ctx, n, 1)
		})
		got := historyOf(t, s, customer, 7)
		for _, n := range got {
			delete(want, n.ID)
		}
		if len(got) != concurrency || len(want) != 0 {
			t.Errorf("History after %d concurrent Tolds: got %d entries, missing %v; want all %d",
				concurrency, len(got), slices.Sorted(maps.Keys(want)), concurrency)
		}
	})
}

// TestDeadLetters checks that the notification.DeadLetters made by
// newDeadLetters does what the interface promises: Add is idempotent per id,
// List returns the most recent limit dead letters (0: no bound), oldest
// first, Get finds what is listed and nothing else, Remove forgets. newDeadLetters is called once per subtest; the dead letters it
// returns may share one list, so the subtests look only at ids of their
// own, and must not run in parallel (the bound subtest needs the newest
// entries to be its own).
func TestDeadLetters(t *testing.T, newDeadLetters func(t *testing.T) notification.DeadLetters, limit int) {
	t.Run("listed oldest first", func(t *testing.T) {
		d, ctx := newDeadLetters(t), contracttest.Context(t)
		want := []notification.DeadLetter{newDeadLetter(), newDeadLetter(), newDeadLetter()}
		want[0].ID, want[1].ID, want[2].ID = "z-"+want[0].ID, "a-"+want[1].ID, "m-"+want[2].ID
		for _, dl := range want {
			mustDo(t, "Add", d.Add(ctx, dl))
		}
		checkDeadLetters(t, d, want, want...)
	})

	t.Run("adding again changes nothing", func(t *testing.T) {
		d, ctx := newDeadLetters(t), contracttest.Context(t)
		first, other := newDeadLetter(), newDeadLetter()
		again := first
		again.Data = []byte(`{"copy":2}`)
		for _, dl := range []notification.DeadLetter{first, other, again} {
			mustDo(t, "Add", d.Add(ctx, dl))
		}
		checkDeadLetters(t, d, []notification.DeadLetter{first, other, again}, first, other)
	})

	t.Run("got as added, until removed", func(t *testing.T) {
		d, ctx := newDeadLetters(t), contracttest.Context(t)
		kept, other := newDeadLetter(), newDeadLetter()
		mustDo(t, "Add", d.Add(ctx, kept))
		mustDo(t, "Add", d.Add(ctx, other))
		got, found, err := d.Get(ctx, kept.ID)
		if err != nil || !found || deadLetterSummary([]notification.DeadLetter{got})[0] != deadLetterSummary([]notification.DeadLetter{kept})[0] {
			t.Fatalf("Get(%s): got %+v, %t, %v; want it as added", kept.ID, got, found, err)
		}
		for range 2 { // removing again changes nothing
			mustDo(t, "Remove", d.Remove(ctx, kept.ID))
		}
		if _, found, err := d.Get(ctx, kept.ID); err != nil || found {
			t.Errorf("Get(%s) after Remove: got found %t, %v; want not found", kept.ID, found, err)
		}
		checkDeadLetters(t, d, []notification.DeadLetter{kept, other}, other)
	})

	t.Run("never added is not found", func(t *testing.T) {
		d, ctx := newDeadLetters(t), contracttest.Context(t)
		if _, found, err := d.Get(ctx, newDeadLetter().ID); err != nil || found {
			t.Errorf("Get of an id never added: got found %t, %v; want not found", found, err)
		}
		mustDo(t, "Remove of an id never added", d.Remove(ctx, newDeadLetter().ID))
	})

	t.Run("concurrent adds lose nothing", func(t *testing.T) {
		d, ctx := newDeadLetters(t), contracttest.Context(t)
		// No more than the bound, which would push some out.
		n := concurrency
		if limit > 0 {
			n = min(n, limit)
		}
		var mu sync.Mutex
		var added []notification.DeadLetter
		race(t, n, func() error {
			dl := newDeadLetter()
			mu.Lock()
			added = append(added, dl)
			mu.Unlock()
			return d.Add(ctx, dl)
		})
		got := ownDeadLetters(t, d, added)
		if len(got) != n {
			t.Errorf("List after %d concurrent Adds: got %d of them, want all %d", n, len(got), n)
		}
	})

	if limit == 0 {
		return
	}
	t.Run("list keeps the most recent", func(t *testing.T) {
		d, ctx := newDeadLetters(t), contracttest.Context(t)
		added := make([]notification.DeadLetter, limit+1)
		for i := range added {
			added[i] = newDeadLetter()
			mustDo(t, "Add", d.Add(ctx, added[i]))
		}
		all, err := d.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(all) != limit {
			t.Errorf("List after %d Adds: got %d dead letters, want the bound, %d", limit+1, len(all), limit)
		}
		// The newest limit entries are this subtest's: all but the first.
		own := ownDeadLetters(t, d, added)
		if len(own) != limit || own[0].ID != added[1].ID || own[len(own)-1].ID != added[limit].ID {
			t.Errorf("List after %d Adds: got %d of them, from %s to %s; want %d, from %s (the second) to %s (the last)",
				limit+1, len(own), firstID(own), lastID(own), limit, added[1].ID, added[limit].ID)
		}
		// And the one pushed out is not kept out of sight either.
		if _, found, err := d.Get(ctx, added[0].ID); err != nil || found {
			t.Errorf("Get of the dead letter pushed out of the list: got found %t, %v; want not found", found, err)
		}
	})
}

// Inbox waits until n notifications were delivered to customerID and
// returns them in the order delivered; it fails t when they do not arrive
// in time.
type Inbox func(t *testing.T, customerID string, n int) []notification.Notification

// TestSender checks that the notification.Sender made by newSender delivers
// to each customer, through inbox, what it was given. newSender is called
// once per subtest.
func TestSender(t *testing.T, newSender func(t *testing.T) (notification.Sender, Inbox)) {
	t.Run("delivers intact to its customer", func(t *testing.T) {
		s, inbox := newSender(t)
		ctx := contracttest.Context(t)
		a, b := newNotification(newID("c")), newNotification(newID("c"))
		mustDo(t, "Send", s.Send(ctx, a))
		mustDo(t, "Send", s.Send(ctx, b))
		for _, want := range []notification.Notification{a, b} {
			got := inbox(t, want.CustomerID, 1)
			if len(got) != 1 || !sameNotification(got[0], want) {
				t.Errorf("delivered to %s: got %+v, want %+v", want.CustomerID, got, want)
			}
		}
	})

	t.Run("a repeat is delivered with the same id", func(t *testing.T) {
		// Handle sends again after a crash between sending and recording;
		// receivers drop the repeat by its id.
		s, inbox := newSender(t)
		ctx := contracttest.Context(t)
		n := newNotification(newID("c"))
		mustDo(t, "Send", s.Send(ctx, n))
		mustDo(t, "Send again", s.Send(ctx, n))
		got := inbox(t, n.CustomerID, 2)
		if len(got) != 2 || got[0].ID != n.ID || got[1].ID != n.ID {
			t.Errorf("delivered after two Sends of %s: got %+v, want it twice with its id", n.ID, got)
		}
	})
}

// race runs f in n goroutines released at once, and fails t with the
// errors they return.
func race(t *testing.T, n int, f func() error) {
	t.Helper()
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			errs <- f()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
}

// checkClaim fails t unless Claim of order for event's version answers
// want.
func checkClaim(t *testing.T, s notification.Store, order, event string, version int, want notification.Claim) {
	t.Helper()
	if got, _, err := s.Claim(contracttest.Context(t), order, event, version); got != want || err != nil {
		t.Fatalf("Claim of %s for %s, version %d: got %v, %v; want %v, nil", order, event, version, got, err, want)
	}
}

// checkDelivered fails t unless Claim of order for event's version
// answers want, and says the notification of event was recorded or not as
// delivered.
func checkDelivered(t *testing.T, s notification.Store, order, event string, version int, want notification.Claim, delivered bool) {
	t.Helper()
	got, recorded, err := s.Claim(contracttest.Context(t), order, event, version)
	if got != want || recorded != delivered || err != nil {
		t.Fatalf("Claim of %s for %s, version %d: got %v, delivered %v, %v; want %v, delivered %v, nil",
			order, event, version, got, recorded, err, want, delivered)
	}
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// run tells ids of one test process from those of another on a store that
// outlives it; seq tells apart those of one process.
var (
	run = rand.Uint32()
	seq atomic.Uint64
)

// newID returns an id no other call returns, valid as a customer or event
// id.
func newID(prefix string) string {
	return fmt.Sprintf("%s-%08x-%d", prefix, run, seq.Add(1))
}

// newNotification returns a notification with every field set, for
// customerID.
func newNotification(customerID string) notification.Notification {
	id := newID("e")
	return notification.Notification{
		ID: id, CustomerID: customerID, OrderID: "o-" + id, Status: "confirmed",
		Message:   "Your order o-" + id + " is confirmed.",
		CreatedAt: time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC).Add(time.Duration(seq.Load()) * time.Second),
	}
}

func newDeadLetter() notification.DeadLetter {
	id := newID("dl")
	return notification.DeadLetter{
		ID: id, Topic: "orders", Data: []byte(`{"eventId":"` + id + `"}`),
		ReceivedAt: time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC),
	}
}

// sameNotification compares field by field: times that went through a
// store are equal, not ==.
func sameNotification(a, b notification.Notification) bool {
	return a.ID == b.ID && a.CustomerID == b.CustomerID && a.OrderID == b.OrderID &&
		a.Status == b.Status && a.Message == b.Message && a.CreatedAt.Equal(b.CreatedAt)
}

// checkHistory fails t unless the customer's history is want, in order,
// read a few at a time.
func checkHistory(t *testing.T, s notification.Store, customerID string, want ...notification.Notification) {
	t.Helper()
	if got := historyOf(t, s, customerID, 2); !slices.EqualFunc(got, want, sameNotification) {
		t.Errorf("History of %s: got %v, want %v", customerID, notificationIDs(got), notificationIDs(want))
	}
}

// historyOf reads the customer's whole history a page of limit at a time,
// newest first, and returns it oldest first. It fails t when a page is
// larger than limit or the pages never end.
func historyOf(t *testing.T, s notification.Store, customerID string, limit int) []notification.Notification {
	t.Helper()
	var newestFirst []notification.Notification
	for before := -1; ; {
		page, older, err := s.History(contracttest.Context(t), customerID, before, limit)
		if err != nil {
			t.Fatalf("History before %d: %v", before, err)
		}
		if len(page) > limit {
			t.Fatalf("History before %d: a page of %d, more than the limit %d", before, len(page), limit)
		}
		newestFirst = append(newestFirst, page...)
		if older == 0 {
			break
		}
		if before >= 0 && older >= before {
			t.Fatalf("History before %d: older is %d, which does not go back", before, older)
		}
		before = older
	}
	slices.Reverse(newestFirst)
	return newestFirst
}

// ownDeadLetters returns the dead letters listed whose ids are among those
// of added, in the order listed.
func ownDeadLetters(t *testing.T, d notification.DeadLetters, added []notification.DeadLetter) []notification.DeadLetter {
	t.Helper()
	all, err := d.List(contracttest.Context(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	own := make(map[string]bool, len(added))
	for _, dl := range added {
		own[dl.ID] = true
	}
	var got []notification.DeadLetter
	for _, dl := range all {
		if own[dl.ID] {
			got = append(got, dl)
		}
	}
	return got
}

// checkDeadLetters fails t unless, of the dead letters in added, List shows
// want, in order and as first added.
func checkDeadLetters(t *testing.T, d notification.DeadLetters, added []notification.DeadLetter, want ...notification.DeadLetter) {
	t.Helper()
	got := ownDeadLetters(t, d, added)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].ID == want[i].ID && got[i].Topic == want[i].Topic &&
			string(got[i].Data) == string(want[i].Data) && got[i].ReceivedAt.Equal(want[i].ReceivedAt)
	}
	if !ok {
		t.Errorf("List: got %s, want %s", deadLetterSummary(got), deadLetterSummary(want))
	}
}

func notificationIDs(ns []notification.Notification) []string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return ids
}

func deadLetterSummary(dls []notification.DeadLetter) []string {
	out := make([]string, len(dls))
	for i, dl := range dls {
		out[i] = dl.ID + " " + string(dl.Data)
	}
	return out
}

func firstID(dls []notification.DeadLetter) string {
	if len(dls) == 0 {
		return "none"
	}
	return dls[0].ID
}

func lastID(dls []notification.DeadLetter) string {
	if len(dls) == 0 {
		return "none"
	}
	return dls[len(dls)-1].ID
}
