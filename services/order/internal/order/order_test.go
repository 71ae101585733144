package order_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/order/internal/order"
	"github.com/daprshop/daprshop/services/order/internal/order/ordertest"
)

func newService() (*order.Service, *ordertest.Inventory, *ordertest.Repository) {
	inv, repo := ordertest.NewInventory(), ordertest.NewRepository()
	var n atomic.Int64
	newID := func() string { return fmt.Sprintf("id-%d", n.Add(1)) }
	now := func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }
	return order.NewService(inv, repo, ordertest.NewIdempotencyKeys(), newID, now, 0), inv, repo
}

// countEvents returns how many events repo saved of eventType.
func countEvents(repo *ordertest.Repository, eventType string) int {
	n := 0
	for _, e := range repo.Events() {
		if e.Type == eventType {
			n++
		}
	}
	return n
}

func place(svc *order.Service, key, customer string, lines []order.Line) (order.Order, error) {
	return svc.Place(context.Background(), order.PlaceRequest{IdempotencyKey: key, CustomerID: customer, Items: lines})
}

var oneLine = []order.Line{{SKU: "SKU-1", Quantity: 2}}

func TestPlaceConfirmsAndRecordsTheEvent(t *testing.T) {
	svc, inv, repo := newService()
	o, err := place(svc, "", "c-1", oneLine)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if o.Status != order.StatusConfirmed || !inv.Holds(o.ID) {
		t.Errorf("got status %s, reserved %v; want confirmed and reserved", o.Status, inv.Holds(o.ID))
	}
	saved := repo.Events()
	if len(saved) != 1 || saved[0].Type != events.TypeOrderConfirmed || saved[0].OrderID != o.ID {
		t.Fatalf("events: got %+v, want one confirmed event for %s", saved, o.ID)
	}
	if want := o.ID + ".confirmed"; saved[0].EventID != want {
		t.Errorf("event id: got %q, want %q, naming the transition", saved[0].EventID, want)
	}
}

func TestPlaceRejectsOnInsufficientStock(t *testing.T) {
	svc, inv, repo := newService()
	inv.ReserveErr = &order.InsufficientStockError{Shortages: []order.Shortage{{SKU: "SKU-1", Requested: 2, Available: 1}}}
	o, err := place(svc, "", "c-1", oneLine)
	var short *order.InsufficientStockError
	if !errors.As(err, &short) {
		t.Fatalf("Place: got %v, want *InsufficientStockError", err)
	}
	if short.OrderID != o.ID || o.Status != order.StatusRejected {
		t.Errorf("got order %+v and error for %q; want a rejected order named in the error", o, short.OrderID)
	}
	if stored, err := repo.Get(context.Background(), o.ID); err != nil || stored.Status != order.StatusRejected {
		t.Errorf("stored: got %+v, %v; want the rejected order", stored, err)
	}
}

func TestPlaceUnknownSKUStoresNothing(t *testing.T) {
	svc, inv, repo := newService()
	inv.ReserveErr = &order.UnknownSKUError{SKU: "NOPE"}
	_, err := place(svc, "", "c-1", []order.Line{{SKU: "NOPE", Quantity: 1}})
	var unknown *order.UnknownSKUError
	if !errors.As(err, &unknown) || unknown.SKU != "NOPE" {
		t.Fatalf("Place: got %v, want *UnknownSKUError for NOPE", err)
	}
	if repo.Len() != 0 || len(repo.Events()) != 0 {
		t.Errorf("stored %d orders and %d events, want none", repo.Len(), len(repo.Events()))
	}
}

func TestPlaceReleasesStockWhenSavingFails(t *testing.T) {
	svc, inv, repo := newService()
	repo.CreateErr = errors.New("store down")
	if _, err := place(svc, "", "c-1", oneLine); err == nil {
		t.Fatal("Place: got nil, want the store's error")
	}
	if inv.Held() != 0 || inv.Releases() != 1 {
		t.Errorf("got %d orders holding stock after %d releases, want 0 after 1", inv.Held(), inv.Releases())
	}
}

