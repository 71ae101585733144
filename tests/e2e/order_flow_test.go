package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestOrderFlow runs the order-flow patterns against one running system:
// each subtest uses SKUs and customers of its own.
func TestOrderFlow(t *testing.T) {
	sys := suite.Start(t, nil, system.Options{})
	for _, sub := range []struct {
		name string
		test func(*testing.T, *suite.Shop)
	}{
		{"concurrency and oversell", testNoOversell},
		{"idempotent replay", testIdempotencyKey},
		{"cancellation", testCancelTwice},
		{"notification exactly once", testRedelivery},
		{"events out of order", testEventsOutOfOrder},
		{"dead letters", testPoisonEvent},
		{"dead letter redriven", testRedrive},
		{"unreadable message kept by the broker", testUnreadableMessageKept},
	} {
		t.Run(sub.name, func(t *testing.T) {
			sc := run.Scenario(t, sub.name)
			sub.test(t, sys.For(sc))
			sc.Resources(suite.Resources(sys.Usage()))
		})
	}
}

func testNoOversell(t *testing.T, sys *suite.Shop) {
	const stock, orders = 5, 24
	sys.Restock(t, "RACE-1", stock)

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			status, _ := sys.PlaceOrder(t, "", fmt.Sprintf("c-race-%d", i), "RACE-1", 1)
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	sc := sys.Scenario
	sc.Check("exactly K of N concurrent orders confirmed", statuses[http.StatusCreated] == stock && statuses[http.StatusConflict] == orders-stock,
		fmt.Sprintf("%d×201, %d×409", stock, orders-stock), fmt.Sprint(statuses))
	api := sys.Item(t, "RACE-1")
	stored := sys.StoredItem(t, "RACE-1")
	want := fmt.Sprintf("available 0 reserved %d", stock)
	sc.Check("no oversell (inventory API)", api.Available == 0 && api.Reserved == stock, want, fmt.Sprintf("available %d reserved %d", api.Available, api.Reserved))
	sc.Check("no oversell (state store)", stored.Available == 0 && stored.Reserved == stock, want, fmt.Sprintf("available %d reserved %d", stored.Available, stored.Reserved))
}

