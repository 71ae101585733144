package inventorytest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory/inventorytest"
)

// TestStore holds the fake to the contract the Dapr adapter meets too.
func TestStore(t *testing.T) {
	inventorytest.TestStore(t, func(*testing.T) inventory.Store { return inventorytest.NewStore() })
}

// TestBatchingStore holds inventory.Batching, which every Service writes
// through, to the same contract over the fake.
func TestBatchingStore(t *testing.T) {
	inventorytest.TestStore(t, func(*testing.T) inventory.Store { return inventory.Batching(inventorytest.NewStore()) })
}

// TestStoreFail checks the knob the domain and HTTP tests use for outages.
func TestStoreFail(t *testing.T) {
	s := inventorytest.NewStore(inventory.Item{SKU: "A", Available: 1})
	s.Fail = map[string]error{"A": inventorytest.ErrUnavailable}
	called := false
	err := s.Update(context.Background(), "A", func(item inventory.Item, _ bool) (inventory.Item, error) {
		called = true
		return item, nil
	})
	if !errors.Is(err, inventorytest.ErrUnavailable) || called {
		t.Errorf("Update of a failing SKU: got error %v, fn called %t; want ErrUnavailable, fn not called", err, called)
	}
}
