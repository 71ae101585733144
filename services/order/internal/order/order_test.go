package order_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// fakeInventory records what it was asked and answers as told.
type fakeInventory struct {
	mu         sync.Mutex
	reserveErr error
	reserved   map[string]bool // order ids currently holding stock
	releases   int
}

func (f *fakeInventory) Reserve(_ context.Context, id string, _ []order.Line) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reserveErr != nil {
		return f.reserveErr
	}
	f.reserved[id] = true
	return nil
}

func (f *fakeInventory) Release(_ context.Context, id string, _ []order.Line) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases++
	delete(f.reserved, id)
	return nil
}

// fakeRepo keeps orders and the events saved with them.
type fakeRepo struct {
	mu        sync.Mutex
	orders    map[string]order.Order
	events    []events.Order
	createErr error
}

func (r *fakeRepo) Get(_ context.Context, id string) (order.Order, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.orders[id]
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	return o, nil
}

func (r *fakeRepo) Create(_ context.Context, o order.Order, e events.Order) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.createErr != nil {
		return r.createErr
	}
	if _, ok := r.orders[o.ID]; ok {
		return errors.New("order exists")
	}
	r.orders[o.ID] = o
	r.events = append(r.events, e)
	return nil
}

// count returns how many saved events are of eventType.
func (r *fakeRepo) count(eventType string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == eventType {
			n++
		}
	}
	return n
}

func (r *fakeRepo) Update(_ context.Context, id string, fn func(order.Order) (order.Order, *events.Order, error)) (order.Order, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.orders[id]
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	o, e, err := fn(o)
	if err != nil {
		return order.Order{}, err
	}
	if e != nil {
		r.orders[id] = o
		r.events = append(r.events, *e)
	}
	return o, nil
}

// fakeKeys binds idempotency keys in memory.
type fakeKeys struct {
	mu       sync.Mutex
	bindings map[string][2]string // key -> order id, fingerprint
}

func (k *fakeKeys) Claim(_ context.Context, key, fingerprint, orderID string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.bindings[key]; ok {
		if b[1] != fingerprint {
			return "", order.ErrKeyReused
		}
		return b[0], nil
	}
	k.bindings[key] = [2]string{orderID, fingerprint}
	return orderID, nil
}

func newService() (*order.Service, *fakeInventory, *fakeRepo) {
	inv := &fakeInventory{reserved: map[string]bool{}}
	repo := &fakeRepo{orders: map[string]order.Order{}}
	keys := &fakeKeys{bindings: map[string][2]string{}}
	var mu sync.Mutex
	n := 0
	newID := func() string { mu.Lock(); defer mu.Unlock(); n++; return fmt.Sprintf("id-%d", n) }
	now := func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }
	return order.NewService(inv, repo, keys, newID, now), inv, repo
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
	if o.Status != order.StatusConfirmed || !inv.reserved[o.ID] {
		t.Errorf("got status %s, reserved %v; want confirmed and reserved", o.Status, inv.reserved[o.ID])
	}
	if len(repo.events) != 1 || repo.events[0].Type != events.TypeOrderConfirmed || repo.events[0].OrderID != o.ID {
		t.Errorf("events: got %+v, want one confirmed event for %s", repo.events, o.ID)
	}
	if want := o.ID + ".confirmed"; repo.events[0].EventID != want {
		t.Errorf("event id: got %q, want %q, naming the transition", repo.events[0].EventID, want)
	}
}

func TestPlaceRejectsOnInsufficientStock(t *testing.T) {
	svc, inv, repo := newService()
	inv.reserveErr = &order.InsufficientStockError{Shortages: []order.Shortage{{SKU: "SKU-1", Requested: 2, Available: 1}}}
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
	inv.reserveErr = &order.UnknownSKUError{SKU: "NOPE"}
	_, err := place(svc, "", "c-1", []order.Line{{SKU: "NOPE", Quantity: 1}})
	var unknown *order.UnknownSKUError
	if !errors.As(err, &unknown) || unknown.SKU != "NOPE" {
		t.Fatalf("Place: got %v, want *UnknownSKUError for NOPE", err)
	}
	if len(repo.orders) != 0 || len(repo.events) != 0 {
		t.Errorf("stored %d orders and %d events, want none", len(repo.orders), len(repo.events))
	}
}

func TestPlaceReleasesStockWhenSavingFails(t *testing.T) {
	svc, inv, repo := newService()
	repo.createErr = errors.New("store down")
	if _, err := place(svc, "", "c-1", oneLine); err == nil {
		t.Fatal("Place: got nil, want the store's error")
	}
	if len(inv.reserved) != 0 || inv.releases != 1 {
		t.Errorf("got %d orders holding stock after %d releases, want 0 after 1", len(inv.reserved), inv.releases)
	}
}