// A Create that failed because the request ran out of time (the client
// gone, say) still has its order looked up, and its stock released.
func TestPlaceReleasesStockWhenTheRequestRanOutOfTime(t *testing.T) {
	svc, inv, repo := newService()
	repo.CreateErr = context.DeadlineExceeded
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := svc.Place(ctx, order.PlaceRequest{CustomerID: "c-1", Items: oneLine}); err == nil {
		t.Fatal("Place: got nil, want the store's error")
	}
	if inv.Held() != 0 || inv.Releases() != 1 {
		t.Errorf("got %d orders holding stock after %d releases, want 0 after 1", inv.Held(), inv.Releases())
	}
}

func TestPlaceReleasesStockWhenReserveFailsUnclearly(t *testing.T) {
	svc, inv, _ := newService()
	inv.ReserveErr = errors.New("invocation timed out")
	if _, err := place(svc, "", "c-1", oneLine); err == nil {
		t.Fatal("Place: got nil, want the invocation's error")
	}
	if inv.Releases() != 1 {
		t.Errorf("got %d releases, want 1: the reservation may have happened", inv.Releases())
	}
}

func TestValidate(t *testing.T) {
	many := make([]order.Line, order.MaxLines+1)
	for i := range many {
		many[i] = order.Line{SKU: fmt.Sprintf("S-%d", i), Quantity: 1}
	}
	tests := []struct {
		name      string
		customer  string
		lines     []order.Line
		wantField string
	}{
		{"valid", "c-1", oneLine, ""},
		{"missing customer", "", oneLine, "customerId"},
		{"customer with a slash", "c/1", oneLine, "customerId"},
		{"customer too long", strings.Repeat("c", 65), oneLine, "customerId"},
		{"no items", "c-1", nil, "items"},
		{"too many items", "c-1", many, "items"},
		{"zero quantity", "c-1", []order.Line{{SKU: "A", Quantity: 0}}, "items[0].quantity"},
		{"negative quantity", "c-1", []order.Line{{SKU: "A", Quantity: -3}}, "items[0].quantity"},
		{"absurd quantity", "c-1", []order.Line{{SKU: "A", Quantity: order.MaxQuantity + 1}}, "items[0].quantity"},
		{"empty sku", "c-1", []order.Line{{SKU: "", Quantity: 1}}, "items[0].sku"},
		{"sku with spaces", "c-1", []order.Line{{SKU: "A B", Quantity: 1}}, "items[0].sku"},
		{"duplicate sku", "c-1", []order.Line{{SKU: "A", Quantity: 1}, {SKU: "A", Quantity: 2}}, "items[1].sku"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := order.Validate(tc.customer, tc.lines)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var v *order.ValidationError
			if !errors.As(err, &v) || !errors.Is(err, order.ErrInvalid) {
				t.Fatalf("got %v, want a *ValidationError matching ErrInvalid", err)
			}
			if v.Field != tc.wantField {
				t.Errorf("field: got %q, want %q", v.Field, tc.wantField)
			}
		})
	}
}

func TestPlaceInvalidTouchesNothing(t *testing.T) {
	svc, inv, repo := newService()
	if _, err := place(svc, "", "", oneLine); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	if inv.Held() != 0 || inv.Releases() != 0 || repo.Len() != 0 {
		t.Error("an invalid order reached inventory or the store")
	}
}

func TestCancel(t *testing.T) {
	svc, inv, repo := newService()
	ctx := context.Background()
	o, err := place(svc, "", "c-1", oneLine)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := svc.Cancel(ctx, o.ID, "c-1")
		if err != nil || got.Status != order.StatusCancelled {
			t.Fatalf("Cancel #%d: got %+v, %v; want a cancelled order", i+1, got, err)
		}
	}
	if inv.Holds(o.ID) {
		t.Error("stock still held after cancel")
	}
	if cancelled := countEvents(repo, events.TypeOrderCancelled); cancelled != 1 {
		t.Errorf("cancelled events: got %d after two cancels, want 1", cancelled)
	}
}

