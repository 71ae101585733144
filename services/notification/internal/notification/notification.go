// Package notification turns order events into notifications for customers,
// delivering each one once however often its event is redelivered. It knows
// nothing of HTTP, Dapr or NATS; those sit behind Sender and Store.
package notification

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/internal/ids"
)

// Notification tells a customer what happened to an order. ID is the id of
// the event it comes from, so receivers can recognise a repeat.
type Notification struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customerId"`
	OrderID    string    `json:"orderId"`
	Status     string    `json:"status"`
	Message    string    `json:"message"`
	CreatedAt  time.Time `json:"createdAt"`
}

// Sender delivers a notification to the customer's channel.
type Sender interface {
	Send(ctx context.Context, n Notification) error
}

// Store remembers delivered notifications, and what each order's customer
// was told.
//
// Claim takes a short lease on telling the customer of an order about its
// change to version, held by the delivery of event: one delivery at a time
// tells a customer of one order, so two changes of an order are told in
// the order they were handled. It answers Busy while another delivery holds
// a lease on the order, and Superseded when the customer was told of
// version or a later one already; delivered says whether the notification
// of event was recorded (by Told). Unclaim ends event's lease without
// telling.
//
// Told records n (recording it again changes nothing), lists it in its
// customer's history (listing it again changes nothing), and records that
// the customer of n's order was told of version (the version told never
// goes back), ending the lease of n's event: the end of a delivery, in as
// few writes as the store allows.
//
// History returns a page of a customer's history, newest first: of the
// notifications listed before position before (the customer's first is at
// 0; before < 0: all of them), the newest limit, and the position to ask
// for the older ones after them (0: there are none). No entry it keeps may
// grow with the customer's notifications.
type Store interface {
	Claim(ctx context.Context, orderID, event string, version int) (claim Claim, delivered bool, err error)
	Unclaim(ctx context.Context, orderID, event string) error
	Told(ctx context.Context, n Notification, version int) error
	History(ctx context.Context, customerID string, before, limit int) (page []Notification, older int, err error)
}

// Claim is what Store.Claim found.
type Claim int

// The answers of Store.Claim.
const (
	// Claimed: the lease is this delivery's; it may tell the customer.
	Claimed Claim = iota + 1
	// Busy: another delivery holds a lease on the order.
	Busy
	// Superseded: the customer was told of this version or a later one.
	Superseded
)

// DeadLetter is an event that could not be processed: answered DROP, or
// still failing after the retries of the resiliency policy. It is kept for an
// operator to look at, with its payload as it arrived.
type DeadLetter struct {
	ID         string          `json:"id"`
	Topic      string          `json:"topic"`
	Data       json.RawMessage `json:"data"`
	ReceivedAt time.Time       `json:"receivedAt"`
}

// DeadLetters keeps dead letters for an operator, each for a retention
// period and only while it is among the most recent: no dead letter is
// kept for ever. Add is idempotent per id; List returns the most recent
// ones, oldest first; Get returns one, found false once it expired, was
// pushed out by newer ones or was removed; Remove forgets one (removing it
// again changes nothing).
type DeadLetters interface {
	Add(ctx context.Context, d DeadLetter) error
	List(ctx context.Context) ([]DeadLetter, error)
	Get(ctx context.Context, id string) (DeadLetter, bool, error)
	Remove(ctx context.Context, id string) error
}

// Events puts an order event back on the stream the service consumes, for
// it to be delivered again.
type Events interface {
	Republish(ctx context.Context, data json.RawMessage) error
}

// ErrMalformedEvent marks an event that can never be processed; retrying it is
// pointless, so it goes to the dead-letter topic instead.
var ErrMalformedEvent = errors.New("malformed event")

// ErrInProgress means another delivery of the same event is being handled
// right now; ask for the event again later.
var ErrInProgress = errors.New("the same event is being handled")

// ErrInvalidCustomer is returned for a customer id that cannot exist.
var ErrInvalidCustomer = errors.New("invalid customer id")

// ErrInvalidPage is returned for a history page asked for with a limit or
// a cursor that cannot be.
var ErrInvalidPage = errors.New("invalid page")

// ErrNoSuchDeadLetter is returned for a dead letter that is not kept (or
// never was).
var ErrNoSuchDeadLetter = errors.New("no such dead letter")

// Service delivers notifications.
type Service struct {
	sender      Sender
	store       Store
	deadLetters DeadLetters
	events      Events
}

// NewService returns a Service; events is where Redrive puts dead letters
// back.
func NewService(sender Sender, store Store, deadLetters DeadLetters, events Events) *Service {
	return &Service{sender: sender, store: store, deadLetters: deadLetters, events: events}
}

// DeadLetter keeps an event that went to the dead-letter topic.
func (s *Service) DeadLetter(ctx context.Context, d DeadLetter) error {
	if !keySafe(d.ID) {
		return fmt.Errorf("%w: dead letter id %.64q cannot be a key", ErrMalformedEvent, d.ID)
	}
	return s.deadLetters.Add(ctx, d)
}

// maxKeyID bounds an id a record is kept under: event ids and brokers'
// UUIDs are far shorter.
const maxKeyID = 256

// keySafe reports whether id can name a record in the state store: not
// empty, not longer than maxKeyID, and without "||", Dapr's key separator,
// which the state API refuses. An event whose id is not is dropped: it
// would be refused again at every redelivery, forever.
func keySafe(id string) bool {
	return id != "" && len(id) <= maxKeyID && !strings.Contains(id, "||")
}

