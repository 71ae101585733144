package dapr

import (
	"context"
	"encoding/json"
	"fmt"

	sdk "github.com/dapr/go-sdk/client"
)

// The stream of order events notification consumes, as components/ names
// it: the Subscription orders-to-notification, whose dead letters are the
// ones redriven.
const (
	ordersPubSub = "pubsub"
	ordersTopic  = "orders"
)

// Events is a notification.Events on Dapr pub/sub: it publishes an order
// event again on the topic it came from.
type Events struct {
	client sdk.Client
}

// NewEvents returns Events publishing through client.
func NewEvents(client sdk.Client) *Events { return &Events{client: client} }

// Republish publishes data, an order event, on the orders topic.
func (e *Events) Republish(ctx context.Context, data json.RawMessage) error {
	if err := e.client.PublishEvent(ctx, ordersPubSub, ordersTopic, []byte(data),
		sdk.PublishEventWithContentType("application/json")); err != nil {
		return fmt.Errorf("publish on %s/%s: %w", ordersPubSub, ordersTopic, err)
	}
	return nil
}
