package inventorytest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/contracttest"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// writers is how many goroutines the concurrency subtests run at once.
const writers = contracttest.Writers

// TestStore checks that the stores newStore returns keep the contract of
// inventory.Store. Call it from a test of each implementation. newStore may
// hand every subtest the same store (a real one, started once): each subtest
// writes SKUs no other subtest or run uses, and looks in List only for its
// own.
func TestStore(t *testing.T, newStore func(t *testing.T) inventory.Store) {
	// A store that outlives one run (a server kept between runs) must not
	// show a subtest the SKUs of an earlier run.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	newSKU := func(name string) string { return "contract-" + run + "-" + name }

	t.Run("Get of an unknown SKU returns an UnknownSKUError naming it", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("unknown")
		_, err := s.Get(ctx, sku)
		var unknown *inventory.UnknownSKUError
		if !errors.As(err, &unknown) || !errors.Is(err, inventory.ErrUnknownSKU) {
			t.Fatalf("Get: got error %v, want an *inventory.UnknownSKUError matching ErrUnknownSKU", err)
		}
		if unknown.SKU != sku {
			t.Errorf("UnknownSKUError.SKU: got %q, want %q", unknown.SKU, sku)
		}
	})

	t.Run("Update of a new SKU passes exists=false and a zero item, and creates it", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("create")
		want := inventory.Item{SKU: sku, Available: 5}
		err := s.Update(ctx, sku, func(item inventory.Item, exists bool) (inventory.Item, error) {
			if exists || !sameItem(item, inventory.Item{}) {
				t.Errorf("fn for a new SKU: got %+v, exists=%t; want a zero item, exists=false", item, exists)
			}
			return want, nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if got := MustGet(t, s, sku); !sameItem(got, want) {
			t.Errorf("Get after creating: got %+v, want %+v", got, want)
		}
		if got, n := listed(t, s, sku); n != 1 || !sameItem(got, want) {
			t.Errorf("List after creating: got %+v %d time(s), want %+v once", got, n, want)
		}
	})

	t.Run("Update of a stored SKU passes the stored item and exists=true", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("update")
		stored := inventory.Item{SKU: sku, Available: 7, Reserved: 3, Holds: map[string]int{"o-1": 3}}
		mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) { return stored, nil })
		want := inventory.Item{SKU: sku, Available: 9, Reserved: 3, Holds: map[string]int{"o-1": 3}}
		err := s.Update(ctx, sku, func(item inventory.Item, exists bool) (inventory.Item, error) {
			if !exists || !sameItem(item, stored) {
				t.Errorf("fn for a stored SKU: got %+v, exists=%t; want %+v, exists=true", item, exists, stored)
			}
			item.Available += 2
			return item, nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if got := MustGet(t, s, sku); !sameItem(got, want) {
			t.Errorf("Get after updating: got %+v, want %+v", got, want)
		}
	})

	t.Run("fn's error is returned and nothing is stored, even what fn changed in place", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("refused")
		want := inventory.Item{SKU: sku, Available: 4, Reserved: 1, Holds: map[string]int{"o-1": 1}}
		mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) { return want, nil })
		refused := errors.New("refused by fn")
		err := s.Update(ctx, sku, func(item inventory.Item, _ bool) (inventory.Item, error) {
			item.Available = 0
			item.Holds["o-2"] = 4
			return item, refused
		})
		if !errors.Is(err, refused) {
			t.Errorf("Update: got error %v, want fn's error", err)
		}
		if got := MustGet(t, s, sku); !sameItem(got, want) {
			t.Errorf("Get after fn failed: got %+v, want it unchanged, %+v", got, want)
		}
	})

	t.Run("a new SKU whose fn fails is neither stored nor listed", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("never")
		refused := errors.New("refused by fn")
		err := s.Update(ctx, sku, func(inventory.Item, bool) (inventory.Item, error) {
			return inventory.Item{SKU: sku, Available: 1}, refused
		})
		if !errors.Is(err, refused) {
			t.Errorf("Update: got error %v, want fn's error", err)
		}
		if _, err := s.Get(ctx, sku); !errors.Is(err, inventory.ErrUnknownSKU) {
			t.Errorf("Get after fn failed: got error %v, want ErrUnknownSKU", err)
		}
		if got, n := listed(t, s, sku); n != 0 {
			t.Errorf("List after fn failed: got %+v, want the SKU not listed", got)
		}
	})

	t.Run("an item round-trips whole: counts and every order's hold", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("holds")
		// Order ids are UUIDs in production; the odd one checks that ids
		// are stored as they are, not as keys of some encoding.
		want := inventory.Item{SKU: sku, Available: 6, Reserved: 9, Holds: map[string]int{
			"0b5e4c1e-7a59-4f0c-9f8e-2d1c3b4a5f60": 4,
			"o-2":                                  2,
			"odd id/with:punctuation.and ünicode":  3,
		}}
		mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) { return want, nil })
		if got := MustGet(t, s, sku); !sameItem(got, want) {
			t.Errorf("Get: got %+v, want %+v", got, want)
		}
		if got, n := listed(t, s, sku); n != 1 || !sameItem(got, want) {
			t.Errorf("List: got %+v %d time(s), want %+v once", got, n, want)
		}

		// Releasing the last hold leaves no holds: nil and empty are the
		// same to the domain, and an encoding may turn one into the other.
		released := inventory.Item{SKU: sku, Available: 15}
		mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) {
			return inventory.Item{SKU: sku, Available: 15, Holds: map[string]int{}}, nil
		})
		if got := MustGet(t, s, sku); !sameItem(got, released) {
			t.Errorf("Get after the last release: got %+v, want %+v", got, released)
		}
		err := s.Update(ctx, sku, func(item inventory.Item, _ bool) (inventory.Item, error) {
			if len(item.Holds) != 0 {
				t.Errorf("fn after the last release: got holds %v, want none", item.Holds)
			}
			return item, nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	})

	t.Run("items read or written share nothing with what is stored", func(t *testing.T) {
		s := newStore(t)
		sku := newSKU("copies")
		written := inventory.Item{SKU: sku, Available: 2, Reserved: 1, Holds: map[string]int{"o-1": 1}}
		want := inventory.Item{SKU: sku, Available: 2, Reserved: 1, Holds: map[string]int{"o-1": 1}}
		mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) { return written, nil })
		written.Holds["o-1"] = 99
		read := MustGet(t, s, sku)
		read.Holds["o-2"] = 99
		if got := MustGet(t, s, sku); !sameItem(got, want) {
			t.Errorf("Get after changing the holds written and read: got %+v, want %+v", got, want)
		}
	})

	t.Run("concurrent Updates of one SKU all take effect", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("race")
		const perWriter, start = 4, 100
		mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) {
			return inventory.Item{SKU: sku, Available: start}, nil
		})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					order := fmt.Sprintf("o-%d-%d", w, i)
					err := s.Update(ctx, sku, func(item inventory.Item, _ bool) (inventory.Item, error) {
						item.Available--
						item.Reserved++
						if item.Holds == nil {
							item.Holds = map[string]int{}
						}
						item.Holds[order] = 1
						return item, nil
					})
					if err != nil {
						t.Errorf("Update for %s: %v", order, err)
					}
				}
			})
		}
		wg.Wait()
		const n = writers * perWriter
		got := MustGet(t, s, sku)
		if got.Available != start-n || got.Reserved != n || len(got.Holds) != n {
			t.Errorf("after %d concurrent updates: got available %d, reserved %d, %d holds; want %d, %d, %d (an update was lost)",
				n, got.Available, got.Reserved, len(got.Holds), start-n, n, n)
		}
	})

	t.Run("concurrent first writes of one new SKU: one creates it, the others update it", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		sku := newSKU("first")
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				err := s.Update(ctx, sku, func(item inventory.Item, exists bool) (inventory.Item, error) {
					if !exists {
						item = inventory.Item{SKU: sku}
					}
					item.Available++
					return item, nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			})
		}
		wg.Wait()
		if got := MustGet(t, s, sku); got.Available != writers {
			t.Errorf("after %d concurrent first writes: got available %d, want %d (a create overwrote another)", writers, got.Available, writers)
		}
		if _, n := listed(t, s, sku); n != 1 {
			t.Errorf("List: got the SKU %d time(s), want once", n)
		}
	})

	t.Run("concurrent creation of different SKUs: List has them all", func(t *testing.T) {
		s, ctx := newStore(t), contracttest.Context(t)
		skus := make([]string, writers)
		for i := range skus {
			skus[i] = newSKU("many-" + strconv.Itoa(i))
		}
		var wg sync.WaitGroup
		for i, sku := range skus {
			wg.Go(func() {
				err := s.Update(ctx, sku, func(inventory.Item, bool) (inventory.Item, error) {
					return inventory.Item{SKU: sku, Available: i}, nil
				})
				if err != nil {
					t.Errorf("Update %s: %v", sku, err)
				}
			})
		}
		wg.Wait()
		items := list(t, s)
		for i, sku := range skus {
			if got, n := find(items, sku); n != 1 || got.Available != i {
				t.Errorf("List: got %s %d time(s) with available %d, want once with %d (a create lost the race for the index)", sku, n, got.Available, i)
			}
		}
	})

	t.Run("List returns items in SKU order", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"order-c", "order-a", "order-b"} {
			sku := newSKU(name)
			mustUpdate(t, s, sku, func(inventory.Item, bool) (inventory.Item, error) {
				return inventory.Item{SKU: sku, Available: 1}, nil
			})
		}
		items := list(t, s)
		skus := make([]string, len(items))
		for i, it := range items {
			skus[i] = it.SKU
		}
		if !slices.IsSorted(skus) {
			t.Errorf("List: got SKUs %v, want them sorted", skus)
		}
	})
}