// A customer reads and cancels only their own orders: another customer's
// is not found, as an id that names no order, and its stock stays held.
func TestCustomersSeeOnlyTheirOwnOrders(t *testing.T) {
	svc, inv, _ := newService()
	ctx := context.Background()
	o, err := place(svc, "", "c-1", oneLine)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Get(ctx, o.ID, "c-1"); err != nil || got.ID != o.ID {
		t.Errorf("owner's Get: got %+v, %v", got, err)
	}
	if got, err := svc.Get(ctx, o.ID, "c-2"); !errors.Is(err, order.ErrNotFound) || got.ID != "" {
		t.Errorf("another customer's Get: got %+v, %v; want ErrNotFound", got, err)
	}
	if got, err := svc.Cancel(ctx, o.ID, "c-2"); !errors.Is(err, order.ErrNotFound) || got.ID != "" {
		t.Errorf("another customer's Cancel: got %+v, %v; want ErrNotFound", got, err)
	}
	if got, err := svc.Get(ctx, o.ID, "c-1"); err != nil || got.Status != order.StatusConfirmed || !inv.Holds(o.ID) || inv.Releases() != 0 {
		t.Errorf("after another customer's cancel: got %+v, %v, held %v, %d releases; want it confirmed and its stock held",
			got, err, inv.Holds(o.ID), inv.Releases())
	}
	if got, err := svc.Get(ctx, o.ID, order.AnyCustomer); err != nil || got.ID != o.ID {
		t.Errorf("Get for any customer (an operator): got %+v, %v", got, err)
	}
}

// Idempotency keys are each customer's own: the same key from two
// customers places two orders.
func TestIdempotencyKeysAreEachCustomersOwn(t *testing.T) {
	svc, _, repo := newService()
	a, errA := place(svc, "key-1", "c-1", oneLine)
	b, errB := place(svc, "key-1", "c-2", oneLine)
	if errA != nil || errB != nil || a.ID == b.ID || b.CustomerID != "c-2" || repo.Len() != 2 {
		t.Errorf("got %+v (%v) and %+v (%v), %d stored; want two orders, one each", a, errA, b, errB, repo.Len())
	}
	if again, err := place(svc, "key-1", "c-2", oneLine); err != nil || again.ID != b.ID {
		t.Errorf("c-2 repeating its key: got %+v, %v; want its order %s", again, err, b.ID)
	}
}

func TestCancelRefusals(t *testing.T) {
	svc, inv, _ := newService()
	ctx := context.Background()
	if _, err := svc.Cancel(ctx, "no-such-order", "c-1"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("cancel unknown: got %v, want ErrNotFound", err)
	}
	if _, err := svc.Cancel(ctx, "../etc", "c-1"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("cancel odd id: got %v, want ErrNotFound", err)
	}
	inv.ReserveErr = &order.InsufficientStockError{}
	rejected, _ := place(svc, "", "c-1", oneLine)
	if _, err := svc.Cancel(ctx, rejected.ID, "c-1"); !errors.Is(err, order.ErrNotCancellable) {
		t.Errorf("cancel rejected: got %v, want ErrNotCancellable", err)
	}
}

func TestIdempotencyKeyReplaysTheFirstAnswer(t *testing.T) {
	svc, inv, repo := newService()

	first, err := place(svc, "k-1", "c-1", oneLine)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := place(svc, "k-1", "c-1", oneLine)
		if err != nil || again.ID != first.ID {
			t.Fatalf("replay: got %s, %v; want order %s", again.ID, err, first.ID)
		}
	}
	if inv.Reserves() != 1 || repo.Len() != 1 {
		t.Errorf("after 3 replays: %d reservations and %d orders, want 1 and 1", inv.Reserves(), repo.Len())
	}
	other, err := place(svc, "k-2", "c-1", oneLine)
	if err != nil || other.ID == first.ID {
		t.Errorf("another key: got %s, %v; want a new order", other.ID, err)
	}
	if _, err := place(svc, "k-1", "c-1", []order.Line{{SKU: "SKU-9", Quantity: 1}}); !errors.Is(err, order.ErrKeyReused) {
		t.Errorf("key reused for another order: got %v, want ErrKeyReused", err)
	}
}

