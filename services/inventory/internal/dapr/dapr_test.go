package dapr_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/services/inventory/internal/dapr"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory/inventorytest"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// TestMain runs the tests inside a network namespace of their own: daprd
// must never run on the host's network.
func TestMain(m *testing.M) {
	os.Exit(system.Main(m, system.MainOptions{Name: "dapr adapter", Backend: true}))
}

// stateStore is the inventory app's state store component
// (components/statestore.yaml), the one main.go uses by default.
const stateStore = "statestore"

// newStateStore returns the state store on the sidecar s through a client
// of its own, as one replica of the app would have.
func newStateStore(t *testing.T, s *system.Sidecar) daprstate.Store {
	t.Helper()
	return daprstate.Store{Client: s.Client(t), Name: stateStore}
}

// newItemStore returns an ItemStore on the sidecar s, built as main.go
// builds it.
func newItemStore(t *testing.T, s *system.Sidecar) *dapr.ItemStore {
	t.Helper()
	return dapr.NewItemStore(newStateStore(t, s))
}

// testContext bounds a test's calls to the sidecar: the client waits for an
// unreachable sidecar until the deadline.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestItemStoreMeetsTheStoreContract(t *testing.T) {
	store := newItemStore(t, system.StartSidecarAlone(t, "inventory"))
	t.Run("alone", func(t *testing.T) {
		inventorytest.TestStore(t, func(*testing.T) inventory.Store { return store })
	})
	// As the service writes through it.
	t.Run("batched", func(t *testing.T) {
		inventorytest.TestStore(t, func(*testing.T) inventory.Store { return inventory.Batching(store) })
	})
}

// TestItemStore checks what only a real state store can show: writes that
// land between the adapter's read and its write, and what is left after a
// crash.
func TestItemStore(t *testing.T) {
	s := system.StartSidecarAlone(t, "inventory")
	// other is another replica of the app, writing through a client of its
	// own.
	store, other := newItemStore(t, s), newItemStore(t, s)

	// addFive is the other replica's update: it creates the SKU if need be.
	addFive := func(sku string) func(inventory.Item, bool) (inventory.Item, error) {
		return func(item inventory.Item, exists bool) (inventory.Item, error) {
			if !exists {
				item = inventory.Item{SKU: sku}
			}
			item.Available += 5
			return item, nil
		}
	}

	t.Run("a write by another writer between read and write is read again, not overwritten", func(t *testing.T) {
		ctx, sku := testContext(t), "adapter-reread"
		if err := store.Update(ctx, sku, addFive(sku)); err != nil {
			t.Fatal(err)
		}
		var seen []int
		err := store.Update(ctx, sku, func(item inventory.Item, _ bool) (inventory.Item, error) {
			seen = append(seen, item.Available)
			if len(seen) == 1 {
				if err := other.Update(ctx, sku, addFive(sku)); err != nil {
					t.Fatalf("the other writer's Update: %v", err)
				}
			}
			item.Available--
			return item, nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if want := []int{5, 10}; !slices.Equal(seen, want) {
			t.Errorf("available fn saw on each call: got %v, want %v (the stale read, then the other writer's)", seen, want)
		}
		if got := inventorytest.MustGet(t, store, sku).Available; got != 9 {
			t.Errorf("available: got %d, want 9 (5, the other writer's +5, then this update's -1)", got)
		}
	})

	t.Run("a SKU another writer creates between read and write is updated, not overwritten", func(t *testing.T) {
		ctx, sku := testContext(t), "adapter-create"
		var seen []bool
		err := store.Update(ctx, sku, func(item inventory.Item, exists bool) (inventory.Item, error) {
			seen = append(seen, exists)
			if len(seen) == 1 {
				if err := other.Update(ctx, sku, addFive(sku)); err != nil {
					t.Fatalf("the other writer's Update: %v", err)
				}
			}
			return addFive(sku)(item, exists)
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if want := []bool{false, true}; !slices.Equal(seen, want) {
			t.Errorf("exists on each call of fn: got %v, want %v", seen, want)
		}
		if got := inventorytest.MustGet(t, store, sku).Available; got != 10 {
			t.Errorf("available: got %d, want 10 (both creates' +5, neither lost)", got)
		}
	})

	t.Run("losing every race ends in inventory.ErrContention, having stored nothing", func(t *testing.T) {
		ctx, sku := testContext(t), "adapter-contention"
		calls := 0
		err := store.Update(ctx, sku, func(item inventory.Item, exists bool) (inventory.Item, error) {
			calls++
			if err := other.Update(ctx, sku, addFive(sku)); err != nil {
				t.Fatalf("the other writer's Update: %v", err)
			}
			item.Available = -1
			return item, nil
		})
		if !errors.Is(err, inventory.ErrContention) {
			t.Fatalf("Update that always loses: got error %v, want inventory.ErrContention", err)
		}
		if got, want := inventorytest.MustGet(t, store, sku).Available, 5*calls; got != want {
			t.Errorf("available: got %d, want %d (the other writer's %d updates only)", got, want, calls)
		}
	})

	t.Run("List skips a listed SKU that has no item", func(t *testing.T) {
		// A crash between adding a new SKU to the catalog index and storing
		// its item leaves the SKU listed without an item; List must not
		// fail on it, nor show it.
		ctx, sku, ghost := testContext(t), "adapter-listed", "adapter-ghost"
		if err := store.Update(ctx, sku, addFive(sku)); err != nil {
			t.Fatal(err)
		}
		// "catalog" is the adapter's index (catalogKey): the crash can only
		// be staged behind the adapter's back.
		state := newStateStore(t, s)
		var catalog []string
		etag, _, err := state.Get(ctx, "catalog", &catalog)
		if err != nil {
			t.Fatal(err)
		}
		i, _ := slices.BinarySearch(catalog, ghost)
		if err := state.Put(ctx, "catalog", slices.Insert(catalog, i, ghost), etag, nil); err != nil {
			t.Fatal(err)
		}

		items, err := store.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var skus []string
		for _, it := range items {
			skus = append(skus, it.SKU)
		}
		if slices.Contains(skus, ghost) || !slices.Contains(skus, sku) {
			t.Errorf("List: got %v, want %s and not %s", skus, sku, ghost)
		}
	})
}
