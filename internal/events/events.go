// Package events defines the messages the services exchange over Dapr
// pub/sub: the component and topic names and the event payloads. Producers
// and consumers import the same types so the wire format has one definition.
package events

import "time"

// PubSub is the name of the Dapr pub/sub component every service uses.
const PubSub = "pubsub"

// TopicOrders carries the order lifecycle events published by the order
// service.
const TopicOrders = "orders"

// Order event types, used as the CloudEvent type.
const (
	TypeOrderConfirmed = "daprshop.order.confirmed.v1"
	TypeOrderRejected  = "daprshop.order.rejected.v1"
	TypeOrderCancelled = "daprshop.order.cancelled.v1"
)

// Line is one SKU and quantity of an order, as its events publish it. Not
// order.Line: what subscribers read is versioned with the event type (v1),
// so how the order service stores or serves an order may change without
// changing it.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Order is the payload of every event on TopicOrders. EventID identifies the
// event itself, so a consumer can tell a redelivery from a new event.
// Version is the order's version after the change the event records: each
// change raises it by one. Dapr's pub/sub promises no order between two
// events, so a consumer tells which of an order's events is the later by
// its version, not by when it arrived.
type Order struct {
	EventID    string    `json:"eventId"`
	Type       string    `json:"type"`
	OrderID    string    `json:"orderId"`
	Version    int       `json:"version"`
	CustomerID string    `json:"customerId"`
	Items      []Line    `json:"items"`
	Status     string    `json:"status"`
	OccurredAt time.Time `json:"occurredAt"`
}
