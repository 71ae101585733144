// Package order holds the order rules: what a valid order is, how placing one
// reserves stock, and how cancelling one gives it back. It knows nothing of
// HTTP or Dapr; inventory, storage and events sit behind small interfaces.
package order

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/daprshop/daprshop/internal/events"
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

// Line is a SKU and the quantity ordered.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Order is a customer's order.
type Order struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customerId"`
	Items      []Line    `json:"items"`
	Status     Status    `json:"status"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
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

// Shortage says how much of a SKU was ordered and how much was available.
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
// is eventually published. Update applies fn to the stored order and saves
// the result only if nobody changed the order meanwhile; fn may run more than
// once, and returns a nil event when it changed nothing.
type Repository interface {
	Get(ctx context.Context, id string) (Order, error)
	Create(ctx context.Context, o Order, event events.Order) error
	Update(ctx context.Context, id string, fn func(Order) (Order, *events.Order, error)) (Order, error)
}

// Service applies the order rules.
type Service struct {
	inventory Inventory
	repo      Repository
	newID     func() string
	now       func() time.Time
}

// NewService returns a Service. newID makes order and event ids; now tells
// the time.
func NewService(inventory Inventory, repo Repository, newID func() string, now func() time.Time) *Service {
	return &Service{inventory: inventory, repo: repo, newID: newID, now: now}
}

var (
	customerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	skuPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// Validate checks a new order's customer and lines.
func Validate(customerID string, lines []Line) error {
	if customerID == "" {
		return &ValidationError{Field: "customerId", Reason: "is required"}
	}
	if !customerPattern.MatchString(customerID) {
		return &ValidationError{Field: "customerId", Reason: "must be 1-64 letters, digits, '.', '_' or '-'"}
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
		if !skuPattern.MatchString(l.SKU) {
			return &ValidationError{Field: field + ".sku", Reason: "must be 1-64 letters, digits, '.', '_' or '-'"}
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
func ValidID(id string) bool { return customerPattern.MatchString(id) }

// Place reserves the stock for a new order and stores it. It returns the
// confirmed order; or, when stock ran short, the rejected order together with
// an *InsufficientStockError.
func (s *Service) Place(ctx context.Context, customerID string, lines []Line) (Order, error) {
	if err := Validate(customerID, lines); err != nil {
		return Order{}, err
	}
	now := s.now().UTC()
	o := Order{ID: s.newID(), CustomerID: customerID, Items: lines, CreatedAt: now, UpdatedAt: now}

	err := s.inventory.Reserve(ctx, o.ID, lines)
	var short *InsufficientStockError
	var unknown *UnknownSKUError
	switch {
	case errors.As(err, &short):
		short.OrderID = o.ID
		o.Status = StatusRejected
		if err := s.repo.Create(ctx, o, s.event(o, events.TypeOrderRejected)); err != nil {
			return Order{}, fmt.Errorf("store rejected order %s: %w", o.ID, err)
		}
		return o, short
	case errors.As(err, &unknown):
		return Order{}, err
	case err != nil:
		// The call may have failed after inventory reserved; giving back
		// what this order id might hold keeps stock from leaking.
		return Order{}, s.compensate(ctx, o, fmt.Errorf("reserve stock for %s: %w", o.ID, err))
	}

	o.Status = StatusConfirmed
	if err := s.repo.Create(ctx, o, s.event(o, events.TypeOrderConfirmed)); err != nil {
		return Order{}, s.compensate(ctx, o, fmt.Errorf("store order %s: %w", o.ID, err))
	}
	return o, nil
}

func (s *Service) compensate(ctx context.Context, o Order, cause error) error {
	if err := s.inventory.Release(context.WithoutCancel(ctx), o.ID, o.Items); err != nil {
		return errors.Join(cause, fmt.Errorf("release stock of %s: %w", o.ID, err))
	}
	return cause
}

// Get returns the order with id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Order, error) {
	if !ValidID(id) {
		return Order{}, ErrNotFound
	}
	return s.repo.Get(ctx, id)
}

// Cancel cancels a confirmed order and gives its stock back. Cancelling an
// order that is already cancelled succeeds and changes nothing.
func (s *Service) Cancel(ctx context.Context, id string) (Order, error) {
	if !ValidID(id) {
		return Order{}, ErrNotFound
	}
	o, err := s.repo.Update(ctx, id, func(o Order) (Order, *events.Order, error) {
		switch o.Status {
		case StatusCancelled:
			return o, nil, nil
		case StatusConfirmed:
			o.Status = StatusCancelled
			o.UpdatedAt = s.now().UTC()
			e := s.event(o, events.TypeOrderCancelled)
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
	if err := s.inventory.Release(ctx, o.ID, o.Items); err != nil {
		return Order{}, fmt.Errorf("release stock of %s: %w", o.ID, err)
	}
	return o, nil
}

func (s *Service) event(o Order, eventType string) events.Order {
	lines := make([]events.Line, len(o.Items))
	for i, l := range o.Items {
		lines[i] = events.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return events.Order{
		EventID:    s.newID(),
		Type:       eventType,
		OrderID:    o.ID,
		CustomerID: o.CustomerID,
		Items:      lines,
		Status:     string(o.Status),
		OccurredAt: o.UpdatedAt,
	}
}
