// Package inventory holds the stock rules: how much of each SKU is available
// and reserved, and how orders reserve and release it. It knows nothing of
// HTTP or Dapr; storage sits behind the Store interface.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/ids"
)

// Item is the stock of one SKU. Available + Reserved + Fulfilled changes
// only by restock. Holds records how much each order reserved, which makes
// reserving and releasing idempotent per order: a retried call finds its
// hold and changes nothing. HeldSince says when each hold was taken (Unix
// seconds): once its order can no longer be cancelled, the hold is
// fulfilled (Fulfilment), so the entry keeps only the holds that may still
// change, however many orders the SKU has had.
type Item struct {
	SKU       string           `json:"sku"`
	Available int              `json:"available"`
	Reserved  int              `json:"reserved"`
	Fulfilled int              `json:"fulfilled"`
	Holds     map[string]int   `json:"holds,omitempty"`
	HeldSince map[string]int64 `json:"heldSince,omitempty"`
}

// Clone returns a copy of it that shares no map with it.
func (it Item) Clone() Item {
	it.Holds, it.HeldSince = maps.Clone(it.Holds), maps.Clone(it.HeldSince)
	return it
}

// Line asks for a quantity of one SKU. The domain's own, with no wire
// form: the handlers translate inventoryapi.Line, the contract with the
// order service, into it.
type Line struct {
	SKU      string
	Quantity int
}

// Shortage says how much of a SKU an order asked for and how much was
// available. The handlers answer it as inventoryapi.Shortage.
type Shortage struct {
	SKU       string
	Requested int
	Available int
}

// Errors returned by Service; match them with errors.Is.
var (
	ErrUnknownSKU = errors.New("unknown sku")
	ErrInvalid    = errors.New("invalid request")
	// ErrContention means a Store lost the race for one item too many times
	// in a row; the caller may try again later.
	ErrContention = errors.New("too many concurrent updates")
)

// UnknownSKUError names a SKU that is not in the catalog. It matches
// ErrUnknownSKU.
type UnknownSKUError struct {
	SKU string
}

func (e *UnknownSKUError) Error() string { return fmt.Sprintf("unknown sku %q", e.SKU) }

// Is makes errors.Is(err, ErrUnknownSKU) true.
func (e *UnknownSKUError) Is(target error) bool { return target == ErrUnknownSKU }

// InsufficientStockError reports the lines that could not be reserved. No
// stock stays reserved for the order when it is returned.
type InsufficientStockError struct {
	Shortages []Shortage
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("insufficient stock for %d sku(s)", len(e.Shortages))
}

// Store keeps items. Get returns an *UnknownSKUError for a SKU never stored.
// List returns every item in SKU order. Update reads the item for sku, passes
// it to fn (exists is false, and the item zero, for a SKU never stored) and
// saves what fn returns, retrying the read and fn when another writer got
// there first, so no update is lost; when fn returns an error, nothing is
// saved and Update returns it. inventorytest.TestStore checks all of this.
type Store interface {
	Get(ctx context.Context, sku string) (Item, error)
	List(ctx context.Context) ([]Item, error)
	Update(ctx context.Context, sku string, fn func(item Item, exists bool) (Item, error)) error
}

// MaxQuantity bounds one line or one restock; anything larger is a mistake.
const MaxQuantity = 1_000_000

// ValidSKU reports whether s has the shape of a SKU.
func ValidSKU(s string) bool { return ids.Valid(s) }

// Service applies the stock rules to a Store.
type Service struct {
	store      Store
	fulfilment Fulfilment
}

// NewService returns a Service over store that fulfils holds as fulfilment
// says. Its concurrent updates of one SKU share writes of store (Batching),
// so a hot SKU is written one batch at a time instead of raced for.
func NewService(store Store, fulfilment Fulfilment) *Service {
	return &Service{store: Batching(store), fulfilment: fulfilment}
}

// Fulfilment says when an order's hold is fulfilled: After the hold was
// taken (0: never), when the order can no longer be cancelled (order
// refuses a cancel a little earlier, at its cancellation window). The hold
// then leaves the SKU's entry and its quantity moves from Reserved to
// Fulfilled: nothing can release it any more. Now tells the time.
type Fulfilment struct {
	After time.Duration
	Now   func() time.Time
}

