// Package dapr keeps delivered notifications in a Dapr state store.
package dapr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// Store is a notification.Store. Each notification is its own key, written
// once (first-write). A customer's history is kept in pages of
// historyPageSize ids, so that no key grows with the notifications: a head
// holding the newest ids, and once it is full, each earlier page under a
// key of its own, written once and never changed.
type Store struct {
	store daprstate.Store
	now   func() time.Time
}

// NewStore returns a Store on store.
func NewStore(store daprstate.Store) *Store {
	return &Store{store: store, now: time.Now}
}

func notificationKey(id string) string { return "notification:" + id }

// historyPageSize is how many ids a page of history holds. A page is read
// whole to answer for any part of it, so it matches the largest page a
// client may ask for.
const historyPageSize = notification.MaxHistoryPage

// historyHead is the head of a customer's history: how many full pages
// were archived before it, and the ids since, oldest first (at most
// historyPageSize). The customer's notification at position p (the first
// at 0) is on page p / historyPageSize.
type historyHead struct {
	Pages  int      `json:"pages"`
	Newest []string `json:"newest"`
}

// Histories kept by earlier versions under "history:<customer>", one
// growing list, are not read: their keys are other than these.
func historyHeadKey(customerID string) string { return "histories:" + customerID }
func historyPageKey(customerID string, page int) string {
	return "histories:" + customerID + ":" + strconv.Itoa(page)
}

// delivered reports whether notification id was recorded.
func (s *Store) delivered(ctx context.Context, id string) (bool, error) {
	var n notification.Notification
	_, found, err := s.store.Get(ctx, notificationKey(id), &n)
	if err != nil {
		return false, fmt.Errorf("notification %s: %w", id, err)
	}
	return found, nil
}

// claimTTL bounds how long a lease keeps other deliveries of the same order
// waiting. It must be far longer than a send and a record take (milliseconds)
// and far shorter than the delivery retries of the resiliency policy (about
// 30 s): a lease left by a crashed process must lapse while the redelivery
// is still being retried, or the event would end up a dead letter.
const claimTTL = 5 * time.Second

// toldKey holds what the customer of an order was told of it. Leases taken
// by earlier versions, one per event under "claim:<event>", are not read:
// they lapsed long ago.
func toldKey(orderID string) string { return "told:" + orderID }

// told is what the customer of an order was told: the order's version, and
// the lease of the delivery telling them now (Holder, its event id, until
// Until). A lease lapses by its time, not by a TTL on the key, which must
// outlive it: a state store may write a key and its TTL as two commands
// (docs/patterns.md says which), and one killed between the two would keep
// a lease for ever.
type told struct {
	Version int       `json:"version"`
	Holder  string    `json:"holder,omitempty"`
	Until   time.Time `json:"until,omitzero"`
}

// Claim takes the lease on the order for event unless a live one is held
// or the customer was told of version already, and reports whether the
// notification of event was recorded, read with the lease in one call.
// Two deliveries that claim at once race on the lease's ETag: the loser
// reads the winner's lease.
func (s *Store) Claim(ctx context.Context, orderID, event string, version int) (notification.Claim, bool, error) {
	var claim notification.Claim
	var delivered bool
	leaseKey, recordKey := toldKey(orderID), notificationKey(event)
	err := s.store.Update(ctx, func() error {
		read, err := s.store.GetEach(ctx, leaseKey, recordKey)
		if err != nil {
			return err
		}
		delivered = read[recordKey].Found()
		var o told
		if read[leaseKey].Found() {
			if err := read[leaseKey].Decode(leaseKey, &o); err != nil {
				return err
			}
		}
		switch {
		case o.Version >= version:
			claim = notification.Superseded
			return nil
		case o.Holder != "" && s.now().Before(o.Until):
			claim = notification.Busy
			return nil
		}
		claim = notification.Claimed
		o.Holder, o.Until = event, s.now().Add(claimTTL)
		return s.store.Put(ctx, leaseKey, o, read[leaseKey].ETag, nil)
	})
	if err != nil {
		return 0, false, fmt.Errorf("claim order %s for %s: %w", orderID, event, err)
	}
	return claim, delivered, nil
}

