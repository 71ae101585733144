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

// Store remembers delivered notifications. Delivered reports whether the
// notification with id was recorded; Claim takes a short lease on sending
// it, and reports false when someone else holds one; Unclaim gives the lease
// up early; Record stores n
// (recording it again changes nothing); AddToHistory lists n.ID in its
// customer's history, also idempotently.
//
// History returns a page of a customer's history, newest first: of the
// notifications listed before position before (the customer's first is at
// 0; before < 0: all of them), the newest limit, and the position to ask
// for the older ones after them (0: there are none). No entry it keeps may
// grow with the customer's notifications.
type Store interface {
	Delivered(ctx context.Context, id string) (bool, error)
	Claim(ctx context.Context, id string) (bool, error)
	Unclaim(ctx context.Context, id string) error
	Record(ctx context.Context, n Notification) error
	AddToHistory(ctx context.Context, customerID, id string) error
	History(ctx context.Context, customerID string, before, limit int) (page []Notification, older int, err error)
}

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
)

// Handle delivers the notification for an order event exactly once per
// event id. Two deliveries of one event can arrive at once (a redelivery
// while the first is still being handled), so sending takes a lease first:
// the second gets ErrInProgress and comes back later, to find the
// notification recorded. Every step is idempotent, so when a step fails the
// event is redelivered and Handle picks up where it stopped. The one window
// left is a crash between sending and recording: once the lease expires, the
// redelivery sends again with the same notification id, which receivers use
// to drop the repeat.
func (s *Service) Handle(ctx context.Context, e events.Order) (Outcome, error) {
	if _, known := messages[e.Type]; !known || !keySafe(e.EventID) || !ids.Valid(e.OrderID) || !ids.Valid(e.CustomerID) {
		return 0, fmt.Errorf("%w: event %.64q of type %.64q for order %.64q, customer %.64q", ErrMalformedEvent, e.EventID, e.Type, e.OrderID, e.CustomerID)
	}
	delivered, err := s.store.Delivered(ctx, e.EventID)
	if err != nil {
		return 0, err
	}
	outcome := Duplicate
	if !delivered {
		claimed, err := s.store.Claim(ctx, e.EventID)
		if err != nil {
			return 0, err
		}
		if !claimed {
			return 0, ErrInProgress
		}
		n := Notification{
			ID:         e.EventID,
			CustomerID: e.CustomerID,
			OrderID:    e.OrderID,
			Status:     e.Status,
			Message:    fmt.Sprintf(messages[e.Type], e.OrderID),
			CreatedAt:  e.OccurredAt,
		}
		if err := s.send(ctx, n); err != nil {
			// The redelivery need not wait for the lease to expire.
			return 0, errors.Join(err, s.store.Unclaim(context.WithoutCancel(ctx), n.ID))
		}
		outcome = Delivered
	}
	return outcome, s.store.AddToHistory(ctx, e.CustomerID, e.EventID)
}

func (s *Service) send(ctx context.Context, n Notification) error {
	if err := s.sender.Send(ctx, n); err != nil {
		return fmt.Errorf("send notification %s: %w", n.ID, err)
	}
	if err := s.store.Record(ctx, n); err != nil {
		return fmt.Errorf("record notification %s: %w", n.ID, err)
	}
	return nil
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
