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

// DefaultDeadLetterLimit bounds the index of dead letters: an operator
// needs the recent ones; a flood of poison messages must not grow one key
// forever.
const DefaultDeadLetterLimit = 1000

const deadLetterIndexKey = "deadletters"

// DeadLetters is a notification.DeadLetters on a Dapr state store: one key
// per dead letter, which the store expires after the retention period, and
// an index of the ids of the most recent ones; a dead letter pushed out of
// the index is deleted at once.
type DeadLetters struct {
	store     daprstate.Store
	limit     int
	retention time.Duration
}

// NewDeadLetters returns DeadLetters on store whose index keeps the limit
// most recent (DefaultDeadLetterLimit in the service), each kept for
// retention (whole seconds, at least one).
func NewDeadLetters(store daprstate.Store, limit int, retention time.Duration) *DeadLetters {
	return &DeadLetters{store: store, limit: limit, retention: retention}
}

func deadLetterKey(id string) string { return "deadletter:" + id }

// Add keeps dl and lists it in the index.
func (d *DeadLetters) Add(ctx context.Context, dl notification.DeadLetter) error {
	// A redelivered dead letter finds its key written; the first copy is
	// as good as the second.
	ttl := map[string]string{"ttlInSeconds": strconv.Itoa(max(1, int(d.retention/time.Second)))}
	if err := d.store.Put(ctx, deadLetterKey(dl.ID), dl, "", ttl); err != nil {
		if _, found, gerr := d.Get(ctx, dl.ID); gerr != nil || !found {
			return fmt.Errorf("keep dead letter %s: %w", dl.ID, err)
		}
	}
	evicted, err := appendToIndex(ctx, d.store, deadLetterIndexKey, dl.ID, d.limit)
	if err != nil {
		return err
	}
	for _, id := range evicted {
		if err := d.delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// List returns the dead letters in the index, oldest first; those that
// expired are left out.
func (d *DeadLetters) List(ctx context.Context) ([]notification.DeadLetter, error) {
	var ids []string
	if _, _, err := d.store.Get(ctx, deadLetterIndexKey, &ids); err != nil {
		return nil, err
	}
	return daprstate.GetAll[notification.DeadLetter](ctx, d.store, ids, deadLetterKey)
}

// Get returns the dead letter with id.
func (d *DeadLetters) Get(ctx context.Context, id string) (notification.DeadLetter, bool, error) {
	var dl notification.DeadLetter
	_, found, err := d.store.Get(ctx, deadLetterKey(id), &dl)
	return dl, found, err
}

// Remove takes id out of the index, then deletes its dead letter.
func (d *DeadLetters) Remove(ctx context.Context, id string) error {
	if err := removeFromIndex(ctx, d.store, deadLetterIndexKey, id); err != nil {
		return err
	}
	return d.delete(ctx, id)
}

func (d *DeadLetters) delete(ctx context.Context, id string) error {
	if err := d.store.Client.DeleteState(ctx, d.store.Name, deadLetterKey(id), nil); err != nil {
		return fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	return nil
}

// appendToIndex adds id to the list of ids under key unless it is there,
// keeping at most limit ids, and returns the ids it pushed out; concurrent
// writers are handled by daprstate.Modify.
func appendToIndex(ctx context.Context, store daprstate.Store, key, id string, limit int) (evicted []string, err error) {
	err = daprstate.Modify(ctx, store, key, func(ids []string, _ bool) ([]string, error) {
		evicted = nil // decided again on fresh data after a lost race
		if slices.Contains(ids, id) {
			return nil, daprstate.ErrUnchanged
		}
		ids = append(ids, id)
		if len(ids) > limit {
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
