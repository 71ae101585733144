package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestOutboxNeverStoresAnOrderWithoutItsEvent stops pub/sub (on the Redis
// profile a Redis of its own here) while the state store stays up. A save-then-publish service
// would store the order, answer 201 and lose its event; with the outbox the
// sidecar cannot publish the event, so the transaction never runs: the order
// is refused whole, nothing is stored and its stock is back.
func TestOutboxNeverStoresAnOrderWithoutItsEvent(t *testing.T) {
	sc := run.Scenario(t, "outbox")
	sys := suite.Start(t, sc, system.Options{SeparatePubSubRedis: true})
	sys.Restock(t, "OUTBOX-1", 3)

	// First, with the broker up: the order's event reaches its topic, and
	// only the orderstore's outbox publishes it. A store without its
	// outbox settings saves orders and publishes nothing, and daprd says
	// nothing of it.
	sys.Restock(t, "OUTBOX-OK", 1)
	published := sys.Broker.Tap(t, ordersTopic)
	status, id := sys.PlaceOrder(t, "", "c-outbox-ok", "OUTBOX-OK", 1)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders with the broker up: got %d, want 201", status)
	}
	err := awaitOrderEvent(published, id)
	sc.Check("an order's event published on "+ordersTopic+" by the orderstore's outbox", err == nil,
		fmt.Sprintf("its event within %s", outboxSettle),
		fmt.Sprintf("%v: the order was stored and nothing published it; does the orderstore component set "+
			"outboxPublishPubsub and outboxPublishTopic? (daprd runs without the outbox, silently, when one is missing)", err))

	sys.BrokerProc.Stop()
	status, _ = sys.PlaceOrder(t, "", "c-outbox", "OUTBOX-1", 2)
	sc.Check("order refused while its event cannot be published", status >= 500, "a 5xx", fmt.Sprint(status))
	got := sys.StoredItem(t, "OUTBOX-1")
	sc.Check("stock back after the refused order", got.Available == 3 && got.Reserved == 0,
		"available 3 reserved 0", fmt.Sprintf("available %d reserved %d", got.Available, got.Reserved))
	var stored []string
	for _, o := range sys.StoredOrders(t) {
		if o.CustomerID == "c-outbox" {
			stored = append(stored, o.ID+" "+o.Status)
		}
	}
	sc.Check("no order stored without its event", len(stored) == 0, "no order of c-outbox in the state store", fmt.Sprintf("%v", stored))
	// The sanity check that makes the above meaningful: the order API
	// itself still works for reads.
	if status := sys.Call(t, http.MethodGet, sys.App(t, "order").URL+"/orders/unknown", "", nil); status != http.StatusNotFound {
		t.Errorf("GET /orders/unknown: got %d, want 404", status)
	}
}

// outboxPrompt is how soon after its order's answer an event must be on
// the orders topic: the forwarder's own work is a state read and a
// publish, milliseconds, and the test sees the topic every
// proc.PollInterval.
const outboxPrompt = 500 * time.Millisecond

// TestOutboxPublishesPromptly places orders one at a time and times each
// from its answer (the transaction committed) until its event is on the
// orders topic, as the broker shows it. The fastest of them must be
// prompt; daprd's outbox waits a fixed second before it looks for the
// transaction, a known finding.
func TestOutboxPublishesPromptly(t *testing.T) {
	sc := run.Scenario(t, "outbox: how soon an order's event is published")
	sys := suite.Start(t, sc, system.Options{})
	const orders = 3
	sys.Restock(t, "PROMPT-1", orders)
	published := sys.Broker.Tap(t, ordersTopic)
	var took []time.Duration
	for range orders {
		status, id := sys.PlaceOrder(t, "", "c-prompt", "PROMPT-1", 1)
		answered := time.Now()
		if status != http.StatusCreated {
			t.Fatalf("POST /orders: got %d, want 201", status)
		}
		if err := awaitOrderEvent(published, id); err != nil {
			t.Fatalf("order %s: %v", id, err)
		}
		took = append(took, time.Since(answered).Round(time.Millisecond))
		sc.Measure(fmt.Sprintf("order %d: answer to event on %s", len(took), ordersTopic), float64(took[len(took)-1].Milliseconds()), "ms")
	}
	fastest := slices.Min(took)
	// The finding excuses this invariant, and no other.
	sc.KnownIssue(findings.OutboxWaitsASecond.Known())
	defer sc.KnownIssue("")
	sc.Check("an order's event on "+ordersTopic+" promptly", fastest < outboxPrompt,
		fmt.Sprintf("the fastest of %d within %s of its order's answer", orders, outboxPrompt),
		fmt.Sprintf("%s at the fastest (%v)", fastest, took))
}

// awaitOrderEvent waits up to outboxSettle for the event of order id among
// what published (a Broker.Tap of the orders topic) recorded.
func awaitOrderEvent(published func() ([][]byte, error), id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), outboxSettle)
	defer cancel()
	return proc.WaitUntil(ctx, func(context.Context) error {
		events, err := published()
		if err == nil && !slices.ContainsFunc(events, func(e []byte) bool { return bytes.Contains(e, []byte(id)) }) {
			err = fmt.Errorf("%d events on %s, none of %s", len(events), ordersTopic, id)
		}
		return err
	})
}