// apply returns item with the holds older than f.After fulfilled. A hold
// without a time (kept by an earlier version) starts its clock now. It
// never changes item's own maps: a decision that ends up writing nothing
// must leave the read item as it was.
func (f Fulfilment) apply(item Item) Item {
	if f.After <= 0 || len(item.Holds) == 0 {
		return item
	}
	now := f.Now().Unix()
	item.Holds, item.HeldSince = maps.Clone(item.Holds), maps.Clone(item.HeldSince)
	if item.HeldSince == nil {
		item.HeldSince = map[string]int64{}
	}
	for orderID, quantity := range item.Holds {
		since, ok := item.HeldSince[orderID]
		switch {
		case !ok:
			item.HeldSince[orderID] = now
		case now-since >= int64(f.After/time.Second):
			item.Reserved -= quantity
			item.Fulfilled += quantity
			delete(item.Holds, orderID)
			delete(item.HeldSince, orderID)
		}
	}
	return item
}

// hold records that orderID holds quantity of item, from now.
func (f Fulfilment) hold(item Item, orderID string, quantity int) Item {
	item.Holds, item.HeldSince = maps.Clone(item.Holds), maps.Clone(item.HeldSince)
	if item.Holds == nil {
		item.Holds = map[string]int{}
	}
	item.Holds[orderID] = quantity
	if f.After > 0 {
		if item.HeldSince == nil {
			item.HeldSince = map[string]int64{}
		}
		item.HeldSince[orderID] = f.Now().Unix()
	}
	return item
}

// Get returns the item for sku, or ErrUnknownSKU.
func (s *Service) Get(ctx context.Context, sku string) (Item, error) {
	if !ValidSKU(sku) {
		return Item{}, &UnknownSKUError{SKU: sku}
	}
	return s.store.Get(ctx, sku)
}

// List returns every item.
func (s *Service) List(ctx context.Context) ([]Item, error) { return s.store.List(ctx) }

// Restock adds quantity to the available stock of sku, creating the SKU if it
// is new.
func (s *Service) Restock(ctx context.Context, sku string, quantity int) (Item, error) {
	if !ValidSKU(sku) {
		return Item{}, fmt.Errorf("%w: sku %q is not of the form [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", ErrInvalid, sku)
	}
	if quantity < 1 || quantity > MaxQuantity {
		return Item{}, fmt.Errorf("%w: quantity must be between 1 and %d", ErrInvalid, MaxQuantity)
	}
	var saved Item
	err := s.store.Update(ctx, sku, func(item Item, exists bool) (Item, error) {
		if !exists {
			item = Item{SKU: sku}
		}
		item = s.fulfilment.apply(item)
		if item.Available > MaxQuantity*1000-quantity {
			return Item{}, fmt.Errorf("%w: restock would overflow the stock of %s", ErrInvalid, sku)
		}
		item.Available += quantity
		saved = item
		return item, nil
	})
	return saved, err
}

// Seed stores items that do not exist yet and leaves existing ones alone, so
// a restart never overwrites live stock.
func (s *Service) Seed(ctx context.Context, items []Item) error {
	for _, seed := range items {
		err := s.store.Update(ctx, seed.SKU, func(item Item, exists bool) (Item, error) {
			if exists {
				return Item{}, errSeeded
			}
			return Item{SKU: seed.SKU, Available: seed.Available}, nil
		})
		if err != nil && !errors.Is(err, errSeeded) {
			return fmt.Errorf("seed %s: %w", seed.SKU, err)
		}
	}
	return nil
}

var errSeeded = errors.New("already seeded")