func TestIdempotencyKeyConcurrentRequestsMakeOneOrder(t *testing.T) {
	svc, inv, repo := newService()
	const requests = 20
	ids := make(chan string, requests)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			o, err := place(svc, "k-1", "c-1", oneLine)
			if err != nil {
				t.Error(err)
			}
			ids <- o.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 || repo.Len() != 1 || inv.Held() != 1 {
		t.Errorf("got answers naming %d orders, %d stored, %d holding stock; want 1, 1, 1", len(seen), repo.Len(), inv.Held())
	}
	if confirmed := countEvents(repo, events.TypeOrderConfirmed); confirmed != 1 {
		t.Errorf("confirmed events: got %d, want 1", confirmed)
	}
}

func TestIdempotencyKeyFinishesAHalfDoneRequest(t *testing.T) {
	svc, inv, repo := newService()
	repo.CreateErr = errors.New("store down")
	if _, err := place(svc, "k-1", "c-1", oneLine); err == nil {
		t.Fatal("first request: got nil, want the store's error")
	}
	repo.CreateErr = nil
	o, err := place(svc, "k-1", "c-1", oneLine)
	if err != nil || o.Status != order.StatusConfirmed {
		t.Fatalf("retry: got %+v, %v; want a confirmed order", o, err)
	}
	if o.ID != "id-1" || inv.Held() != 1 {
		t.Errorf("retry: got order %s with %d orders holding stock, want id-1 (bound to the key first) and 1", o.ID, inv.Held())
	}
}

func TestIdempotencyKeyMustBePrintable(t *testing.T) {
	svc, _, _ := newService()
	for _, key := range []string{"with space", "tab\t", strings.Repeat("k", 129), "ключ", "a||b", "||"} {
		if _, err := place(svc, key, "c-1", oneLine); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("key %q: got %v, want ErrInvalid", key, err)
		}
	}
}

func TestReplayOfARejectedOrderReportsTheShortage(t *testing.T) {
	svc, inv, _ := newService()
	inv.ReserveErr = &order.InsufficientStockError{Shortages: []order.Shortage{{SKU: "SKU-1", Requested: 2, Available: 0}}}
	first, err := place(svc, "k-1", "c-1", oneLine)
	var short *order.InsufficientStockError
	if !errors.As(err, &short) {
		t.Fatalf("first: got %v, want *InsufficientStockError", err)
	}
	inv.ReserveErr = nil // stock arrived meanwhile: the replay still answers as the first did
	again, err := place(svc, "k-1", "c-1", oneLine)
	if !errors.As(err, &short) || again.ID != first.ID || len(short.Shortages) != 1 {
		t.Errorf("replay: got %+v, %v; want the rejected order %s and its shortage", again, err, first.ID)
	}
	if inv.Held() != 0 {
		t.Errorf("replay of a rejected order holds stock for %d orders, want 0", inv.Held())
	}
}

func TestCancelWithinTheWindowOnly(t *testing.T) {
	inv, repo := ordertest.NewInventory(), ordertest.NewRepository()
	var n atomic.Int64
	newID := func() string { return fmt.Sprintf("id-%d", n.Add(1)) }
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := order.NewService(inv, repo, ordertest.NewIdempotencyKeys(), newID, func() time.Time { return clock }, time.Hour)
	ctx := context.Background()
	early, err := place(svc, "", "c-1", oneLine)
	if err != nil {
		t.Fatal(err)
	}
	late, err := place(svc, "", "c-1", oneLine)
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour - time.Second)
	if _, err := svc.Cancel(ctx, early.ID, order.AnyCustomer); err != nil {
		t.Fatalf("cancel a second before the window closes: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := svc.Cancel(ctx, late.ID, order.AnyCustomer); !errors.Is(err, order.ErrNotCancellable) {
		t.Errorf("cancel once the window closed: got %v, want ErrNotCancellable", err)
	}
	if !inv.Holds(late.ID) {
		t.Error("the order refused a cancel but gave its stock back")
	}
	// Cancelling again what was cancelled in time still succeeds.
	if got, err := svc.Cancel(ctx, early.ID, order.AnyCustomer); err != nil || got.Status != order.StatusCancelled {
		t.Errorf("cancel again after the window: got %+v, %v; want the cancelled order", got, err)
	}
}
