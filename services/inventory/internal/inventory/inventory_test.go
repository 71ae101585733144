package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory/inventorytest"
)

func stock(sku string, available int) inventory.Item {
	return inventory.Item{SKU: sku, Available: available}
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name          string
		lines         []inventory.Line
		wantErr       error
		wantAvailable map[string]int
	}{
		{
			name:          "one line",
			lines:         []inventory.Line{{SKU: "A", Quantity: 3}},
			wantAvailable: map[string]int{"A": 7, "B": 2},
		},
		{
			name:          "every unit",
			lines:         []inventory.Line{{SKU: "A", Quantity: 10}, {SKU: "B", Quantity: 2}},
			wantAvailable: map[string]int{"A": 0, "B": 0},
		},
		{
			name:          "short on the second line reserves nothing",
			lines:         []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 3}},
			wantErr:       &inventory.InsufficientStockError{},
			wantAvailable: map[string]int{"A": 10, "B": 2},
		},
		{
			name:          "short on the first line reserves nothing",
			lines:         []inventory.Line{{SKU: "B", Quantity: 3}, {SKU: "A", Quantity: 1}},
			wantErr:       &inventory.InsufficientStockError{},
			wantAvailable: map[string]int{"A": 10, "B": 2},
		},
		{
			name:          "unknown sku reserves nothing",
			lines:         []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "Z", Quantity: 1}},
			wantErr:       inventory.ErrUnknownSKU,
			wantAvailable: map[string]int{"A": 10, "B": 2},
		},
		{
			name:          "duplicate sku",
			lines:         []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "A", Quantity: 1}},
			wantErr:       inventory.ErrInvalid,
			wantAvailable: map[string]int{"A": 10, "B": 2},
		},
		{
			name:          "zero quantity",
			lines:         []inventory.Line{{SKU: "A", Quantity: 0}},
			wantErr:       inventory.ErrInvalid,
			wantAvailable: map[string]int{"A": 10, "B": 2},
		},
		{
			name:          "no lines",
			wantErr:       inventory.ErrInvalid,
			wantAvailable: map[string]int{"A": 10, "B": 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := inventorytest.NewStore(stock("A", 10), stock("B", 2))
			svc := inventory.NewService(store, inventory.Fulfilment{})

			err := svc.Reserve(context.Background(), "o-1", tc.lines)
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Reserve: got %v, want nil", err)
				}
			case *inventory.InsufficientStockError:
				if !errors.As(err, &want) {
					t.Fatalf("Reserve: got %v, want *InsufficientStockError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("Reserve: got %v, want %v", err, want)
				}
			}
			for sku, avail := range tc.wantAvailable {
				it := inventorytest.MustGet(t, store, sku)
				if it.Available != avail {
					t.Errorf("%s available: got %d, want %d", sku, it.Available, avail)
				}
				if total := it.Available + it.Reserved; total != map[string]int{"A": 10, "B": 2}[sku] {
					t.Errorf("%s available+reserved: got %d, want it unchanged", sku, total)
				}
			}
		})
	}
}

func TestReserveReportsEveryShortage(t *testing.T) {
	svc := inventory.NewService(inventorytest.NewStore(stock("A", 1), stock("B", 2)), inventory.Fulfilment{})
	err := svc.Reserve(context.Background(), "o-1", []inventory.Line{{SKU: "A", Quantity: 5}, {SKU: "B", Quantity: 6}})
	var short *inventory.InsufficientStockError
	if !errors.As(err, &short) {
		t.Fatalf("got %v, want *InsufficientStockError", err)
	}
	want := []inventory.Shortage{{SKU: "A", Requested: 5, Available: 1}, {SKU: "B", Requested: 6, Available: 2}}
	if fmt.Sprint(short.Shortages) != fmt.Sprint(want) {
		t.Errorf("shortages: got %v, want %v", short.Shortages, want)
	}
}

