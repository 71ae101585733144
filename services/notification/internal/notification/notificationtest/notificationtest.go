// Package notificationtest provides in-memory implementations of the
// notification package's ports, for tests of the domain and of the HTTP API,
// and the contract suites (TestStore, TestDeadLetters, TestSender) that
// every implementation of those ports must pass: the fakes here and the real
// adapters run the same suites, so the fakes cannot drift from what the
// adapters do.
package notificationtest

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// Store is an in-memory notification.Store, safe for concurrent use. Its
// leases do not expire: a test ends one with Told or Unclaim.
type Store struct {
	// Err, when set, is returned by every method, as by a store that is
	// down. Set it, and ToldErr, between calls, not during them.
	Err error
	// ToldErr, when set, is returned by Told alone, which then changes
	// nothing: the send went out but could not be recorded.
	ToldErr error

	mu       sync.Mutex
	orders   map[string]told
	recorded map[string]notification.Notification
	history  map[string][]string
}

// told is what a Store keeps of an order: the version its customer was
// told of, and the event whose delivery holds a lease on it ("": none).
type told struct {
	version int
	holder  string
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{
		orders:   map[string]told{},
		recorded: map[string]notification.Notification{},
		history:  map[string][]string{},
	}
}

// Delivered reports whether notification id was recorded: for tests to
// look, as notification.Store has no such method.
func (s *Store) Delivered(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return false, s.Err
	}
	_, ok := s.recorded[id]
	return ok, nil
}

// Claim takes a lease on the order for event unless one is held or the
// customer was told of version already, and reports whether the
// notification of event was recorded.
func (s *Store) Claim(_ context.Context, orderID, event string, version int) (notification.Claim, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return 0, false, s.Err
	}
	_, delivered := s.recorded[event]
	o := s.orders[orderID]
	switch {
	case o.version >= version:
		return notification.Superseded, delivered, nil
	case o.holder != "":
		return notification.Busy, delivered, nil
	}
	o.holder = event
	s.orders[orderID] = o
	return notification.Claimed, delivered, nil
}

// Told records n unless its id is recorded, lists it in its customer's
// history unless listed, and records that its order's customer was told
// of version, ending its event's lease.
func (s *Store) Told(_ context.Context, n notification.Notification, version int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmp.Or(s.Err, s.ToldErr); err != nil {
		return err
	}
	if _, ok := s.recorded[n.ID]; !ok {
		s.recorded[n.ID] = n
	}
	if !slices.Contains(s.history[n.CustomerID], n.ID) {
		s.history[n.CustomerID] = append(s.history[n.CustomerID], n.ID)
	}
	o := s.orders[n.OrderID]
	o.version = max(o.version, version)
	if o.holder == n.ID {
		o.holder = ""
	}
	s.orders[n.OrderID] = o
	return nil
}

// Unclaim ends event's lease on the order.
func (s *Store) Unclaim(_ context.Context, orderID, event string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	if o := s.orders[orderID]; o.holder == event {
		o.holder = ""
		s.orders[orderID] = o
	}
	return nil
}

// History returns a page of the recorded notifications in the customer's
// history, newest first, as notification.Store says; never nil, as the
// real store's.
func (s *Store) History(_ context.Context, customerID string, before, limit int) ([]notification.Notification, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, 0, s.Err
	}
	listed := s.history[customerID]
	if before < 0 || before > len(listed) {
		before = len(listed)
	}
	older := max(0, before-limit)
	out := make([]notification.Notification, 0, before-older)
	for i := before - 1; i >= older; i-- {
		// Like the real store, an id whose notification is missing is
		// left out rather than shown empty.
		if n, ok := s.recorded[listed[i]]; ok {
			out = append(out, n)
		}
	}
	return out, older, nil
}

// DeadLetters is an in-memory notification.DeadLetters, safe for concurrent
// use.
type DeadLetters struct {
	// Err, when set, is returned by every method, as by a store that is
	// down.
	Err error

	limit int
	mu    sync.Mutex
	byID  map[string]notification.DeadLetter
	ids   []string
}

// NewDeadLetters returns an empty DeadLetters that lists at most limit dead
// letters, the most recent, as the real index does (0: no bound).
func NewDeadLetters(limit int) *DeadLetters {
	return &DeadLetters{limit: limit, byID: map[string]notification.DeadLetter{}}
}

// Add keeps d, unless one with its id is kept already, and lists it last.
func (d *DeadLetters) Add(_ context.Context, dl notification.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	if _, ok := d.byID[dl.ID]; !ok {
		d.byID[dl.ID] = dl
	}
	if slices.Contains(d.ids, dl.ID) {
		return nil
	}
	d.ids = append(d.ids, dl.ID)
	if d.limit > 0 && len(d.ids) > d.limit {
		d.ids = slices.Clone(d.ids[len(d.ids)-d.limit:])
	}
	return nil
}

// List returns the listed dead letters, oldest first; never nil.
func (d *DeadLetters) List(context.Context) ([]notification.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return nil, d.Err
	}
	out := make([]notification.DeadLetter, 0, len(d.ids))
	for _, id := range d.ids {
		out = append(out, d.byID[id])
	}
	return out, nil
}

// Get returns the dead letter with id while it is listed. (Nothing
// expires here: the real store's retention is its own test's.)
func (d *DeadLetters) Get(_ context.Context, id string) (notification.DeadLetter, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return notification.DeadLetter{}, false, d.Err
	}
	if !slices.Contains(d.ids, id) {
		return notification.DeadLetter{}, false, nil
	}
	return d.byID[id], true, nil
}

// Remove forgets the dead letter with id.
func (d *DeadLetters) Remove(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	d.ids = slices.DeleteFunc(d.ids, func(listed string) bool { return listed == id })
	delete(d.byID, id)
	return nil
}

// Events is an in-memory notification.Events that keeps what it is given.
// Its zero value is ready to use, and it is safe for concurrent use.
type Events struct {
	// Err, when set, is returned by Republish, as by a broker that is
	// down.
	Err error

	mu          sync.Mutex
	republished []json.RawMessage
}

// Republish keeps data.
func (e *Events) Republish(_ context.Context, data json.RawMessage) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Err != nil {
		return e.Err
	}
	e.republished = append(e.republished, data)
	return nil
}

// Republished returns what Republish was given, in order.
func (e *Events) Republished() []json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.republished)
}

// Sender is an in-memory notification.Sender that keeps what it sends. Its
// zero value is ready to use, and it is safe for concurrent use.
type Sender struct {
	// Err, when set, is returned by Send instead of sending, as when NATS
	// is down.
	Err error

	mu   sync.Mutex
	sent []notification.Notification
}

// Send keeps n, or returns Err.
func (s *Sender) Send(_ context.Context, n notification.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	s.sent = append(s.sent, n)
	return nil
}

// Sent returns what was sent, in order.
func (s *Sender) Sent() []notification.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}