// mustUpdate runs s.Update, ending the test if it fails.
func mustUpdate(t *testing.T, s inventory.Store, sku string, fn func(inventory.Item, bool) (inventory.Item, error)) {
	t.Helper()
	if err := s.Update(contracttest.Context(t), sku, fn); err != nil {
		t.Fatalf("Update %s: %v", sku, err)
	}
}

// list returns what s.List returns, ending the test if it fails.
func list(t *testing.T, s inventory.Store) []inventory.Item {
	t.Helper()
	items, err := s.List(contracttest.Context(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return items
}

// listed returns the item List shows for sku and how many times it shows it.
func listed(t *testing.T, s inventory.Store, sku string) (inventory.Item, int) {
	t.Helper()
	return find(list(t, s), sku)
}

// find returns the item for sku in items and how many items have that SKU.
func find(items []inventory.Item, sku string) (inventory.Item, int) {
	var found inventory.Item
	n := 0
	for _, it := range items {
		if it.SKU == sku {
			found = it
			n++
		}
	}
	return found, n
}

// sameItem reports whether a and b hold the same stock. No holds at all, nil
// or empty, are the same: the domain reads both alike.
func sameItem(a, b inventory.Item) bool {
	return a.SKU == b.SKU && a.Available == b.Available && a.Reserved == b.Reserved && maps.Equal(a.Holds, b.Holds)
}
