// Package dapr keeps delivered notifications in a Dapr state store.
package dapr

import (
	"context"
	"encoding/json"
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

// Delivered reports whether notification id was recorded.
func (s *Store) Delivered(ctx context.Context, id string) (bool, error) {
	var n notification.Notification
	_, found, err := s.store.Get(ctx, notificationKey(id), &n)
	if err != nil {
		return false, fmt.Errorf("notification %s: %w", id, err)
	}
	return found, nil
}

// claimTTL bounds how long a claim keeps other deliveries of the same event
// waiting. It must be far longer than a send and a record take (milliseconds)
// and far shorter than the delivery retries of the resiliency policy (about
// 30 s): a claim left by a crashed process must expire while the redelivery
// is still being retried, or the event would end up a dead letter.
const claimTTL = 5 * time.Second

func claimKey(id string) string { return "claim:" + id }

// claim is what a claim holds: when it lapses. The store expires the key
// then too (its TTL), but a state store may write a key and its TTL as two
// commands (docs/patterns.md says which): one killed between the two keeps
// the claim for ever, and every redelivery of its event would be told
// another one is in progress until the event ends up a dead letter. A claim past its time is
// taken over, whether or not its key expired.
type claim struct {
	Until time.Time `json:"until"`
}

// Claim creates a claim for id that lapses after claimTTL; first-write
// refuses to create it while another one lives, and one past its time is
// replaced (ETag: by one delivery only).
func (s *Store) Claim(ctx context.Context, id string) (bool, error) {
	meta := map[string]string{"ttlInSeconds": strconv.Itoa(int(claimTTL / time.Second))}
	mine := claim{Until: s.now().Add(claimTTL)}
	err := s.store.Put(ctx, claimKey(id), mine, "", meta)
	if err == nil {
		return true, nil
	}
	// Refused, or failed: a claim that exists now tells which.
	var raw json.RawMessage
	etag, found, gerr := s.store.Get(ctx, claimKey(id), &raw)
	if gerr != nil || !found {
		return false, errors.Join(fmt.Errorf("claim notification %s: %w", id, err), gerr)
	}
	var held claim
	if json.Unmarshal(raw, &held) == nil && s.now().Before(held.Until) {
		return false, nil
	}
	// Past its time (or written by an earlier version, without one). A
	// delivery that takes it over at the same moment makes this write
	// fail: this one is then retried, and finds that one's claim.
	if err := s.store.Put(ctx, claimKey(id), mine, etag, meta); err != nil {
		return false, fmt.Errorf("take over the lapsed claim of notification %s: %w", id, err)
	}
	return true, nil
}

// Unclaim deletes the claim for id.
func (s *Store) Unclaim(ctx context.Context, id string) error {
	if err := s.store.Client.DeleteState(ctx, s.store.Name, claimKey(id), nil); err != nil {
		return fmt.Errorf("unclaim notification %s: %w", id, err)
	}
	return nil
}

// Record stores n unless a notification with its id exists already.
func (s *Store) Record(ctx context.Context, n notification.Notification) error {
	err := s.store.Put(ctx, notificationKey(n.ID), n, "", nil)
	if err == nil {
		return nil
	}
	// First-write refuses to overwrite an existing key: if it is there now,
	// a concurrent redelivery recorded it first, which is just as good.
	if delivered, derr := s.Delivered(ctx, n.ID); derr == nil && delivered {
		return nil
	}
	return fmt.Errorf("record notification %s: %w", n.ID, err)
}

// AddToHistory appends id to the customer's history unless the head lists
// it. A head that is full is archived first, as the next page. A
// redelivery's id that was archived meanwhile (after a hundred newer
// notifications of the same customer) would be listed twice: the price of
// not reading every page on every event.
func (s *Store) AddToHistory(ctx context.Context, customerID, id string) error {
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
