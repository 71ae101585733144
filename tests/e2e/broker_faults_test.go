package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// The topics the events of an order pass through (streams on Redis,
// exchanges on RabbitMQ): daprd's outbox first publishes to an internal
// topic of the order app's sidecar, named
// namespace + app id + topic + "outbox" (the namespace is "default"
// self-hosted, from $NAMESPACE otherwise), whose subscriber forwards each
// event to the "orders" topic once its state transaction has committed;
// notification consumes "orders".
const (
	ordersTopic       = "orders"
	outboxTopicSuffix = "order" + ordersTopic + "outbox"
)

// outboxTopic finds the outbox's internal topic, whatever the namespace.
func outboxTopic(t *testing.T, broker system.Broker) string {
	t.Helper()
	topics, err := broker.Topics(context.Background())
	var found []string
	for _, topic := range topics {
		if strings.HasSuffix(topic, outboxTopicSuffix) {
			found = append(found, topic)
		}
	}
	if err != nil || len(found) != 1 {
		t.Fatalf("the outbox's topic (*%s) in the broker: found %v (%v), want one", outboxTopicSuffix, found, err)
	}
	return found[0]
}

// faultWindow is how long a broker fault lasts under the load.
const faultWindow = 5 * time.Second

// TestFaultDuplicateDelivery makes the broker deliver every order event
// twice for a while under load: each entry added to "orders" is added
// again, as a redelivery after processingTimeout does in production (a
// consumer that is slow, or that acknowledged into a connection that
// dropped). Two deliveries of one event often arrive together, while the
// first is still being handled. notification must take each event once:
// one notification per confirmed order, none sent twice.
func TestFaultDuplicateDelivery(t *testing.T) {
	testLoad(t, "fault: broker delivers every order event twice", loadOptions{exactlyOnce: true}, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		ctx, cancel := context.WithTimeout(context.Background(), faultWindow)
		defer cancel()
		copies, err := sys.Broker.Duplicate(ctx, ordersTopic)
		observed := fmt.Sprintf("%d added twice", copies)
		if err != nil {
			observed += ", then " + err.Error()
		}
		sc.Check("duplicates injected on "+ordersTopic, err == nil && copies > 0, "some entries added twice", observed)
	})
}

// outboxSettle bounds how long the outbox may take with a redelivered
// event: 1 s before it looks, 10 s of looking for the transaction.
const outboxSettle = 15 * time.Second

// TestOutboxRedelivery delivers one outbox event to the order sidecar a
// second time after it was forwarded, as a redelivery after
// processingTimeout or after a crash before the acknowledgement does. The
// forwarder finds the event's transaction record gone (it deletes it once
// forwarded) and, with outboxDiscardWhenMissingState, must drop the event
// after looking for about 11 s. In every Dapr release tested it never
// stops looking: the message stays pending, the sidecar spins on it, and it
// cannot shut down in its grace period.
func TestOutboxRedelivery(t *testing.T) {
	sc := run.Scenario(t, "outbox: an event delivered again after it was forwarded")
	sc.KnownIssue(findings.OutboxRetriesForever.Known())
	sys := suite.Start(t, sc, system.Options{})
	sys.Restock(t, "REDELIVER-1", 5)
	msgs := sys.Subscribe(t, "c-redeliver")
	topic := outboxTopic(t, sys.Broker)
	outboxEvents := sys.Broker.Tap(t, topic)
	if status, _ := sys.PlaceOrder(t, "", "c-redeliver", "REDELIVER-1", 1); status != http.StatusCreated {
		t.Fatalf("POST /orders: got %d, want 201", status)
	}
	suite.Receive(t, msgs)

	ctx := context.Background()
	forwarded, err := outboxEvents()
	if err != nil || len(forwarded) != 1 {
		t.Fatalf("the outbox's topic %s: %d events (%v), want the one of the order", topic, len(forwarded), err)
	}
	if err := sys.Broker.Publish(ctx, topic, forwarded[0]); err != nil {
		t.Fatal(err)
	}

	order := sys.App(t, "order")
	sc.Phase("waiting for the redelivered event to be dropped")
	waitCtx, cancel := context.WithTimeout(ctx, outboxSettle)
	defer cancel()
	err = system.AwaitDrained(waitCtx, sys.Broker, topic, order.Daprd)
	sc.Check("redelivered outbox event dropped", err == nil,
		fmt.Sprintf("nothing held for %s on %s within %s", order.ID, topic, outboxSettle), fmt.Sprint(err))
	cores := cpuCores(t, order.Daprd, 3*time.Second)
	sc.Check("order's sidecar idle once the event is dropped", cores < 0.2, "under 0.2 of a core over 3 s", fmt.Sprintf("%.2f cores", cores))
}

// cpuCores is how many cores p used on average over d.
func cpuCores(t *testing.T, p *proc.Process, d time.Duration) float64 {
	t.Helper()
	before, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	after, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return (after.CPUSeconds - before.CPUSeconds) / d.Seconds()
}

// TestFaultBrokerFull has the pub/sub broker take no publish for a while
// under load (system.Broker.Fill): a Redis at maxmemory with noeviction
// refuses them (XADD fails; reads and acknowledgements still work), a
// RabbitMQ past its memory alarm blocks the publishers. The state store
// stays up. New orders fail and are retried by their clients; an event
// already on its way must not be lost: the outbox forwarder cannot forward
// it, and a subscriber that acknowledges a message whose handler failed
// drops it for good.
func TestFaultBrokerFull(t *testing.T) {
	opts := loadOptions{system: system.Options{SeparatePubSubRedis: true}}
	testLoad(t, "fault: pub/sub broker full (publishes refused)", opts, func(t *testing.T, sys *suite.Shop, sc *report.ScenarioRecorder) {
		drain, err := sys.Broker.Fill(context.Background())
		if err == nil {
			time.Sleep(faultWindow)
			err = drain()
		}
		sc.Check("broker refused publishes, then took them again", err == nil, "full for "+faultWindow.String()+", then drained", fmt.Sprint(err))
	})
}
