// Package ordertest provides in-memory implementations of the interfaces
// package order consumes, for tests of the code that uses them, and the
// contract suites (TestRepository, TestIdempotencyKeys) that every
// implementation, fake or Dapr-backed, must pass: the fakes are only as
// good as their agreement with the real adapters, and running one suite
// against both is what keeps them agreeing.
package ordertest

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// Repository is an in-memory order.Repository that keeps, in order, every
// event it saved. It is safe for concurrent use. Set its error fields
// before the code under test runs, not while it runs.
type Repository struct {
	// GetErr, CreateErr and UpdateErr, when set, make every call of that
	// method fail with them, changing nothing: a store that is down.
	GetErr, CreateErr, UpdateErr error

	mu     sync.Mutex
	orders map[string]order.Order
	events []events.Order
}

// NewRepository returns an empty Repository.
func NewRepository() *Repository {
	return &Repository{orders: map[string]order.Order{}}
}

// Get returns the order with id, or order.ErrNotFound; as a store would,
// it fails once ctx is done.
func (r *Repository) Get(ctx context.Context, id string) (order.Order, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.GetErr != nil {
		return order.Order{}, r.GetErr
	}
	if err := ctx.Err(); err != nil {
		return order.Order{}, err
	}
	o, ok := r.orders[id]
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	return clone(o), nil
}

// Create stores o and its event, unless an order with o's id exists.
func (r *Repository) Create(_ context.Context, o order.Order, event events.Order) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.CreateErr != nil {
		return r.CreateErr
	}
	if _, ok := r.orders[o.ID]; ok {
		return errors.New("order " + o.ID + " exists")
	}
	r.orders[o.ID] = clone(o)
	r.events = append(r.events, event)
	return nil
}

// Update applies fn to the stored order and stores the result with fn's
// event. It holds its lock while fn runs, so nobody can change the order
// meanwhile and fn runs once.
func (r *Repository) Update(_ context.Context, id string, fn func(order.Order) (order.Order, *events.Order, error)) (order.Order, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.UpdateErr != nil {
		return order.Order{}, r.UpdateErr
	}
	o, ok := r.orders[id]
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	o, e, err := fn(clone(o))
	if err != nil {
		return order.Order{}, err
	}
	if e != nil {
		r.orders[id] = clone(o)
		r.events = append(r.events, *e)
	}
	return o, nil
}

// Len returns how many orders r holds.
func (r *Repository) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.orders)
}

// Events returns the events r saved, oldest first: what a real store's
// outbox would publish.
func (r *Repository) Events() []events.Order {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// clone copies o's slices, so that the stored order is a value, as it is in
// a real store: what a caller does to its copy later does not reach it.
func clone(o order.Order) order.Order {
	o.Items = slices.Clone(o.Items)
	o.Shortages = slices.Clone(o.Shortages)
	return o
}

// IdempotencyKeys is an in-memory order.IdempotencyKeys whose keys never
// expire. It is safe for concurrent use.
type IdempotencyKeys struct {
	mu       sync.Mutex
	bindings map[string]binding
}

type binding struct {
	orderID, fingerprint string
}

// NewIdempotencyKeys returns IdempotencyKeys with no key bound.
func NewIdempotencyKeys() *IdempotencyKeys {
	return &IdempotencyKeys{bindings: map[string]binding{}}
}

// Claim binds key to orderID unless it is bound already.
func (k *IdempotencyKeys) Claim(_ context.Context, key, fingerprint, orderID string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.bindings[key]; ok {
		if b.fingerprint != fingerprint {
			return "", order.ErrKeyReused
		}
		return b.orderID, nil
	}
	k.bindings[key] = binding{orderID: orderID, fingerprint: fingerprint}
	return orderID, nil
}

// Inventory is an in-memory order.Inventory with unlimited stock: it
// records which orders hold a reservation, and how often it was asked. Like
// the real one it is idempotent per order id. It is safe for concurrent
// use. Set ReserveErr before the code under test runs, not while it runs.
type Inventory struct {
	// ReserveErr, when set, is what every Reserve returns, reserving
	// nothing: an *order.InsufficientStockError or *order.UnknownSKUError
	// as the inventory service answers them, or any other error as a
	// failed invocation.
	ReserveErr error

	mu       sync.Mutex
	held     map[string]bool
	reserves int
	releases int
}

// NewInventory returns an Inventory where no order holds stock.
func NewInventory() *Inventory {
	return &Inventory{held: map[string]bool{}}
}

// Reserve holds stock for orderID, or returns ReserveErr.
func (inv *Inventory) Reserve(_ context.Context, orderID string, _ []order.Line) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.reserves++
	if inv.ReserveErr != nil {
		return inv.ReserveErr
	}
	inv.held[orderID] = true
	return nil
}

// Release gives back what orderID holds, if anything.
func (inv *Inventory) Release(_ context.Context, orderID string, _ []order.Line) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.releases++
	delete(inv.held, orderID)
	return nil
}

// Holds reports whether orderID holds stock.
func (inv *Inventory) Holds(orderID string) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.held[orderID]
}

// Held returns how many orders hold stock.
func (inv *Inventory) Held() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return len(inv.held)
}

// Reserves returns how many times Reserve was called, failed calls included.
func (inv *Inventory) Reserves() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.reserves
}

// Releases returns how many times Release was called.
func (inv *Inventory) Releases() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.releases
}