func TestPlaceReleasesStockWhenReserveFailsUnclearly(t *testing.T) {
	svc, inv, _ := newService()
	inv.reserveErr = errors.New("invocation timed out")
	if _, err := place(svc, "", "c-1", oneLine); err == nil {
		t.Fatal("Place: got nil, want the invocation's error")
	}
	if inv.releases != 1 {
		t.Errorf("got %d releases, want 1: the reservation may have happened", inv.releases)
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
	if len(inv.reserved) != 0 || inv.releases != 0 || len(repo.orders) != 0 {
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
		got, err := svc.Cancel(ctx, o.ID)
		if err != nil || got.Status != order.StatusCancelled {
			t.Fatalf("Cancel #%d: got %+v, %v; want a cancelled order", i+1, got, err)
		}
	}
	if inv.reserved[o.ID] {
		t.Error("stock still held after cancel")
	}
	if cancelled := repo.count(events.TypeOrderCancelled); cancelled != 1 {
		t.Errorf("cancelled events: got %d after two cancels, want 1", cancelled)
	}
}

func TestCancelRefusals(t *testing.T) {
	svc, inv, _ := newService()
	ctx := context.Background()
	if _, err := svc.Cancel(ctx, "no-such-order"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("cancel unknown: got %v, want ErrNotFound", err)
	}
	if _, err := svc.Cancel(ctx, "../etc"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("cancel odd id: got %v, want ErrNotFound", err)
	}
	inv.reserveErr = &order.InsufficientStockError{}
	rejected, _ := place(svc, "", "c-1", oneLine)
	if _, err := svc.Cancel(ctx, rejected.ID); !errors.Is(err, order.ErrNotCancellable) {
		t.Errorf("cancel rejected: got %v, want ErrNotCancellable", err)
	}
}

// countingInventory counts reservations, to show replays reserve nothing.
type countingInventory struct {
	fakeInventory
	reserves int
}

func (c *countingInventory) Reserve(ctx context.Context, id string, lines []order.Line) error {
	c.mu.Lock()
	c.reserves++
	c.mu.Unlock()
	return c.fakeInventory.Reserve(ctx, id, lines)
}

func TestIdempotencyKeyReplaysTheFirstAnswer(t *testing.T) {
	inv := &countingInventory{fakeInventory: fakeInventory{reserved: map[string]bool{}}}
	repo := &fakeRepo{orders: map[string]order.Order{}}
	n := 0
	svc := order.NewService(inv, repo, &fakeKeys{bindings: map[string][2]string{}},
		func() string { n++; return fmt.Sprintf("id-%d", n) }, time.Now)

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
	if inv.reserves != 1 || len(repo.orders) != 1 {
		t.Errorf("after 3 replays: %d reservations and %d orders, want 1 and 1", inv.reserves, len(repo.orders))
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
	if len(seen) != 1 || len(repo.orders) != 1 || len(inv.reserved) != 1 {
		t.Errorf("got answers naming %d orders, %d stored, %d holding stock; want 1, 1, 1", len(seen), len(repo.orders), len(inv.reserved))
	}
	if confirmed := repo.count(events.TypeOrderConfirmed); confirmed != 1 {
		t.Errorf("confirmed events: got %d, want 1", confirmed)
	}
}

func TestIdempotencyKeyFinishesAHalfDoneRequest(t *testing.T) {
	svc, inv, repo := newService()
	repo.createErr = errors.New("store down")
	if _, err := place(svc, "k-1", "c-1", oneLine); err == nil {
		t.Fatal("first request: got nil, want the store's error")
	}
	repo.createErr = nil
	o, err := place(svc, "k-1", "c-1", oneLine)
	if err != nil || o.Status != order.StatusConfirmed {
		t.Fatalf("retry: got %+v, %v; want a confirmed order", o, err)
	}
	if o.ID != "id-1" || len(inv.reserved) != 1 {
		t.Errorf("retry: got order %s with %d orders holding stock, want id-1 (bound to the key first) and 1", o.ID, len(inv.reserved))
	}
}

func TestIdempotencyKeyMustBePrintable(t *testing.T) {
	svc, _, _ := newService()
	for _, key := range []string{"with space", "tab\t", strings.Repeat("k", 129), "ключ"} {
		if _, err := place(svc, key, "c-1", oneLine); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("key %q: got %v, want ErrInvalid", key, err)
		}
	}
}

func TestReplayOfARejectedOrderReportsTheShortage(t *testing.T) {
	svc, inv, _ := newService()
	inv.reserveErr = &order.InsufficientStockError{Shortages: []order.Shortage{{SKU: "SKU-1", Requested: 2, Available: 0}}}
	first, err := place(svc, "k-1", "c-1", oneLine)
	var short *order.InsufficientStockError
	if !errors.As(err, &short) {
		t.Fatalf("first: got %v, want *InsufficientStockError", err)
	}
	inv.reserveErr = nil // stock arrived meanwhile: the replay still answers as the first did
	again, err := place(svc, "k-1", "c-1", oneLine)
	if !errors.As(err, &short) || again.ID != first.ID || len(short.Shortages) != 1 {
		t.Errorf("replay: got %+v, %v; want the rejected order %s and its shortage", again, err, first.ID)
	}
	if len(inv.reserved) != 0 {
		t.Errorf("replay of a rejected order holds stock for %d orders, want 0", len(inv.reserved))
	}
}
