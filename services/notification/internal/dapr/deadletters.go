package dapr

import (
	"context"
	"encoding/json"
	"fmt"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// deadLetterLimit bounds the index of dead letters: an operator needs the
// recent ones; a flood of poison messages must not grow one key forever.
const deadLetterLimit = 1000

const deadLetterIndexKey = "deadletters"

// DeadLetters is a notification.DeadLetters on a Dapr state store: one key
// per dead letter and a bounded index of their ids.
type DeadLetters struct {
	client sdk.Client
	name   string
}

// NewDeadLetters returns DeadLetters on the state store component name.
func NewDeadLetters(client sdk.Client, name string) *DeadLetters {
	return &DeadLetters{client: client, name: name}
}

func deadLetterKey(id string) string { return "deadletter:" + id }

// Add stores d and lists it in the index.
func (d *DeadLetters) Add(ctx context.Context, dl notification.DeadLetter) error {
	data, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encode dead letter %s: %w", dl.ID, err)
	}
	if err := d.client.SaveState(ctx, d.name, deadLetterKey(dl.ID), data, nil); err != nil {
		return fmt.Errorf("save dead letter %s: %w", dl.ID, err)
	}
	return appendToIndex(ctx, d.client, d.name, deadLetterIndexKey, dl.ID, deadLetterLimit, nil)
}

// List returns the dead letters in the index, oldest first.
func (d *DeadLetters) List(ctx context.Context) ([]notification.DeadLetter, error) {
	ids, _, err := readIndex(ctx, d.client, d.name, deadLetterIndexKey)
	if err != nil {
		return nil, err
	}
	return getAll[notification.DeadLetter](ctx, d.client, d.name, ids, deadLetterKey)
}
