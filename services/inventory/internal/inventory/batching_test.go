package inventory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// gatedStore is a Store of one item whose writes wait at a gate: each
// Update announces itself on started and waits for a value on proceed
// before it reads, so a test can queue Updates behind a write under way.
// Only what Batching uses of a Store is here.
type gatedStore struct {
	Store
	started chan context.Context
	proceed chan error // nil: write; an error: fail the write with it

	mu     sync.Mutex
	item   Item
	writes int
}

func newGatedStore(item Item) *gatedStore {
	return &gatedStore{started: make(chan context.Context), proceed: make(chan error), item: item}
}

func (g *gatedStore) Update(ctx context.Context, _ string, fn func(Item, bool) (Item, error)) error {
	g.started <- ctx
	if err := <-g.proceed; err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	updated, err := fn(g.item.Clone(), true)
	if err != nil {
		return err
	}
	g.item, g.writes = updated.Clone(), g.writes+1
	return nil
}

// awaitWrite waits for the next write to reach the gate and returns its
// context.
func (g *gatedStore) awaitWrite(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-g.started:
		return ctx
	case <-time.After(10 * time.Second):
		t.Fatal("no write reached the store within 10 s")
		return nil
	}
}

// let lets the write at the gate go on, failing it with err unless nil.
func (g *gatedStore) let(t *testing.T, err error) {
	t.Helper()
	select {
	case g.proceed <- err:
	case <-time.After(10 * time.Second):
		t.Fatal("no write waited at the gate within 10 s")
	}
}

