package dapr

import (
	"context"
	"fmt"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// DefaultDeadLetterLimit bounds the index of dead letters: an operator
// needs the recent ones; a flood of poison messages must not grow one key
// forever.
const DefaultDeadLetterLimit = 1000

const deadLetterIndexKey = "deadletters"

// DeadLetters is a notification.DeadLetters on a Dapr state store: one key
// per dead letter and an index of the ids of the most recent ones.
type DeadLetters struct {
	store daprstate.Store
	limit int
}

// NewDeadLetters returns DeadLetters on store whose index keeps the limit
// most recent (DefaultDeadLetterLimit in the service).
func NewDeadLetters(store daprstate.Store, limit int) *DeadLetters {
	return &DeadLetters{store: store, limit: limit}
}

func deadLetterKey(id string) string { return "deadletter:" + id }

// Add keeps dl and lists it in the index.
func (d *DeadLetters) Add(ctx context.Context, dl notification.DeadLetter) error {
	// A redelivered dead letter finds its key written; the first copy is
	// as good as the second.
	if err := d.store.Put(ctx, deadLetterKey(dl.ID), dl, "", nil); err != nil {
		var stored notification.DeadLetter
		if _, found, gerr := d.store.Get(ctx, deadLetterKey(dl.ID), &stored); gerr != nil || !found {
			return fmt.Errorf("keep dead letter %s: %w", dl.ID, err)
		}
	}
	return appendToIndex(ctx, d.store, deadLetterIndexKey, dl.ID, d.limit)
}

// List returns the dead letters in the index, oldest first.
func (d *DeadLetters) List(ctx context.Context) ([]notification.DeadLetter, error) {
	var ids []string
	if _, _, err := d.store.Get(ctx, deadLetterIndexKey, &ids); err != nil {
		return nil, err
	}
	return daprstate.GetAll[notification.DeadLetter](ctx, d.store, ids, deadLetterKey)
}
