package ordertest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/contracttest"
	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// writers is how many goroutines race for one order or key in the
// concurrency tests.
const writers = contracttest.Writers

// TestRepository tests that an order.Repository does what its doc comment
// says, as subtests of t. newRepo returns the repository under test for one
// subtest; it may return the same store every time (a real store is shared
// between subtests), because every subtest uses order ids of its own.
func TestRepository(t *testing.T, newRepo func(t *testing.T) order.Repository) {
	t.Run("Get of a missing order is ErrNotFound", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		id := NewID()
		if _, err := repo.Get(ctx, id); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("Get(%q) of an order never created: got error %v, want order.ErrNotFound", id, err)
		}
	})

	t.Run("Create then Get returns the order", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		// Rejected, so that every field, shortages included, makes the
		// round trip.
		want := NewOrder(NewID(), order.StatusRejected)
		mustCreate(t, ctx, repo, want)
		if got := mustGet(t, ctx, repo, want.ID); !reflect.DeepEqual(got, want) {
			t.Errorf("Get after Create:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("Create of an existing id fails and changes nothing", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		first := NewOrder(NewID(), order.StatusConfirmed)
		mustCreate(t, ctx, repo, first)
		second := NewOrder(first.ID, order.StatusRejected)
		second.CustomerID = "someone-else"
		if err := repo.Create(ctx, second, order.EventFor(second)); err == nil {
			t.Errorf("second Create of %s: got nil error, want an error: the order exists", first.ID)
		}
		if got := mustGet(t, ctx, repo, first.ID); !reflect.DeepEqual(got, first) {
			t.Errorf("Get after a refused Create:\n got %+v\nwant the first order %+v", got, first)
		}
	})

	t.Run("concurrent Creates of one id store one", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		// Requests that repeat an idempotency key race to create the same
		// order id; order.Service takes the one Create that succeeded as
		// the answer to all of them.
		id := NewID()
		tried := make([]order.Order, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			tried[i] = NewOrder(id, order.StatusConfirmed)
			tried[i].CustomerID = fmt.Sprintf("customer-%d", i)
			wg.Go(func() { errs[i] = repo.Create(ctx, tried[i], order.EventFor(tried[i])) })
		}
		wg.Wait()
		var won []int
		for i, err := range errs {
			if err == nil {
				won = append(won, i)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d concurrent Creates of %s: got %d successes (writers %v), want exactly 1", writers, id, len(won), won)
		}
		if got := mustGet(t, ctx, repo, id); !reflect.DeepEqual(got, tried[won[0]]) {
			t.Errorf("Get after concurrent Creates:\n got %+v\nwant the order of the one Create that succeeded %+v", got, tried[won[0]])
		}
	})

	t.Run("Update stores what fn returns", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		created := NewOrder(NewID(), order.StatusConfirmed)
		mustCreate(t, ctx, repo, created)
		want := created
		want.Status = order.StatusCancelled
		want.UpdatedAt = created.UpdatedAt.Add(time.Minute)
		got, err := repo.Update(ctx, created.ID, func(o order.Order) (order.Order, *events.Order, error) {
			if !reflect.DeepEqual(o, created) {
				t.Errorf("fn was given:\n got %+v\nwant the stored order %+v", o, created)
			}
			e := order.EventFor(want)
			return want, &e, nil
		})
		if err != nil {
			t.Fatalf("Update(%s): %v", created.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Update returned:\n got %+v\nwant fn's result %+v", got, want)
		}
		if stored := mustGet(t, ctx, repo, created.ID); !reflect.DeepEqual(stored, want) {
			t.Errorf("Get after Update:\n got %+v\nwant fn's result %+v", stored, want)
		}
	})

	t.Run("Update stores nothing when fn fails", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		created := NewOrder(NewID(), order.StatusRejected)
		mustCreate(t, ctx, repo, created)
		refusal := errors.New("fn refuses")
		_, err := repo.Update(ctx, created.ID, func(o order.Order) (order.Order, *events.Order, error) {
			o.Status = order.StatusCancelled
			e := order.EventFor(o)
			return o, &e, refusal
		})
		// The domain tells its refusals (order.ErrNotCancellable) by
		// errors.Is on what Update returns.
		if !errors.Is(err, refusal) {
			t.Errorf("Update with fn failing: got error %v, want one matching fn's error %q", err, refusal)
		}
		if got := mustGet(t, ctx, repo, created.ID); !reflect.DeepEqual(got, created) {
			t.Errorf("Get after fn failed:\n got %+v\nwant the order as created %+v", got, created)
		}
	})

	t.Run("Update stores nothing when fn returns no event", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		created := NewOrder(NewID(), order.StatusConfirmed)
		mustCreate(t, ctx, repo, created)
		_, err := repo.Update(ctx, created.ID, func(o order.Order) (order.Order, *events.Order, error) {
			// A changed order with no event: only the event says there is
			// something to save.
			o.Status = order.StatusCancelled
			return o, nil, nil
		})
		if err != nil {
			t.Fatalf("Update with fn returning no event: got error %v, want nil", err)
		}
		if got := mustGet(t, ctx, repo, created.ID); !reflect.DeepEqual(got, created) {
			t.Errorf("Get after fn returned no event:\n got %+v\nwant the order as created %+v", got, created)
		}
	})

	t.Run("Update of a missing order is ErrNotFound", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		id := NewID()
		called := false
		_, err := repo.Update(ctx, id, func(o order.Order) (order.Order, *events.Order, error) {
			called = true
			e := order.EventFor(o)
			return o, &e, nil
		})
		if !errors.Is(err, order.ErrNotFound) {
			t.Errorf("Update(%q) of an order never created: got error %v, want order.ErrNotFound", id, err)
		}
		if called {
			t.Errorf("Update(%q) of an order never created called fn, want no call", id)
		}
		if _, err := repo.Get(ctx, id); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("Get(%q) after Update of a missing order: got error %v, want order.ErrNotFound (Update must not create)", id, err)
		}
	})

	t.Run("concurrent Updates are all applied", func(t *testing.T) {
		repo, ctx := newRepo(t), contracttest.Context(t)
		created := NewOrder(NewID(), order.StatusConfirmed)
		mustCreate(t, ctx, repo, created)
		// Each writer adds a line of its own: an update lost to a race
		// shows as a missing line, one applied twice as a doubled one.
		sku := func(i int) string { return fmt.Sprintf("ADDED-%d", i) }
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				_, errs[i] = repo.Update(ctx, created.ID, func(o order.Order) (order.Order, *events.Order, error) {
					o.Items = append(slices.Clone(o.Items), order.Line{SKU: sku(i), Quantity: 1})
					e := order.EventFor(o)
					e.EventID = fmt.Sprintf("%s.%s", o.ID, sku(i))
					return o, &e, nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Update by writer %d: %v", i, err)
			}
		}
		got := mustGet(t, ctx, repo, created.ID)
		count := map[string]int{}
		for _, l := range got.Items {
			count[l.SKU]++
		}
		var lost, doubled []string
		for i := range writers {
			switch n := count[sku(i)]; {
			case n == 0:
				lost = append(lost, sku(i))
			case n > 1:
				doubled = append(doubled, sku(i))
			}
		}
		if len(lost) > 0 || len(doubled) > 0 || len(got.Items) != len(created.Items)+writers {
			t.Errorf("after %d concurrent Updates each adding one line: got %d lines %v; lost %v, applied more than once %v; want %d lines, each added line once",
				writers, len(got.Items), got.Items, lost, doubled, len(created.Items)+writers)
		}
	})
}