// queue starts Update(fn) on s and waits until it is queued behind the
// write under way; its result arrives on the channel returned.
func queue(t *testing.T, s Store, ctx context.Context, fn func(Item, bool) (Item, error)) <-chan error {
	t.Helper()
	b := s.(*batchingStore)
	b.mu.Lock()
	before := len(b.queued["A"])
	b.mu.Unlock()
	result := make(chan error, 1)
	go func() { result <- s.Update(ctx, "A", fn) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		n := len(b.queued["A"])
		b.mu.Unlock()
		if n > before {
			return result
		}
		if time.Now().After(deadline) {
			t.Fatal("the Update was not queued within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// resultOf waits for an Update's result, failing the test if none comes
// within 10 s (a write the test did not let through).
func resultOf(t *testing.T, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10 s: the Update waits for a write nobody expected")
		return nil
	}
}

// add returns an update that adds n to the item's available stock.
func add(n int) func(Item, bool) (Item, error) {
	return func(item Item, _ bool) (Item, error) {
		item.Available += n
		return item, nil
	}
}

// startFirstWrite has s start a write of one Update that adds first, and
// returns its result; the write waits at g's gate.
func startFirstWrite(t *testing.T, g *gatedStore, s Store, first int) <-chan error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- s.Update(context.Background(), "A", add(first)) }()
	g.awaitWrite(t)
	return result
}

func TestBatchingSharesOneWriteAmongTheUpdatesQueuedMeanwhile(t *testing.T) {
	g := newGatedStore(Item{SKU: "A"})
	s := Batching(g)
	first := startFirstWrite(t, g, s, 1)
	var queued []<-chan error
	for range 5 {
		queued = append(queued, queue(t, s, context.Background(), add(10)))
	}
	g.let(t, nil) // the first write
	g.awaitWrite(t)
	g.let(t, nil) // the five queued, in one write
	for i, result := range append(queued, first) {
		if err := resultOf(t, result); err != nil {
			t.Errorf("Update %d: %v", i, err)
		}
	}
	if g.item.Available != 51 || g.writes != 2 {
		t.Errorf("after 6 Updates: available %d in %d writes; want 51 in 2", g.item.Available, g.writes)
	}
}

func TestBatchingGivesEachUpdateItsOwnResult(t *testing.T) {
	g := newGatedStore(Item{SKU: "A", Holds: map[string]int{}})
	s := Batching(g)
	first := startFirstWrite(t, g, s, 1)
	refused := errors.New("refused")
	before := queue(t, s, context.Background(), add(10))
	failing := queue(t, s, context.Background(), func(item Item, _ bool) (Item, error) {
		item.Available = 0
		item.Holds["o-refused"] = 1 // changed in place, then refused
		return item, refused
	})
	var seen Item
	after := queue(t, s, context.Background(), func(item Item, exists bool) (Item, error) {
		seen = item.Clone()
		return add(100)(item, exists)
	})
	g.let(t, nil)
	g.awaitWrite(t)
	g.let(t, nil)
	if err := resultOf(t, first); err != nil {
		t.Errorf("first Update: %v", err)
	}
	if err := resultOf(t, before); err != nil {
		t.Errorf("the Update queued before the refused one: %v", err)
	}
	if err := resultOf(t, failing); !errors.Is(err, refused) {
		t.Errorf("the refused Update: got %v, want its fn's error", err)
	}
	if err := resultOf(t, after); err != nil {
		t.Errorf("the Update queued after the refused one: %v", err)
	}
	if seen.Available != 11 || len(seen.Holds) != 0 {
		t.Errorf("the Update after the refused one saw %+v; want available 11 and no holds, as the one before left it", seen)
	}
	if g.item.Available != 111 || len(g.item.Holds) != 0 {
		t.Errorf("stored: %+v; want available 111 and no holds", g.item)
	}
}

func TestBatchingFailsEveryUpdateOfAFailedWrite(t *testing.T) {
	g := newGatedStore(Item{SKU: "A"})
	s := Batching(g)
	first := startFirstWrite(t, g, s, 1)
	a := queue(t, s, context.Background(), add(10))
	b := queue(t, s, context.Background(), add(10))
	g.let(t, nil)
	g.awaitWrite(t)
	unavailable := errors.New("store unavailable")
	g.let(t, unavailable)
	if err := resultOf(t, first); err != nil {
		t.Errorf("first Update: %v", err)
	}
	for _, result := range []<-chan error{a, b} {
		if err := resultOf(t, result); !errors.Is(err, unavailable) {
			t.Errorf("an Update of the failed write: got %v, want the store's error", err)
		}
	}
	if g.item.Available != 1 {
		t.Errorf("stored available %d; want 1, the failed write's updates lost together", g.item.Available)
	}
}

func TestBatchingLeavesOutACallerThatGaveUpBeforeItsWrite(t *testing.T) {
	g := newGatedStore(Item{SKU: "A"})
	s := Batching(g)
	first := startFirstWrite(t, g, s, 1)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := queue(t, s, ctx, add(10))
	cancel()
	g.let(t, nil)
	if err := resultOf(t, first); err != nil {
		t.Errorf("first Update: %v", err)
	}
	if err := resultOf(t, gaveUp); !errors.Is(err, context.Canceled) {
		t.Errorf("the Update whose caller gave up: got %v, want context.Canceled", err)
	}
	if g.item.Available != 1 || g.writes != 1 {
		t.Errorf("stored available %d in %d writes; want 1 in 1, the abandoned update never run", g.item.Available, g.writes)
	}
}

func TestBatchingWriteOutlivesOneCallerButNotAll(t *testing.T) {
	g := newGatedStore(Item{SKU: "A"})
	s := Batching(g)
	first := startFirstWrite(t, g, s, 1)
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	a := queue(t, s, ctxA, add(10))
	b := queue(t, s, ctxB, add(10))
	g.let(t, nil)
	write := g.awaitWrite(t) // a and b's write, under way
	// The context ends from a goroutine of its own: a wait shows whether it
	// does (a wrong one ends within microseconds).
	cancelA()
	select {
	case <-write.Done():
		t.Error("the write's context ended when one of its two callers gave up; want it live")
	case <-time.After(100 * time.Millisecond):
	}
	cancelB()
	select {
	case <-write.Done():
	case <-time.After(10 * time.Second):
		t.Error("the write's context still live 10 s after both its callers gave up; want it ended")
	}
	g.let(t, nil)
	for _, result := range []<-chan error{first, a, b} {
		if err := resultOf(t, result); err != nil {
			t.Errorf("Update: %v", err)
		}
	}
}
