package inventory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Batching returns a Store whose concurrent Updates of one SKU share one
// read-modify-write of store: while a write of a SKU is under way, the
// Updates of that SKU that arrive queue up, and the next write applies them
// all, in the order they came, to the item it read, and saves once.
//
// Why: every Update of store is a read and a write guarded by the ETag it
// read. When many orders reserve one hot SKU at once, all but one of the
// writers that read the same ETag lose the race and pay another read and
// write, so a hot SKU costs round trips in proportion to its popularity
// and serves fewer orders a second than a cold one. Batched, one replica
// writes each SKU one write at a time and never races itself: what queues
// while a write is under way costs one more write, however many Updates
// it holds. Replicas still race each other, and the ETag loop of store
// still settles that.
//
// Each Update keeps its meaning: its fn sees the item as the Updates
// before it in the batch left it (a copy of its own, so that a fn that
// fails leaves no trace, even of what it changed in place), an error from
// fn leaves the item as it was for the next one and is what that Update
// returns, and when the write fails, every Update of the batch returns
// that error and none took effect. Get and List are store's own.
func Batching(store Store) Store {
	return &batchingStore{Store: store, queued: map[string][]*queuedUpdate{}}
}

type batchingStore struct {
	Store
	mu sync.Mutex
	// queued holds, for each SKU being written, the Updates waiting for the
	// next write; a SKU is a key here exactly while a writer runs for it.
	queued map[string][]*queuedUpdate
}

// queuedUpdate is one caller's Update, waiting for the write that applies
// it; done receives what that Update returns.
type queuedUpdate struct {
	ctx  context.Context
	fn   func(item Item, exists bool) (Item, error)
	done chan error
}

// Update queues fn for the next write of sku, starts a writer for sku if
// none runs, and waits for the write that applied fn (or refused it).
func (s *batchingStore) Update(ctx context.Context, sku string, fn func(item Item, exists bool) (Item, error)) error {
	u := &queuedUpdate{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	queue, writing := s.queued[sku]
	s.queued[sku] = append(queue, u)
	s.mu.Unlock()
	if !writing {
		go s.write(sku)
	}
	// Waiting for the result even when ctx ends: once the write is under
	// way, it may land, and the caller must not be told otherwise.
	return <-u.done
}

// write applies what is queued for sku, one batch per write, until
// nothing is.
func (s *batchingStore) write(sku string) {
	for {
		s.mu.Lock()
		batch := s.queued[sku]
		if len(batch) == 0 {
			delete(s.queued, sku)
			s.mu.Unlock()
			return
		}
		s.queued[sku] = nil
		s.mu.Unlock()
		s.apply(sku, batch)
	}
}

// errNoneApplied ends a write in which every fn refused: nothing to save.
var errNoneApplied = errors.New("no update of the batch applied")

// apply runs batch's fns in one Update of the underlying store and hands
// each caller its result. A caller that gave up before its batch began is
// left out, so its fn never runs.
func (s *batchingStore) apply(sku string, batch []*queuedUpdate) {
	live := make([]*queuedUpdate, 0, len(batch))
	for _, u := range batch {
		if err := u.ctx.Err(); err != nil {
			u.done <- err
			continue
		}
		live = append(live, u)
	}
	if len(live) == 0 {
		return
	}
	ctx, stop := whileAnyWaits(live)
	defer stop()
	results := make([]error, len(live))
	err := s.Store.Update(ctx, sku, func(item Item, exists bool) (Item, error) {
		applied := false
		for i, u := range live {
			updated, err := u.fn(item.Clone(), exists)
			results[i] = err
			if err == nil {
				item, exists, applied = updated, true, true
			}
		}
		if !applied {
			return Item{}, errNoneApplied
		}
		return item, nil
	})
	for i, u := range live {
		if err != nil && !errors.Is(err, errNoneApplied) {
			u.done <- err
			continue
		}
		u.done <- results[i]
	}
}

// whileAnyWaits returns a context for a write that serves every update of
// batch: it carries the first caller's values (its trace, for one) and
// ends only when every caller's context has ended, so that no caller's
// deadline or cancellation fails the others' write. stop releases it.
func whileAnyWaits(batch []*queuedUpdate) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	unwatch := make([]func() bool, len(batch))
	for i, u := range batch {
		unwatch[i] = context.AfterFunc(u.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, f := range unwatch {
			f()
		}
		cancel()
	}
}
