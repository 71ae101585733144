// Package dapr keeps inventory items in a Dapr state store, using ETags for
// optimistic concurrency.
package dapr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// catalogKey holds the sorted list of every SKU: the state API has no key
// listing, so List reads this index and then the items in bulk.
const catalogKey = "catalog"

// ItemStore is an inventory.Store on a Dapr state store.
type ItemStore struct {
	store daprstate.Store
}

// NewItemStore returns an ItemStore on store.
func NewItemStore(store daprstate.Store) *ItemStore {
	return &ItemStore{store: store}
}

func itemKey(sku string) string { return "item:" + sku }

// Get returns the item for sku, or inventory.ErrUnknownSKU.
func (s *ItemStore) Get(ctx context.Context, sku string) (inventory.Item, error) {
	var item inventory.Item
	_, exists, err := s.store.Get(ctx, itemKey(sku), &item)
	if err != nil {
		return inventory.Item{}, err
	}
	if !exists {
		return inventory.Item{}, &inventory.UnknownSKUError{SKU: sku}
	}
	return item, nil
}

// List returns every item in SKU order.
func (s *ItemStore) List(ctx context.Context) ([]inventory.Item, error) {
	var skus []string
	if _, _, err := s.store.Get(ctx, catalogKey, &skus); err != nil {
		return nil, err
	}
	items, err := daprstate.GetAll[inventory.Item](ctx, s.store, skus, itemKey)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(items, func(a, b inventory.Item) int { return strings.Compare(a.SKU, b.SKU) })
	return items, nil
}

// Update is the read-modify-write loop (daprstate.Modify): read the item
// and its ETag, let fn change it, and save it only if the ETag still
// matches. Losing the race means someone else changed the item; read again
// and let fn decide again on fresh data.
func (s *ItemStore) Update(ctx context.Context, sku string, fn func(item inventory.Item, exists bool) (inventory.Item, error)) error {
	err := daprstate.Modify(ctx, s.store, itemKey(sku), func(item inventory.Item, exists bool) (inventory.Item, error) {
		updated, err := fn(item, exists)
		if err == nil && !exists {
			// List a new SKU before creating it: a crash in between leaves
			// a listed SKU without an item, which List skips, rather than
			// an item that nothing lists. Listing it twice, when this
			// attempt loses the race, lists it once.
			err = s.addToCatalog(ctx, sku)
		}
		return updated, err
	})
	return contention(err, "update "+sku)
}

func (s *ItemStore) addToCatalog(ctx context.Context, sku string) error {
	err := daprstate.Modify(ctx, s.store, catalogKey, func(skus []string, _ bool) ([]string, error) {
		i, found := slices.BinarySearch(skus, sku)
		if found {
			return nil, daprstate.ErrUnchanged
		}
		return slices.Insert(skus, i, sku), nil
	})
	return contention(err, "add "+sku+" to catalog")
}

// contention tells the domain that an update gave up under contention.
func contention(err error, what string) error {
	if errors.Is(err, daprstate.ErrContention) {
		return fmt.Errorf("%s: %w", what, inventory.ErrContention)
	}
	return err
}