func testIdempotencyKey(t *testing.T, sys *suite.Shop) {
	sys.Restock(t, "IDEM-1", 10)
	const requests = 8
	ids := make(chan string, requests)
	var wg sync.WaitGroup
	for range requests { // concurrent: most arrive while the first is in flight
		wg.Go(func() {
			status, id := sys.PlaceOrder(t, "key-idem-1", "c-idem", "IDEM-1", 3)
			if status != http.StatusCreated {
				t.Errorf("POST /orders with a key: got status %d, want 201", status)
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	_, late := sys.PlaceOrder(t, "key-idem-1", "c-idem", "IDEM-1", 3) // and a late replay
	seen[late] = true
	sc := sys.Scenario
	sc.Check("one order per idempotency key", len(seen) == 1,
		fmt.Sprintf("%d concurrent requests and a late replay name 1 order", requests), fmt.Sprintf("%d orders", len(seen)))
	got := sys.StoredItem(t, "IDEM-1")
	sc.Check("replays reserve nothing", got.Available == 7 && got.Reserved == 3,
		"available 7 reserved 3", fmt.Sprintf("available %d reserved %d", got.Available, got.Reserved))
	status, _ := sys.PlaceOrder(t, "key-idem-1", "c-idem", "IDEM-1", 4)
	sc.Check("key reused for another order refused", status == http.StatusUnprocessableEntity, "422", fmt.Sprint(status))
}

func testCancelTwice(t *testing.T, sys *suite.Shop) {
	sys.Restock(t, "CANCEL-1", 4)
	status, id := sys.PlaceOrder(t, "", "c-cancel", "CANCEL-1", 3)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders: got status %d, want 201", status)
	}
	for i := range 2 {
		var o suite.Order
		if status := sys.Call(t, http.MethodPost, sys.App(t, "order").URL+"/orders/"+id+"/cancel", "", &o); status != http.StatusOK || o.Status != "cancelled" {
			t.Fatalf("cancel #%d: got %d %+v, want 200 cancelled", i+1, status, o)
		}
	}
	got := sys.StoredItem(t, "CANCEL-1")
	sys.Scenario.Check("cancel twice releases once", got.Available == 4 && got.Reserved == 0,
		"available 4 reserved 0", fmt.Sprintf("available %d reserved %d", got.Available, got.Reserved))
}

func testRedelivery(t *testing.T, sys *suite.Shop) {
	customer := "c-redeliver"
	msgs := sys.Subscribe(t, customer)
	status, id := sys.PlaceOrder(t, "", customer, "SKU-2", 1)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders: got status %d, want 201", status)
	}
	first := suite.Receive(t, msgs)
	// Publish the same event again, as a redelivery would bring it.
	event := fmt.Sprintf(`{"eventId":%q,"type":"daprshop.order.confirmed.v1","orderId":%q,"version":1,"customerId":%q,"status":"confirmed","items":[{"sku":"SKU-2","quantity":1}],"occurredAt":"2026-11-24T00:00:00Z"}`,
		first.Header.Get(nats.MsgIdHdr), id, customer)
	if err := publish(t, sys, "orders", event); err != nil {
		t.Fatalf("publish the event again: %v", err)
	}
	sc := sys.Scenario
	select {
	case msg := <-msgs:
		sc.Check("redelivered event notifies once", false, "no second notification", "a second one: "+string(msg.Data))
	case <-time.After(3 * time.Second):
		sc.Check("redelivered event notifies once", true, "no second notification", "none in 3s")
	}
	dups := metric(t, sys.App(t, "notification"), `daprshop_notification_events_total{outcome="duplicate"}`)
	sc.Check("duplicates counted on /metrics", dups >= 1, "at least 1", fmt.Sprint(dups))
}

// testEventsOutOfOrder hands notification an order's cancellation before
// its confirmation, as a broker or a sidecar that reorders a topic would:
// the customer must not be told "confirmed" last.
func testEventsOutOfOrder(t *testing.T, sys *suite.Shop) {
	const order, customer = "o-reordered", "c-reordered"
	notes := sys.CollectNotifications(t)
	notification := sys.App(t, "notification")
	for _, e := range []struct {
		status  string
		version int
	}{{"cancelled", 2}, {"confirmed", 1}} {
		handled := eventsHandled(t, notification)
		if err := publish(t, sys, "orders", orderEvent(order, customer, e.status, e.version)); err != nil {
			t.Fatalf("publish the %s event: %v", e.status, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := proc.WaitUntil(ctx, func(context.Context) error {
			if eventsHandled(t, notification) == handled {
				return fmt.Errorf("the %s event not handled yet", e.status)
			}
			return nil
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	final := map[string]string{order: "cancelled"}
	sc := sys.Scenario
	wrong := notes.OutOfOrder(final)
	sc.Check("an earlier event after a later one is not told (NATS)", len(wrong) == 0, "told cancelled last", fmt.Sprint(wrong))
	wrong = suite.HistoriesOutOfOrder(t, sys, []string{customer}, final)
	sc.Check("an earlier event after a later one is not told (history)", len(wrong) == 0, "cancelled newest", fmt.Sprint(wrong))
}

// eventsHandled is how many order events notification answered
// SUCCESS to: told, found told before, or found too old to tell.
func eventsHandled(t *testing.T, notification *system.App) float64 {
	t.Helper()
	var n float64
	for _, outcome := range []string{"delivered", "duplicate", "outdated"} {
		n += metric(t, notification, `daprshop_notification_events_total{outcome="`+outcome+`"}`)
	}
	return n
}

// metric reads one sample from an app's /metrics, 0 when it is absent.
func metric(t *testing.T, app *system.App, sample string) float64 {
	t.Helper()
	samples, err := system.Samples(suite.HTTPClient, app.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return samples[sample]
}

func testPoisonEvent(t *testing.T, sys *suite.Shop) {
	// An event no consumer can handle: it names no customer.
	poison := `{"eventId":"poison-1","type":"daprshop.order.confirmed.v1","orderId":"o-poison","status":"confirmed"}`
	if err := publish(t, sys, "orders", poison); err != nil {
		t.Fatalf("publish the poison event: %v", err)
	}
	sc := sys.Scenario
	_, listed := awaitDeadLetter(t, sys, "o-poison")
	if sc.Check("poison event dead-lettered", listed == "", "listed by GET /deadletters within 30s", listed) {
		n := metric(t, sys.App(t, "notification"), "daprshop_notification_dead_letters_total")
		sc.Check("dead letters counted on /metrics", n >= 1, "at least 1", fmt.Sprint(n))
	}
}

// awaitDeadLetter waits up to 30 s for GET /deadletters to list a dead
// letter whose data holds substr, and returns its id; or, when none comes,
// what was listed instead.
func awaitDeadLetter(t *testing.T, sys *suite.Shop, substr string) (id, instead string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type seen struct {
		id     string
		listed int
	}
	got, _ := proc.Await(ctx, func(context.Context) (seen, bool) {
		var list struct {
			DeadLetters []struct {
				ID   string
				Data json.RawMessage
			} `json:"deadLetters"`
		}
		if status := sys.Call(t, http.MethodGet, sys.App(t, "notification").URL+"/deadletters", "", &list); status != http.StatusOK {
			t.Fatalf("GET /deadletters: got status %d, want 200", status)
		}
		for _, d := range list.DeadLetters {
			if strings.Contains(string(d.Data), substr) {
				return seen{id: d.ID}, true
			}
		}
		return seen{listed: len(list.DeadLetters)}, false
	})
	if got.id == "" {
		return "", fmt.Sprintf("%d others listed", got.listed)
	}
	return got.id, ""
}

// publish puts data on topic through order's sidecar, as any client
// allowed to publish there could, and says why when the sidecar does not
// accept it.
func publish(t *testing.T, sys *suite.Shop, topic, data string) error {
	status, err := sys.TryCall(http.MethodPost, sys.App(t, "order").DaprURL+"/v1.0/publish/pubsub/"+topic, data, nil)
	if err == nil && status != http.StatusNoContent {
		err = fmt.Errorf("publish on %s: got status %d, want 204", topic, status)
	}
	return err
}

// orderEvent is the data of the event that brought order, of customer, to
// status and version, written out as a client of the topic would.
func orderEvent(order, customer, status string, version int) string {
	return fmt.Sprintf(`{"eventId":"%s.%s","type":"daprshop.order.%s.v1","orderId":%q,"version":%d,"customerId":%q,`+
		`"status":%q,"occurredAt":"2026-12-06T00:00:00Z"}`, order, status, status, order, version, customer, status)
}

// testRedrive puts an event an operator would redrive on the dead-letter
// topic (a valid one, as if NATS had been down for longer than the
// retries), redrives it through notification's API, and expects it
// notified once and the dead letter gone.
func testRedrive(t *testing.T, sys *suite.Shop) {
	sc := sys.Scenario
	msgs := sys.Subscribe(t, "c-redrive")
	if err := publish(t, sys, "orders-deadletter", orderEvent("o-redrive", "c-redrive", "confirmed", 1)); err != nil {
		t.Fatalf("publish on the dead-letter topic: %v", err)
	}
	id, listed := awaitDeadLetter(t, sys, "o-redrive")
	if !sc.Check("event kept as a dead letter", listed == "", "listed by GET /deadletters within 30s", listed) {
		return
	}
	redrive := sys.App(t, "notification").URL + "/deadletters/" + id + "/redrive"
	status := sys.Call(t, http.MethodPost, redrive, "", nil)
	sc.Check("redrive accepted", status == http.StatusAccepted, "202", fmt.Sprint(status))
	select {
	case msg := <-msgs:
		sc.Check("redriven event notified", strings.Contains(string(msg.Data), "o-redrive"), "its notification on NATS", string(msg.Data))
	case <-time.After(30 * time.Second):
		sc.Check("redriven event notified", false, "its notification on NATS within 30s", "none")
	}
	status = sys.Call(t, http.MethodPost, redrive, "", nil)
	sc.Check("a redriven dead letter is gone", status == http.StatusNotFound, "404 on a second redrive", fmt.Sprint(status))
}

// testUnreadableMessageKept puts on the dead-letter topic a message that
// is not a CloudEvent, nor JSON at all. notification's sidecar cannot
// read it, and that topic has no dead-letter topic of its own: the sidecar
// rejects it at once (no retries: it never reaches the app). A broker
// that can keep it must, for an operator; RabbitMQ does only with a
// dead-letter exchange (pubsub.rabbitmq's enableDeadLetter).
func testUnreadableMessageKept(t *testing.T, sys *suite.Shop) {
	queues, ok := sys.Broker.(system.DeadLetterQueues)
	if !ok {
		t.Skipf("the %s profile's broker keeps nothing a sidecar gives up on", sys.Profile.Name)
	}
	const deadLetterTopic = "orders-deadletter"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	before, _ := queues.DeadLettered(ctx, "notification", deadLetterTopic)
	if err := sys.Broker.Publish(ctx, deadLetterTopic, []byte("not a CloudEvent {")); err != nil {
		t.Fatal(err)
	}
	var kept int
	err := proc.WaitUntil(ctx, func(ctx context.Context) error {
		n, err := queues.DeadLettered(ctx, "notification", deadLetterTopic)
		if err != nil {
			return err
		}
		if kept = n - before; kept < 1 {
			return fmt.Errorf("%d kept", kept)
		}
		return nil
	}, sys.App(t, "notification").Daprd)
	observed := fmt.Sprintf("%d kept", kept)
	if err != nil {
		observed = err.Error()
	}
	sys.Scenario.Check("a message notification's sidecar cannot read kept by the broker", err == nil,
		"on dlq-notification-"+deadLetterTopic+" within 15s", observed)
}

// TestEventWithNonStringTraceID publishes, as any client allowed to
// publish on the topic could, a CloudEvent whose traceid is a number:
// notification's sidecar must deliver it as any other, not crash on it.
func TestEventWithNonStringTraceID(t *testing.T) {
	sc := run.Scenario(t, "event with a non-string traceid")
	if system.DaprdBefore(t, findings.NonStringTraceID.FixedIn) {
		sc.KnownIssue(findings.NonStringTraceID.Known())
	}
	sys := suite.Start(t, sc, system.Options{})
	const customer = "c-traceid"
	msgs := sys.Subscribe(t, customer)
	event := `{"specversion":"1.0","id":"ce-traceid-1","source":"daprshop-suite","type":"daprshop.order.confirmed.v1",` +
		`"datacontenttype":"application/json","traceid":7,"data":{"eventId":"o-traceid.confirmed",` +
		`"type":"daprshop.order.confirmed.v1","orderId":"o-traceid","version":1,"customerId":"c-traceid","status":"confirmed",` +
		`"occurredAt":"2026-12-06T00:00:00Z"}}`
	req, err := http.NewRequest(http.MethodPost, sys.App(t, "order").DaprURL+"/v1.0/publish/pubsub/orders", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := sys.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish the CloudEvent: got status %d, want 204", resp.StatusCode)
	}
	daprd := sys.App(t, "notification").Daprd
	select {
	case msg := <-msgs:
		sc.Check("an event with a non-string traceid notified", strings.Contains(string(msg.Data), "o-traceid"), "its notification on NATS", string(msg.Data))
	case <-daprd.Exited():
		sc.Check("an event with a non-string traceid notified", false, "its notification on NATS", "none: notification's sidecar exited")
	case <-time.After(30 * time.Second):
		sc.Check("an event with a non-string traceid notified", false, "its notification on NATS within 30s", "none")
	}
	observed := "running"
	select {
	case <-daprd.Exited():
		observed = fmt.Sprintf("exited (%v): %s", daprd.Err(), system.PanicMessage(daprd.Log()))
	default:
	}
	sc.Check("notification's sidecar survives a non-string traceid (dapr/dapr#10319)", observed == "running", "running", observed)
}