func TestReserveIsIdempotentPerOrder(t *testing.T) {
	store := inventorytest.NewStore(stock("A", 10))
	svc := inventory.NewService(store, inventory.Fulfilment{})
	lines := []inventory.Line{{SKU: "A", Quantity: 4}}
	for i := range 3 {
		if err := svc.Reserve(context.Background(), "o-1", lines); err != nil {
			t.Fatalf("Reserve #%d: %v", i+1, err)
		}
	}
	if it := inventorytest.MustGet(t, store, "A"); it.Available != 6 || it.Reserved != 4 {
		t.Errorf("after reserving one order 3 times: got available %d reserved %d, want 6 and 4", it.Available, it.Reserved)
	}
}

func TestReleaseIsIdempotent(t *testing.T) {
	store := inventorytest.NewStore(stock("A", 10))
	svc := inventory.NewService(store, inventory.Fulfilment{})
	ctx := context.Background()
	if err := svc.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 4}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Reserve(ctx, "o-2", []inventory.Line{{SKU: "A", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := svc.Release(ctx, "o-1", []string{"A"}); err != nil {
			t.Fatalf("Release #%d: %v", i+1, err)
		}
	}
	if it := inventorytest.MustGet(t, store, "A"); it.Available != 9 || it.Reserved != 1 {
		t.Errorf("after releasing o-1 3 times: got available %d reserved %d, want 9 and 1", it.Available, it.Reserved)
	}
	// An order that never reserved releases nothing.
	if err := svc.Release(ctx, "o-unknown", []string{"A"}); err != nil {
		t.Fatal(err)
	}
	if it := inventorytest.MustGet(t, store, "A"); it.Available != 9 || it.Reserved != 1 {
		t.Errorf("after releasing an unknown order: got available %d reserved %d, want 9 and 1", it.Available, it.Reserved)
	}
}

func TestReserveUndoesWhenTheStoreFails(t *testing.T) {
	store := inventorytest.NewStore(stock("A", 10), stock("B", 10))
	store.Fail = map[string]error{"B": inventorytest.ErrUnavailable}
	svc := inventory.NewService(store, inventory.Fulfilment{})
	err := svc.Reserve(context.Background(), "o-1", []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 1}})
	if err == nil {
		t.Fatal("Reserve: got nil, want the store's error")
	}
	if it := inventorytest.MustGet(t, store, "A"); it.Available != 10 || it.Reserved != 0 {
		t.Errorf("A after a failed reservation: got available %d reserved %d, want 10 and 0", it.Available, it.Reserved)
	}
}

func TestConcurrentReservesNeverOversell(t *testing.T) {
	const stockUnits, orders = 7, 40
	store := inventorytest.NewStore(stock("A", stockUnits))
	svc := inventory.NewService(store, inventory.Fulfilment{})
	var wg sync.WaitGroup
	errs := make(chan error, orders)
	for i := range orders {
		wg.Go(func() {
			errs <- svc.Reserve(context.Background(), fmt.Sprintf("o-%d", i), []inventory.Line{{SKU: "A", Quantity: 1}})
		})
	}
	wg.Wait()
	close(errs)
	confirmed := 0
	for err := range errs {
		var short *inventory.InsufficientStockError
		switch {
		case err == nil:
			confirmed++
		case !errors.As(err, &short):
			t.Errorf("unexpected error: %v", err)
		}
	}
	it := inventorytest.MustGet(t, store, "A")
	if confirmed != stockUnits || it.Available != 0 || it.Reserved != stockUnits {
		t.Errorf("got %d reserved orders, available %d, reserved %d; want %d, 0, %d", confirmed, it.Available, it.Reserved, stockUnits, stockUnits)
	}
}

func TestSeedKeepsExistingStock(t *testing.T) {
	store := inventorytest.NewStore(stock("A", 3))
	svc := inventory.NewService(store, inventory.Fulfilment{})
	if err := svc.Seed(context.Background(), []inventory.Item{stock("A", 100), stock("B", 5)}); err != nil {
		t.Fatal(err)
	}
	if got := inventorytest.MustGet(t, store, "A").Available; got != 3 {
		t.Errorf("A after seeding: got %d, want the existing 3", got)
	}
	if got := inventorytest.MustGet(t, store, "B").Available; got != 5 {
		t.Errorf("B after seeding: got %d, want 5", got)
	}
}

