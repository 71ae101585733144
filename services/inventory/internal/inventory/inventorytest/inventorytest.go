// Package inventorytest provides what tests around inventory.Store need: an
// in-memory Store, and TestStore, the contract every inventory.Store must
// meet. The fake and the Dapr adapter both run that contract, so the fake
// the domain and HTTP tests rely on cannot drift from the real store.
package inventorytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/daprshop/daprshop/internal/contracttest"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// ErrUnavailable is a stand-in for a store that is down; put it in
// Store.Fail.
var ErrUnavailable = errors.New("inventorytest: store unavailable")

// Store is an in-memory inventory.Store. Update runs fn under one lock, so it
// is the ideal the Dapr adapter's ETag loop has to match. Items go in and
// come out as copies, as they would through an encoding, so a caller that
// keeps or changes an item it read changes nothing stored.
type Store struct {
	// Fail makes Update of each SKU it holds return that error without
	// calling fn: ErrUnavailable for an outage, or inventory.ErrContention
	// for a store that lost the race too many times. Set it before the
	// Store is in use.
	Fail map[string]error

	mu    sync.Mutex
	items map[string]inventory.Item
}

// NewStore returns a Store holding items.
func NewStore(items ...inventory.Item) *Store {
	s := &Store{items: make(map[string]inventory.Item, len(items))}
	for _, it := range items {
		s.items[it.SKU] = it.Clone()
	}
	return s
}

// Get returns the item for sku, or an *inventory.UnknownSKUError.
func (s *Store) Get(_ context.Context, sku string) (inventory.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[sku]
	if !ok {
		return inventory.Item{}, &inventory.UnknownSKUError{SKU: sku}
	}
	return it.Clone(), nil
}

// List returns every item in SKU order.
func (s *Store) List(context.Context) ([]inventory.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]inventory.Item, 0, len(s.items))
	for _, it := range s.items {
		out = append(out, it.Clone())
	}
	slices.SortFunc(out, func(a, b inventory.Item) int { return strings.Compare(a.SKU, b.SKU) })
	return out, nil
}

// Update calls fn on the item for sku and stores what it returns, holding
// the lock throughout, so no other writer can get in between; it stores
// nothing when fn fails or Fail names sku.
func (s *Store) Update(_ context.Context, sku string, fn func(item inventory.Item, exists bool) (inventory.Item, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Fail[sku]; err != nil {
		return err
	}
	it, ok := s.items[sku]
	updated, err := fn(it.Clone(), ok)
	if err != nil {
		return err
	}
	s.items[sku] = updated.Clone()
	return nil
}

// MustGet returns the item store holds for sku, ending the test if it cannot
// be read.
func MustGet(tb testing.TB, store inventory.Store, sku string) inventory.Item {
	tb.Helper()
	it, err := store.Get(contracttest.Context(tb), sku)
	if err != nil {
		tb.Fatalf("Get %s: %v", sku, err)
	}
	return it
}