// Told records n, lists it in its customer's history and records that its
// order's customer was told of version, ending the lease of n's event, as
// notification.Store says: one read of the three keys, one transaction for
// the record and the history's head, one write for the lease's end, each
// guarded by the ETag read. The lease ends on its own write, after the
// listing: on a store without rollback, a transaction refused for the
// head's ETag would still make the lease's write in it, and end the lease
// before the listing (docs/patterns.md, "Two backend profiles").
func (s *Store) Told(ctx context.Context, n notification.Notification, version int) error {
	recordKey, headKey, leaseKey := notificationKey(n.ID), historyHeadKey(n.CustomerID), toldKey(n.OrderID)
	read, err := s.store.GetEach(ctx, recordKey, headKey, leaseKey)
	if err != nil {
		return err
	}
	if err := s.recordAndList(ctx, n, read[recordKey], read[headKey]); err != nil {
		// A race lost on the head, or a head to archive first: step by
		// step, each step idempotent, so that what a refused transaction
		// made all the same on a store without rollback is found done.
		if err := s.record(ctx, n); err != nil {
			return err
		}
		if err := s.addToHistory(ctx, n.CustomerID, n.ID); err != nil {
			return err
		}
	}
	// Ended after the listing: the history, too, never goes back.
	return s.endLease(ctx, n.OrderID, n.ID, version, read[leaseKey])
}

// errHeadFull: the head must be archived before it lists another id.
var errHeadFull = errors.New("the history's head is full")

// recordAndList records n and lists it in its customer's history, given
// what their keys held when read: in one transaction, guarded by the ETags
// read. A customer's first notification creates the history's head after
// it, alone: some stores do not guard a create inside a transaction.
func (s *Store) recordAndList(ctx context.Context, n notification.Notification, record, head daprstate.Entry) error {
	var writes []daprstate.Write
	if !record.Found() {
		// Unguarded where first-write is not kept in a transaction: a
		// notification's id makes its contents, so a write over one
		// recorded meanwhile writes the same.
		writes = append(writes, daprstate.Write{Key: notificationKey(n.ID), Value: n})
	}
	var h historyHead
	if head.Found() {
		if err := head.Decode(historyHeadKey(n.CustomerID), &h); err != nil {
			return err
		}
	}
	listed, create := slices.Contains(h.Newest, n.ID), !head.Found()
	switch {
	case listed || create:
	case len(h.Newest) >= historyPageSize:
		return errHeadFull
	default:
		h.Newest = append(h.Newest, n.ID)
		writes = append(writes, daprstate.Write{Key: historyHeadKey(n.CustomerID), Value: h, ETag: head.ETag})
	}
	if len(writes) > 0 {
		if err := s.store.PutAll(ctx, writes...); err != nil {
			return err
		}
	}
	if create {
		return s.store.Put(ctx, historyHeadKey(n.CustomerID), historyHead{Newest: []string{n.ID}}, "", nil)
	}
	return nil
}

// toldOf is o once its customer was told of version by event: the version
// never goes back, and event's lease ends. changed is false when that
// changes nothing.
func toldOf(o told, event string, version int) (_ told, changed bool) {
	if o.Version >= version && o.Holder != event {
		return o, false
	}
	o.Version = max(o.Version, version)
	if o.Holder == event {
		o.Holder, o.Until = "", time.Time{}
	}
	return o, true
}

// endLease records that the order's customer was told of version, unless
// of a later one already, and ends event's lease: written with the ETag of
// lease, what the key held when Told read it, and read again if it moved
// on since.
func (s *Store) endLease(ctx context.Context, orderID, event string, version int, lease daprstate.Entry) error {
	key := toldKey(orderID)
	var o told
	if lease.Found() && lease.Decode(key, &o) == nil {
		o, changed := toldOf(o, event, version)
		if !changed || s.store.Put(ctx, key, o, lease.ETag, nil) == nil {
			return nil
		}
	}
	err := daprstate.Modify(ctx, s.store, key, func(o told, _ bool) (told, error) {
		o, changed := toldOf(o, event, version)
		if !changed {
			return o, daprstate.ErrUnchanged
		}
		return o, nil
	})
	if err != nil {
		return fmt.Errorf("order %s told of %s: %w", orderID, event, err)
	}
	return nil
}

