// Package order holds the order rules: what a valid order is, how placing one
// reserves stock, and how cancelling one gives it back. It knows nothing of
// HTTP or Dapr; inventory, storage and events sit behind small interfaces.
package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/internal/ids"
)

// Status is where an order is in its lifecycle.
type Status string

// The lifecycle: an order is confirmed when its stock was reserved, rejected
// when it was not, and cancelled when a confirmed order gave its stock back.
const (
	StatusConfirmed Status = "confirmed"
	StatusRejected  Status = "rejected"
	StatusCancelled Status = "cancelled"
)

// Line is a SKU and the quantity ordered: the domain's, and with its JSON
// tags also how an order is stored and served. What other services see
// has types of its own (events.Line, inventoryapi.Line): those are
// contracts with them, which must not change when this one does.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Order is a customer's order.
type Order struct {
	ID         string `json:"id"`
	CustomerID string `json:"customerId"`
	Items      []Line `json:"items"`
	Status     Status `json:"status"`
	// Shortages says what ran short, for a rejected order.
	Shortages []Shortage `json:"shortages,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// Limits on one order.
const (
	MaxLines    = 50
	MaxQuantity = 10_000
)

// Errors returned by Service; match them with errors.Is or errors.As.
var (
	ErrNotFound = errors.New("order not found")
	// ErrInvalid is matched by every *ValidationError.
	ErrInvalid = errors.New("invalid order")
	// ErrNotCancellable: only confirmed orders can be cancelled.
	ErrNotCancellable = errors.New("order cannot be cancelled")
	// ErrKeyReused: an idempotency key came back with a different request.
	ErrKeyReused = errors.New("idempotency key was used for a different request")
)

// ValidationError says which field of a request is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// UnknownSKUError names an ordered SKU that inventory does not carry.
type UnknownSKUError struct {
	SKU string
}

func (e *UnknownSKUError) Error() string { return fmt.Sprintf("unknown sku %q", e.SKU) }

// Shortage says how much of a SKU was ordered and how much was available:
// the domain's, stored and served with a rejected order. The inventory
// adapter translates inventoryapi.Shortage, the wire form, into it.
type Shortage struct {
	SKU       string `json:"sku"`
	Requested int    `json:"requested"`
	Available int    `json:"available"`
}

// InsufficientStockError rejects an order because stock ran short. The
// rejected order is stored and readable under OrderID.
type InsufficientStockError struct {
	OrderID   string
	Shortages []Shortage
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("order %s rejected: insufficient stock for %d sku(s)", e.OrderID, len(e.Shortages))
}

// Inventory reserves and releases stock for an order. Both are idempotent per
// order id: calling them again for the same order changes nothing. Reserve
// returns *InsufficientStockError or *UnknownSKUError when it reserved nothing.
type Inventory interface {
	Reserve(ctx context.Context, orderID string, lines []Line) error
	Release(ctx context.Context, orderID string, lines []Line) error
}

// Repository stores orders together with the events that record their
// changes: an order and its event are saved atomically, and every saved event
// is eventually published. Create fails when an order with the same id
// exists. Update applies fn to the stored order and saves
// the result only if nobody changed the order meanwhile; fn may run more than
// once, and returns a nil event when it changed nothing.
type Repository interface {
	Get(ctx context.Context, id string) (Order, error)
	Create(ctx context.Context, o Order, event events.Order) error
	Update(ctx context.Context, id string, fn func(Order) (Order, *events.Order, error)) (Order, error)
}

// IdempotencyKeys binds idempotency keys to order ids. Claim binds key to
// orderID and returns orderID, unless key is bound already: then it returns
// the order id bound first, or ErrKeyReused when that binding was made for
// a request with another fingerprint.
type IdempotencyKeys interface {
	Claim(ctx context.Context, key, fingerprint, orderID string) (string, error)
}

// Service applies the order rules.
type Service struct {
	inventory    Inventory
	repo         Repository
	keys         IdempotencyKeys
	newID        func() string
	now          func() time.Time
	cancelWindow time.Duration
}

// NewService returns a Service. newID makes order ids; now tells the time;
// a confirmed order may be cancelled for cancelWindow after it was placed
// (0: for ever), after which inventory counts its stock as fulfilled.
func NewService(inventory Inventory, repo Repository, keys IdempotencyKeys, newID func() string, now func() time.Time, cancelWindow time.Duration) *Service {
	return &Service{inventory: inventory, repo: repo, keys: keys, newID: newID, now: now, cancelWindow: cancelWindow}
}

// Validate checks a new order's customer and lines.
func Validate(customerID string, lines []Line) error {
	if customerID == "" {
		return &ValidationError{Field: "customerId", Reason: "is required"}
	}
	if !ids.Valid(customerID) {
		return &ValidationError{Field: "customerId", Reason: ids.Rule}
	}
	if len(lines) == 0 {
		return &ValidationError{Field: "items", Reason: "must not be empty"}
	}
	if len(lines) > MaxLines {
		return &ValidationError{Field: "items", Reason: fmt.Sprintf("at most %d lines", MaxLines)}
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		field := fmt.Sprintf("items[%d]", i)
		if !ids.Valid(l.SKU) {
			return &ValidationError{Field: field + ".sku", Reason: ids.Rule}
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			return &ValidationError{Field: field + ".quantity", Reason: fmt.Sprintf("must be between 1 and %d", MaxQuantity)}
		}
		if seen[l.SKU] {
			return &ValidationError{Field: field + ".sku", Reason: "duplicates an earlier line; order each sku once"}
		}
		seen[l.SKU] = true
	}
	return nil
}

// ValidID reports whether id could be an order id, so malformed ids are
// refused before they reach the store.
func ValidID(id string) bool { return ids.Valid(id) }

// PlaceRequest asks for a new order.
type PlaceRequest struct {
	// IdempotencyKey, when set, makes the request safe to repeat: every
	// request with the same key answers with the same order, and reserves
	// its stock once.
	IdempotencyKey string
	CustomerID     string
	Items          []Line
}

// Place reserves the stock for a new order and stores it with its event. It
// returns the confirmed order; or, when stock ran short, the rejected order
// together with an *InsufficientStockError.
//
// A request that repeats an idempotency key gets the order of the first
// request with that key. The key is bound to an order id before anything
// else happens, and every step after is idempotent per order id, so a repeat
// that arrives while the first request is still in flight, or after it
// failed half-way, places that same order instead of a second one.
func (s *Service) Place(ctx context.Context, req PlaceRequest) (Order, error) {
	if err := Validate(req.CustomerID, req.Items); err != nil {
		return Order{}, err
	}
	id := s.newID()
	if req.IdempotencyKey != "" {
		if !ValidIdempotencyKey(req.IdempotencyKey) {
			return Order{}, &ValidationError{Field: "Idempotency-Key", Reason: "must be 1-128 printable ASCII characters, without '||'"}
		}
		// A key is the customer's own: two customers who chose the same
		// key place an order each, and neither learns of the other's.
		bound, err := s.keys.Claim(ctx, req.CustomerID+"/"+req.IdempotencyKey, fingerprint(req), id)
		if err != nil {
			return Order{}, err
		}
		if bound != id {
			o, err := s.repo.Get(ctx, bound)
			if err == nil {
				return o, outcome(o)
			}
			if !errors.Is(err, ErrNotFound) {
				return Order{}, err
			}
			id = bound // the first request has not stored its order yet
		}
	}
	return s.place(ctx, id, req)
}

func (s *Service) place(ctx context.Context, id string, req PlaceRequest) (Order, error) {
	now := s.now().UTC()
	o := Order{ID: id, CustomerID: req.CustomerID, Items: req.Items, CreatedAt: now, UpdatedAt: now}

	err := s.inventory.Reserve(ctx, o.ID, o.Items)
	var short *InsufficientStockError
	var unknown *UnknownSKUError
	switch {
	case err == nil:
		o.Status = StatusConfirmed
	case errors.As(err, &short):
		o.Status = StatusRejected
		o.Shortages = short.Shortages
	case errors.As(err, &unknown):
		return Order{}, err
	default:
		// The call may have failed after inventory reserved; giving back
		// what this order id might hold keeps stock from leaking.
		return Order{}, s.release(ctx, o, fmt.Errorf("reserve stock for %s: %w", o.ID, err))
	}
	return s.create(ctx, o)
}

// create stores o with its event. If an order with its id is stored
// already, a request with the same idempotency key got there first and its
// order is the answer; stock this request held for an order that did not end
// up confirmed goes back.
//
// Whether it was stored is looked up even when the request's time ran out
// (the Create failing for that reason: a broker that takes long to refuse
// the event, say), for SettleTimeout more: otherwise the stock of an order
// never stored would stay held.
func (s *Service) create(ctx context.Context, o Order) (Order, error) {
	err := s.repo.Create(ctx, o, EventFor(o))
	if err == nil {
		return o, outcome(o)
	}
	settle, cancel := context.WithTimeout(context.WithoutCancel(ctx), SettleTimeout)
	defer cancel()
	stored, getErr := s.repo.Get(settle, o.ID)
	switch {
	case getErr == nil:
		if stored.Status != StatusConfirmed {
			if err := s.release(ctx, stored, nil); err != nil {
				return Order{}, err
			}
		}
		return stored, outcome(stored)
	case errors.Is(getErr, ErrNotFound):
		return Order{}, s.release(ctx, o, fmt.Errorf("store order %s: %w", o.ID, err))
	default:
		// Whether the order was stored is unknown. Releasing its stock
		// could oversell a confirmed order; holding it only keeps the
		// stock reserved until someone looks.
		return Order{}, errors.Join(fmt.Errorf("store order %s: %w", o.ID, err), getErr)
	}
}

// SettleTimeout bounds the lookup create makes of an order whose Create
// failed, past the request's own deadline.
const SettleTimeout = 5 * time.Second

// release gives back what order o may hold and returns cause (nil: nothing
// went wrong before).
func (s *Service) release(ctx context.Context, o Order, cause error) error {
	if err := s.inventory.Release(context.WithoutCancel(ctx), o.ID, o.Items); err != nil {
		return errors.Join(cause, fmt.Errorf("release stock of %s: %w", o.ID, err))
	}
	return cause
}

// outcome is what Place reports along with a stored order.
func outcome(o Order) error {
	if o.Status == StatusRejected {
		return &InsufficientStockError{OrderID: o.ID, Shortages: o.Shortages}
	}
	return nil
}

// fingerprint identifies what a request asks for, so that a key reused for
// a different order is refused rather than answered with the wrong one.
func fingerprint(req PlaceRequest) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q", req.CustomerID)
	for _, l := range req.Items {
		fmt.Fprintf(h, "|%q:%d", l.SKU, l.Quantity)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

// ValidIdempotencyKey reports whether key can be an idempotency key: 1-128
// printable ASCII characters, without "||", which Dapr's state API refuses
// in a key (its own separator); such a key would be a 500 a client retries
// forever, not the 400 it is.
func ValidIdempotencyKey(key string) bool {
	return idempotencyKeyPattern.MatchString(key) && !strings.Contains(key, "||")
}

// AnyCustomer is what Get and Cancel take for customer when the caller
// acts for every customer (an operator).
const AnyCustomer = ""

// Get returns the order with id that customer placed, or ErrNotFound; an
// order another customer placed is not found either, so that an order id
// tells nothing to whoever did not place the order.
func (s *Service) Get(ctx context.Context, id, customer string) (Order, error) {
	if !ValidID(id) {
		return Order{}, ErrNotFound
	}
	o, err := s.repo.Get(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if !placedBy(o, customer) {
		return Order{}, ErrNotFound
	}
	return o, nil
}

// placedBy is whether customer placed o.
func placedBy(o Order, customer string) bool {
	return customer == AnyCustomer || o.CustomerID == customer
}

// Cancel cancels a confirmed order that customer placed and gives its
// stock back, within the cancellation window. Cancelling an order that is
// already cancelled succeeds and changes nothing; another customer's order
// is not found.
func (s *Service) Cancel(ctx context.Context, id, customer string) (Order, error) {
	if !ValidID(id) {
		return Order{}, ErrNotFound
	}
	o, err := s.repo.Update(ctx, id, func(o Order) (Order, *events.Order, error) {
		if !placedBy(o, customer) {
			return Order{}, nil, ErrNotFound
		}
		switch o.Status {
		case StatusCancelled:
			return o, nil, nil
		case StatusConfirmed:
			if s.cancelWindow > 0 && s.now().Sub(o.CreatedAt) >= s.cancelWindow {
				return Order{}, nil, fmt.Errorf("%w: its cancellation window (%s) has closed", ErrNotCancellable, s.cancelWindow)
			}
			o.Status = StatusCancelled
			o.UpdatedAt = s.now().UTC()
			e := EventFor(o)
			return o, &e, nil
		default:
			return Order{}, nil, fmt.Errorf("%w: it is %s", ErrNotCancellable, o.Status)
		}
	})
	if err != nil {
		return Order{}, err
	}
	// Release on every cancel, not only the first: inventory releases each
	// order once, and a cancel that failed after saving gets finished by the
	// client's retry.
	if err := s.release(ctx, o, nil); err != nil {
		return Order{}, err
	}
	return o, nil
}

// EventFor is the event that records the change that brought o to its
// status. Its id names the transition, not the attempt: an order is
// confirmed, rejected or cancelled once, so an event written twice (a
// retried save, say) is recognisably the same event to consumers.
func EventFor(o Order) events.Order {
	lines := make([]events.Line, len(o.Items))
	for i, l := range o.Items {
		lines[i] = events.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return events.Order{
		EventID:    o.ID + "." + string(o.Status),
		Type:       eventTypes[o.Status],
		OrderID:    o.ID,
		Version:    versions[o.Status],
		CustomerID: o.CustomerID,
		Items:      lines,
		Status:     string(o.Status),
		OccurredAt: o.UpdatedAt,
	}
}

// versions are an order's version in each status. An order's life has no
// cycle (confirmed or rejected, then perhaps cancelled), so its status
// alone says how many changes brought it there.
var versions = map[Status]int{
	StatusConfirmed: 1,
	StatusRejected:  1,
	StatusCancelled: 2,
}

var eventTypes = map[Status]string{
	StatusConfirmed: events.TypeOrderConfirmed,
	StatusRejected:  events.TypeOrderRejected,
	StatusCancelled: events.TypeOrderCancelled,
}