// Reserve holds stock for every line of orderID, or for none: when a line
// cannot be reserved, the lines already held are released and an
// *InsufficientStockError (or ErrUnknownSKU) is returned. Reserving an order
// again is a no-op for lines it already holds, so a retried call cannot
// reserve twice.
func (s *Service) Reserve(ctx context.Context, orderID string, lines []Line) error {
	if err := validateLines(orderID, lines); err != nil {
		return err
	}
	// An unknown SKU refuses the order before anything is written, so a
	// request that could never succeed leaves the store untouched. A single
	// line needs no extra read: its update refuses an unknown SKU without
	// writing.
	if len(lines) > 1 {
		for _, line := range lines {
			if _, err := s.store.Get(ctx, line.SKU); err != nil {
				return err
			}
		}
	}
	// A fixed order of SKUs keeps two concurrent multi-line orders from
	// repeatedly undoing each other's partial reservations.
	lines = slices.Clone(lines)
	slices.SortFunc(lines, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })

	var held []string
	var shortages []Shortage
	for _, line := range lines {
		err := s.store.Update(ctx, line.SKU, func(item Item, exists bool) (Item, error) {
			if !exists {
				return Item{}, &UnknownSKUError{SKU: line.SKU}
			}
			if _, ok := item.Holds[orderID]; ok {
				return item, errAlreadyHeld
			}
			item = s.fulfilment.apply(item)
			if item.Available < line.Quantity {
				return Item{}, &InsufficientStockError{Shortages: []Shortage{{SKU: line.SKU, Requested: line.Quantity, Available: item.Available}}}
			}
			item.Available -= line.Quantity
			item.Reserved += line.Quantity
			return s.fulfilment.hold(item, orderID, line.Quantity), nil
		})
		var short *InsufficientStockError
		switch {
		case err == nil, errors.Is(err, errAlreadyHeld):
			held = append(held, line.SKU)
		case errors.As(err, &short):
			shortages = append(shortages, short.Shortages...)
		default:
			return s.undo(ctx, orderID, held, err)
		}
	}
	if len(shortages) > 0 {
		return s.undo(ctx, orderID, held, &InsufficientStockError{Shortages: shortages})
	}
	return nil
}

var errAlreadyHeld = errors.New("already held")

// undo releases what Reserve held before failing with cause.
func (s *Service) undo(ctx context.Context, orderID string, skus []string, cause error) error {
	if err := s.release(ctx, orderID, skus); err != nil {
		return errors.Join(cause, fmt.Errorf("release after failed reservation: %w", err))
	}
	return cause
}

// Release returns the stock orderID holds on skus to available. Releasing an
// order that holds nothing (never reserved, or already released) changes
// nothing, so a retried or repeated call releases once.
func (s *Service) Release(ctx context.Context, orderID string, skus []string) error {
	if orderID == "" {
		return fmt.Errorf("%w: order id is empty", ErrInvalid)
	}
	return s.release(ctx, orderID, skus)
}

func (s *Service) release(ctx context.Context, orderID string, skus []string) error {
	for _, sku := range skus {
		err := s.store.Update(ctx, sku, func(item Item, exists bool) (Item, error) {
			item = s.fulfilment.apply(item)
			quantity, ok := item.Holds[orderID]
			if !exists || !ok {
				return Item{}, errNotHeld
			}
			item.Available += quantity
			item.Reserved -= quantity
			item.Holds, item.HeldSince = maps.Clone(item.Holds), maps.Clone(item.HeldSince)
			delete(item.Holds, orderID)
			delete(item.HeldSince, orderID)
			return item, nil
		})
		if err != nil && !errors.Is(err, errNotHeld) {
			return fmt.Errorf("release %s for order %s: %w", sku, orderID, err)
		}
	}
	return nil
}

var errNotHeld = errors.New("not held")

func validateLines(orderID string, lines []Line) error {
	if orderID == "" {
		return fmt.Errorf("%w: order id is empty", ErrInvalid)
	}
	if len(lines) == 0 {
		return fmt.Errorf("%w: no lines", ErrInvalid)
	}
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		if !ValidSKU(l.SKU) {
			return &UnknownSKUError{SKU: l.SKU}
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			return fmt.Errorf("%w: quantity of %s must be between 1 and %d", ErrInvalid, l.SKU, MaxQuantity)
		}
		if seen[l.SKU] {
			return fmt.Errorf("%w: sku %s appears twice", ErrInvalid, l.SKU)
		}
		seen[l.SKU] = true
	}
	return nil
}