// DeadLetters lists the kept dead letters.
func (s *Service) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	return s.deadLetters.List(ctx)
}

// Redrive puts the event of dead letter id back on the stream, for an
// operator once what made it fail is fixed (NATS down for longer than the
// retries, say), and then forgets the dead letter. Handling is idempotent
// per event id, so redriving an event that was delivered after all sends
// nothing twice; and a redrive that fails half-way can simply be repeated.
func (s *Service) Redrive(ctx context.Context, id string) error {
	if !keySafe(id) {
		return ErrNoSuchDeadLetter
	}
	d, found, err := s.deadLetters.Get(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		return ErrNoSuchDeadLetter
	}
	if err := s.events.Republish(ctx, d.Data); err != nil {
		return fmt.Errorf("redrive dead letter %s: %w", id, err)
	}
	return s.deadLetters.Remove(ctx, id)
}

// Outcome says what Handle did with an event.
type Outcome int

// The outcomes of Handle.
const (
	// Delivered: the notification went out now.
	Delivered Outcome = iota + 1
	// Duplicate: it had gone out before; the event was a redelivery.
	Duplicate
	// Outdated: the customer was told of a later change of the order
	// already, and is not told of this earlier one: what a customer
	// hears of an order never goes back in its life.
	Outdated
)

// Handle delivers the notification for an order event exactly once per
// event id, and never after the notification of a later change of the same
// order. Dapr delivers an order's events in no particular order and several
// at once (a confirmation and a cancel a moment later, or a redelivery
// while the first delivery is still being handled), so Handle takes a lease
// on the order first and does everything under it: a second delivery of
// the order gets ErrInProgress and comes back later, to find this event
// told (Duplicate), or a later change of the order told (Outdated: not
// sent, not listed). Every step is idempotent, so when a step fails the
// event is redelivered and Handle picks up where it stopped. The one
// window left is between sending and recording (a crash, or the store
// failing then): the redelivery sends again with the same notification
// id, which receivers use to drop the repeat.
func (s *Service) Handle(ctx context.Context, e events.Order) (Outcome, error) {
	if _, known := messages[e.Type]; !known || !keySafe(e.EventID) || !ids.Valid(e.OrderID) || !ids.Valid(e.CustomerID) || e.Version < 1 {
		return 0, fmt.Errorf("%w: event %.64q of type %.64q, version %d, for order %.64q, customer %.64q",
			ErrMalformedEvent, e.EventID, e.Type, e.Version, e.OrderID, e.CustomerID)
	}
	claim, delivered, err := s.store.Claim(ctx, e.OrderID, e.EventID, e.Version)
	switch {
	case err != nil:
		return 0, err
	case claim == Busy:
		return 0, ErrInProgress
	case claim == Superseded && delivered:
		return Duplicate, nil
	case claim == Superseded:
		return Outdated, nil
	}
	n := Notification{
		ID:         e.EventID,
		CustomerID: e.CustomerID,
		OrderID:    e.OrderID,
		Status:     e.Status,
		Message:    fmt.Sprintf(messages[e.Type], e.OrderID),
		CreatedAt:  e.OccurredAt,
	}
	outcome, err := Duplicate, error(nil)
	if !delivered {
		outcome = Delivered
		if err = s.sender.Send(ctx, n); err != nil {
			err = fmt.Errorf("send notification %s: %w", n.ID, err)
		}
	}
	if err == nil {
		if err = s.store.Told(ctx, n, e.Version); err != nil {
			err = fmt.Errorf("record notification %s: %w", n.ID, err)
		}
	}
	if err != nil {
		// The redelivery need not wait for the lease to expire.
		return 0, errors.Join(err, s.store.Unclaim(context.WithoutCancel(ctx), e.OrderID, e.EventID))
	}
	return outcome, nil
}

// The size of a page of history: what one answer returns unless asked for
// fewer, and the most it returns.
const (
	DefaultHistoryPage = 50
	MaxHistoryPage     = 100
)

// HistoryPage is a page of a customer's history, newest first. Older, when
// not empty, is the cursor that asks for the page of older ones.
type HistoryPage struct {
	Notifications []Notification `json:"notifications"`
	Older         string         `json:"older,omitempty"`
}

// History returns a page of the notifications delivered to customerID,
// newest first: at most limit (0: DefaultHistoryPage), starting after
// cursor ("": from the newest), a cursor being what an earlier page said
// in Older.
func (s *Service) History(ctx context.Context, customerID, cursor string, limit int) (HistoryPage, error) {
	if !ids.Valid(customerID) {
		return HistoryPage{}, ErrInvalidCustomer
	}
	if limit == 0 {
		limit = DefaultHistoryPage
	}
	if limit < 1 || limit > MaxHistoryPage {
		return HistoryPage{}, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidPage, MaxHistoryPage)
	}
	before := -1
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 1 {
			return HistoryPage{}, fmt.Errorf("%w: cursor %.32q is not one a page gave", ErrInvalidPage, cursor)
		}
		before = n
	}
	list, older, err := s.store.History(ctx, customerID, before, limit)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Notifications: list}
	if older > 0 {
		page.Older = strconv.Itoa(older)
	}
	return page, nil
}

// messages are what a customer is told, by event type, of the order whose
// id fills the verb; an event of another type is malformed, and dropped.
var messages = map[string]string{
	events.TypeOrderConfirmed: "Your order %s is confirmed.",
	events.TypeOrderRejected:  "Your order %s could not be placed: some items are out of stock.",
	events.TypeOrderCancelled: "Your order %s is cancelled.",
}
