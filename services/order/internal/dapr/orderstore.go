package dapr

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	sdk "github.com/dapr/go-sdk/client"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// OrderStore is an order.Repository on a Dapr state store whose component
// enables the transactional outbox (outboxPublishPubsub and
// outboxPublishTopic): an order and its event are written in one state
// transaction, and the sidecar publishes the event only once the transaction
// committed. A crash between saving and publishing cannot lose the event.
//
// A rejected order is kept for a retention period only (the store's TTL):
// it holds no stock and nothing more happens to it, and a shop that keeps
// every refusal for ever grows with every customer's attempt.
type OrderStore struct {
	store             daprstate.Store
	orders            map[order.Status]daprstate.Counter
	rejectedRetention time.Duration
	createETag        string
}

// NewOrderStore returns an OrderStore on store. orders counts the orders
// saved with their event, by the status they reached: each confirmation,
// rejection and cancellation once (a status without a counter is not
// counted). A rejected order expires after rejectedRetention (whole
// seconds, at least one).
//
// createETag is how a create says "only if absent" inside the transaction.
// Empty, it says so as Dapr's state API specifies: first-write concurrency
// and no ETag, which a store that keeps that contract refuses for a key
// that exists. A store that ignores first-write inside transactions (the
// deployment says which, docs/patterns.md "Two backend profiles") is given
// an ETag instead: a version no stored record reaches, which it refuses
// for any key that exists and ignores for one that does not.
func NewOrderStore(store daprstate.Store, orders map[order.Status]daprstate.Counter, rejectedRetention time.Duration, createETag string) *OrderStore {
	return &OrderStore{store: store, orders: orders, rejectedRetention: rejectedRetention, createETag: createETag}
}

func orderKey(id string) string { return "order:" + id }

// Get returns the order with id, or order.ErrNotFound.
func (s *OrderStore) Get(ctx context.Context, id string) (order.Order, error) {
	o, _, err := s.read(ctx, id)
	return o, err
}

// Create stores a new order and its event.
func (s *OrderStore) Create(ctx context.Context, o order.Order, event events.Order) error {
	return s.save(ctx, o, "", &event)
}

// Update applies fn to the stored order and saves the result, with the event
// fn returns, if the order did not change meanwhile; otherwise it reads again
// and retries (daprstate.Update).
func (s *OrderStore) Update(ctx context.Context, id string, fn func(order.Order) (order.Order, *events.Order, error)) (order.Order, error) {
	var updated order.Order
	err := s.store.Update(ctx, func() error {
		current, etag, err := s.read(ctx, id)
		if err != nil {
			return err
		}
		var event *events.Order
		updated, event, err = fn(current)
		if err != nil || event == nil {
			return err // fn refused, or changed nothing
		}
		return s.save(ctx, updated, etag, event)
	})
	if err != nil {
		return order.Order{}, fmt.Errorf("update order %s: %w", id, err)
	}
	return updated, nil
}

func (s *OrderStore) read(ctx context.Context, id string) (order.Order, string, error) {
	var o order.Order
	etag, found, err := s.store.Get(ctx, orderKey(id), &o)
	if err != nil {
		return order.Order{}, "", err
	}
	if !found {
		return order.Order{}, "", order.ErrNotFound
	}
	return o, etag, nil
}

// save writes o, guarded by etag (empty: the order must not exist yet,
// NewOrderStore's createETag), and
// when event is not nil has the outbox publish it. The event travels as an
// outbox projection: the same key with other contents, which the sidecar
// publishes instead of the stored order, and which is never stored itself.
// So the content type goes on the projection only: on the stored value,
// contentType application/json makes some stores keep the value as a JSON
// document, which one of them can only with a server module
// (docs/patterns.md, the outbox). The projection must come last: the sidecar
// removes it from the operations while it walks them.
func (s *OrderStore) save(ctx context.Context, o order.Order, etag string, event *events.Order) error {
	data, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode order %s: %w", o.ID, err)
	}
	item := &sdk.SetStateItem{
		Key:     orderKey(o.ID),
		Value:   data,
		Options: &sdk.StateOptions{Concurrency: sdk.StateConcurrencyFirstWrite, Consistency: sdk.StateConsistencyStrong},
	}
	if guard := cmp.Or(etag, s.createETag); guard != "" {
		item.Etag = &sdk.ETag{Value: guard}
	}
	ops := []*sdk.StateOperation{{Type: sdk.StateOperationTypeUpsert, Item: item}}
	if o.Status == order.StatusRejected {
		item.Metadata = map[string]string{"ttlInSeconds": strconv.Itoa(max(1, int(s.rejectedRetention/time.Second)))}
	}
	if event != nil {
		item.Metadata = outboxTraceContext(ctx, item.Metadata)
		payload, err := json.Marshal(event)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", event.EventID, err)
		}
		ops = append(ops, &sdk.StateOperation{Type: sdk.StateOperationTypeUpsert, Item: &sdk.SetStateItem{
			Key:   orderKey(o.ID),
			Value: payload,
			Metadata: map[string]string{
				"outbox.projection": "true",
				"contentType":       "application/json",
			},
		}})
	}
	if err := s.store.Client.ExecuteStateTransaction(ctx, s.store.Name, nil, ops); err != nil {
		return &daprstate.WriteError{Key: item.Key, ETag: etag, Err: err}
	}
	if c := s.orders[o.Status]; event != nil && c != nil {
		c.Inc()
	}
	return nil
}

// outboxTraceContext adds the W3C trace context of ctx to md, the metadata
// of the stored operation of an outbox transaction, and returns it (a new
// map when md is nil): the sidecar copies it into the event's CloudEvent.
// Without it the event's subscribers start a new trace: daprd 1.16 puts the
// transaction's trace only in the envelope's traceid field and leaves
// traceparent, which the subscribing sidecar reads first, empty (found by
// the e2e trace-completeness check).
func outboxTraceContext(ctx context.Context, md map[string]string) map[string]string {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if len(carrier) == 0 {
		return md
	}
	if md == nil {
		md = map[string]string{}
	}
	maps.Copy(md, carrier)
	return md
}
