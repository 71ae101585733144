// Package dapr keeps delivered notifications in a Dapr state store.
package dapr

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// Store is a notification.Store. Each notification is its own key, written
// once (first-write); each customer has an index of notification ids.
type Store struct {
	store daprstate.Store
}

// NewStore returns a Store on store.
func NewStore(store daprstate.Store) *Store {
	return &Store{store: store}
}

func notificationKey(id string) string    { return "notification:" + id }
func historyKey(customerID string) string { return "history:" + customerID }

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

// Claim creates a claim for id that expires after claimTTL; first-write
// refuses to create it while another one lives.
func (s *Store) Claim(ctx context.Context, id string) (bool, error) {
	meta := map[string]string{"ttlInSeconds": strconv.Itoa(int(claimTTL / time.Second))}
	err := s.store.Put(ctx, claimKey(id), "claimed", "", meta)
	if err == nil {
		return true, nil
	}
	// Refused, or failed: a claim that exists now tells which.
	var claim string
	if _, found, gerr := s.store.Get(ctx, claimKey(id), &claim); gerr == nil && found {
		return false, nil
	}
	return false, fmt.Errorf("claim notification %s: %w", id, err)
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

// AddToHistory appends id to the customer's index unless it is there.
func (s *Store) AddToHistory(ctx context.Context, customerID, id string) error {
	_, err := appendToIndex(ctx, s.store, historyKey(customerID), id, 0)
	return err
}

// History returns the customer's notifications in delivery order.
func (s *Store) History(ctx context.Context, customerID string) ([]notification.Notification, error) {
	var ids []string
	if _, _, err := s.store.Get(ctx, historyKey(customerID), &ids); err != nil {
		return nil, err
	}
	return daprstate.GetAll[notification.Notification](ctx, s.store, ids, notificationKey)
}

// appendToIndex adds id to the list of ids under key unless it is there,
// keeping at most limit ids (0: no limit), and returns the ids it pushed
// out; concurrent writers are handled by daprstate.Modify.
func appendToIndex(ctx context.Context, store daprstate.Store, key, id string, limit int) (evicted []string, err error) {
	err = daprstate.Modify(ctx, store, key, func(ids []string, _ bool) ([]string, error) {
		evicted = nil // decided again on fresh data after a lost race
		if slices.Contains(ids, id) {
			return nil, daprstate.ErrUnchanged
		}
		ids = append(ids, id)
		if limit > 0 && len(ids) > limit {
			evicted = slices.Clone(ids[:len(ids)-limit])
			ids = ids[len(ids)-limit:]
		}
		return ids, nil
	})
	return evicted, err
}

// removeFromIndex removes id from the list of ids under key, if it is there.
func removeFromIndex(ctx context.Context, store daprstate.Store, key, id string) error {
	return daprstate.Modify(ctx, store, key, func(ids []string, _ bool) ([]string, error) {
		if !slices.Contains(ids, id) {
			return nil, daprstate.ErrUnchanged
		}
		return slices.DeleteFunc(ids, func(listed string) bool { return listed == id }), nil
	})
}