// TestIdempotencyKeys tests that an order.IdempotencyKeys does what its doc
// comment says, as subtests of t. newKeys returns the implementation under
// test for one subtest; it may return the same store every time, because
// every subtest uses keys of its own.
func TestIdempotencyKeys(t *testing.T, newKeys func(t *testing.T) order.IdempotencyKeys) {
	t.Run("the first Claim binds", func(t *testing.T) {
		keys, ctx := newKeys(t), contracttest.Context(t)
		key := NewID()
		if got, err := keys.Claim(ctx, key, "fp-a", "order-1"); err != nil || got != "order-1" {
			t.Errorf("first Claim(%q, fp-a, order-1): got %q, %v; want order-1, nil", key, got, err)
		}
	})

	t.Run("a repeat returns the first order", func(t *testing.T) {
		keys, ctx := newKeys(t), contracttest.Context(t)
		key := NewID()
		mustClaim(t, ctx, keys, key, "fp-a", "order-1")
		for _, id := range []string{"order-2", "order-3"} {
			if got, err := keys.Claim(ctx, key, "fp-a", id); err != nil || got != "order-1" {
				t.Errorf("repeat Claim(%q, fp-a, %s): got %q, %v; want order-1 (bound first), nil", key, id, got, err)
			}
		}
	})

	t.Run("another fingerprint is ErrKeyReused", func(t *testing.T) {
		keys, ctx := newKeys(t), contracttest.Context(t)
		key := NewID()
		mustClaim(t, ctx, keys, key, "fp-a", "order-1")
		if got, err := keys.Claim(ctx, key, "fp-b", "order-2"); !errors.Is(err, order.ErrKeyReused) {
			t.Errorf("Claim(%q, fp-b, order-2) of a key bound with fp-a: got %q, %v; want order.ErrKeyReused", key, got, err)
		}
		// The refused claim must not have rebound the key.
		if got, err := keys.Claim(ctx, key, "fp-a", "order-3"); err != nil || got != "order-1" {
			t.Errorf("Claim(%q, fp-a, order-3) after a refused claim: got %q, %v; want order-1, nil", key, got, err)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		keys, ctx := newKeys(t), contracttest.Context(t)
		k1, k2 := NewID(), NewID()
		mustClaim(t, ctx, keys, k1, "fp-a", "order-1")
		if got, err := keys.Claim(ctx, k2, "fp-b", "order-2"); err != nil || got != "order-2" {
			t.Errorf("Claim(%q, fp-b, order-2) of a fresh key while %q is bound: got %q, %v; want order-2, nil", k2, k1, got, err)
		}
	})

	t.Run("concurrent Claims have one winner", func(t *testing.T) {
		keys, ctx := newKeys(t), contracttest.Context(t)
		key := NewID()
		claimed := make([]string, writers)
		for i := range claimed {
			claimed[i] = fmt.Sprintf("order-%d", i)
		}
		got := make([]string, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() { got[i], errs[i] = keys.Claim(ctx, key, "fp-a", claimed[i]) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Claim(%q, fp-a, %s): %v", key, claimed[i], err)
			}
		}
		distinct := slices.Compact(slices.Sorted(slices.Values(got)))
		if len(distinct) != 1 {
			t.Fatalf("%d concurrent claims of %q answered %q: got %d order ids, want one, the same for all", writers, key, got, len(distinct))
		}
		if !slices.Contains(claimed, distinct[0]) {
			t.Errorf("%d concurrent claims of %q agreed on %q, want one of the claimed ids %q", writers, key, distinct[0], claimed)
		}
	})
}

// NewID returns an id no other call returned, valid as an order id
// (order.ValidID) and as an idempotency key, so that tests sharing a real
// store do not see each other's data.
func NewID() string { return "ordertest-" + rand.Text() }

// NewOrder returns an order with id and status, two lines and, when
// rejected, a shortage; its times are in UTC with nanoseconds, as
// order.Service sets them.
func NewOrder(id string, status order.Status) order.Order {
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)
	o := order.Order{
		ID:         id,
		CustomerID: "c-1",
		Items:      []order.Line{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}},
		Status:     status,
		CreatedAt:  at,
		UpdatedAt:  at,
	}
	if status == order.StatusRejected {
		o.Shortages = []order.Shortage{{SKU: "SKU-2", Requested: 1, Available: 0}}
	}
	return o
}

func mustCreate(t *testing.T, ctx context.Context, repo order.Repository, o order.Order) {
	t.Helper()
	if err := repo.Create(ctx, o, order.EventFor(o)); err != nil {
		t.Fatalf("Create(%s): %v", o.ID, err)
	}
}

func mustGet(t *testing.T, ctx context.Context, repo order.Repository, id string) order.Order {
	t.Helper()
	o, err := repo.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return o
}

func mustClaim(t *testing.T, ctx context.Context, keys order.IdempotencyKeys, key, fingerprint, orderID string) {
	t.Helper()
	if got, err := keys.Claim(ctx, key, fingerprint, orderID); err != nil || got != orderID {
		t.Fatalf("first Claim(%q, %s, %s): got %q, %v; want %s, nil", key, fingerprint, orderID, got, err, orderID)
	}
}