func TestRestock(t *testing.T) {
	store := inventorytest.NewStore(stock("A", 3))
	svc := inventory.NewService(store, inventory.Fulfilment{})
	ctx := context.Background()
	if it, err := svc.Restock(ctx, "A", 4); err != nil || it.Available != 7 {
		t.Errorf("Restock A: got %+v, %v; want available 7", it, err)
	}
	if it, err := svc.Restock(ctx, "NEW-1", 2); err != nil || it.Available != 2 || it.SKU != "NEW-1" {
		t.Errorf("Restock NEW-1: got %+v, %v; want a new SKU with 2 available", it, err)
	}
	for _, tc := range []struct {
		sku string
		qty int
	}{{"A", 0}, {"A", -1}, {"A", inventory.MaxQuantity + 1}, {"bad sku", 1}, {"", 1}} {
		if _, err := svc.Restock(ctx, tc.sku, tc.qty); !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("Restock(%q, %d): got %v, want ErrInvalid", tc.sku, tc.qty, err)
		}
	}
	if got := inventorytest.MustGet(t, store, "A").Available; got != 7 {
		t.Errorf("A after refused restocks: got %d, want 7", got)
	}
}

func TestHoldsAreFulfilledOnceTheirOrdersCannotBeCancelled(t *testing.T) {
	store := inventorytest.NewStore(stock("A", 10))
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := inventory.NewService(store, inventory.Fulfilment{After: time.Hour, Now: func() time.Time { return clock }})
	ctx := context.Background()
	if err := svc.Reserve(ctx, "o-old", []inventory.Line{{SKU: "A", Quantity: 4}}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(30 * time.Minute)
	if err := svc.Reserve(ctx, "o-new", []inventory.Line{{SKU: "A", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}

	// Just before the hour, the old hold may still be released; from it on,
	// the next write fulfils it and nothing releases it any more.
	clock = clock.Add(30*time.Minute - time.Second)
	if _, err := svc.Restock(ctx, "A", 1); err != nil {
		t.Fatal(err)
	}
	if it := inventorytest.MustGet(t, store, "A"); it.Holds["o-old"] != 4 || it.Fulfilled != 0 {
		t.Fatalf("a second before the hour: got %+v, want o-old still held", it)
	}
	clock = clock.Add(time.Second)
	if _, err := svc.Restock(ctx, "A", 1); err != nil {
		t.Fatal(err)
	}
	if err := svc.Release(ctx, "o-old", []string{"A"}); err != nil {
		t.Fatal(err)
	}
	it := inventorytest.MustGet(t, store, "A")
	want := inventory.Item{SKU: "A", Available: 7, Reserved: 1, Fulfilled: 4,
		Holds: map[string]int{"o-new": 1}, HeldSince: map[string]int64{"o-new": clock.Add(-30 * time.Minute).Unix()}}
	if !reflect.DeepEqual(it, want) {
		t.Errorf("an hour after o-old's hold:\n got %+v\nwant %+v", it, want)
	}
	if it.Available+it.Reserved+it.Fulfilled != 12 {
		t.Errorf("stock not conserved: %+v for 10 restocked, then 2", it)
	}
}

func TestHoldsOfEarlierVersionsStartTheirClockAtTheNextWrite(t *testing.T) {
	store := inventorytest.NewStore(inventory.Item{SKU: "A", Available: 6, Reserved: 4, Holds: map[string]int{"o-legacy": 4}})
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := inventory.NewService(store, inventory.Fulfilment{After: time.Hour, Now: func() time.Time { return clock }})
	if _, err := svc.Restock(context.Background(), "A", 1); err != nil {
		t.Fatal(err)
	}
	if it := inventorytest.MustGet(t, store, "A"); it.Holds["o-legacy"] != 4 || it.HeldSince["o-legacy"] != clock.Unix() {
		t.Errorf("a hold without a time: got %+v, want it kept, from now", it)
	}
}