// Unclaim ends event's lease on the order, if it still holds it.
func (s *Store) Unclaim(ctx context.Context, orderID, event string) error {
	err := daprstate.Modify(ctx, s.store, toldKey(orderID), func(o told, _ bool) (told, error) {
		if o.Holder != event {
			return o, daprstate.ErrUnchanged
		}
		o.Holder, o.Until = "", time.Time{}
		return o, nil
	})
	if err != nil {
		return fmt.Errorf("unclaim order %s for %s: %w", orderID, event, err)
	}
	return nil
}

// record stores n unless a notification with its id exists already.
func (s *Store) record(ctx context.Context, n notification.Notification) error {
	err := s.store.Put(ctx, notificationKey(n.ID), n, "", nil)
	if err == nil {
		return nil
	}
	// First-write refuses to overwrite an existing key: if it is there now,
	// a concurrent redelivery recorded it first, which is just as good.
	if delivered, derr := s.delivered(ctx, n.ID); derr == nil && delivered {
		return nil
	}
	return fmt.Errorf("record notification %s: %w", n.ID, err)
}

// addToHistory appends id to the customer's history unless the head lists
// it. A head that is full is archived first, as the next page. A
// redelivery's id that was archived meanwhile (after a hundred newer
// notifications of the same customer) would be listed twice: the price of
// not reading every page on every event.
func (s *Store) addToHistory(ctx context.Context, customerID, id string) error {
	return daprstate.Modify(ctx, s.store, historyHeadKey(customerID), func(h historyHead, _ bool) (historyHead, error) {
		if slices.Contains(h.Newest, id) {
			return h, daprstate.ErrUnchanged
		}
		if len(h.Newest) >= historyPageSize {
			if err := s.archive(ctx, customerID, h); err != nil {
				return h, err
			}
			h = historyHead{Pages: h.Pages + 1}
		}
		h.Newest = append(h.Newest, id)
		return h, nil
	})
}

// archive writes the full head h as page h.Pages, once. Writers that raced
// for the same head write the same ids there, so a page found written is
// as good as one written now.
func (s *Store) archive(ctx context.Context, customerID string, h historyHead) error {
	key := historyPageKey(customerID, h.Pages)
	err := s.store.Put(ctx, key, h.Newest, "", nil)
	if err == nil {
		return nil
	}
	var page []string
	if _, found, gerr := s.store.Get(ctx, key, &page); gerr == nil && found {
		return nil
	}
	// %v, not %w: the head's update must end here, not read a refused
	// write to the page as a race lost on the head and try again.
	return fmt.Errorf("archive history page %s: %v", key, err)
}

// History returns a page of the customer's history, newest first, as
// notification.Store says: it reads the head, and at most two archived
// pages for a limit up to historyPageSize.
func (s *Store) History(ctx context.Context, customerID string, before, limit int) ([]notification.Notification, int, error) {
	var h historyHead
	if _, _, err := s.store.Get(ctx, historyHeadKey(customerID), &h); err != nil {
		return nil, 0, err
	}
	total := h.Pages*historyPageSize + len(h.Newest)
	if before < 0 || before > total {
		before = total
	}
	older := max(0, before-limit)
	var ids []string
	for page := older / historyPageSize; page*historyPageSize < before; page++ {
		listed := h.Newest
		if page < h.Pages {
			var archived []string
			if _, _, err := s.store.Get(ctx, historyPageKey(customerID, page), &archived); err != nil {
				return nil, 0, err
			}
			listed = archived
		}
		first := page * historyPageSize
		from, to := min(max(0, older-first), len(listed)), min(len(listed), before-first)
		if from < to {
			ids = append(ids, listed[from:to]...)
		}
	}
	slices.Reverse(ids)
	list, err := daprstate.GetAll[notification.Notification](ctx, s.store, ids, notificationKey)
	return list, older, err
}
