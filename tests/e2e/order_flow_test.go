package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/tests/harness/system"
)

// TestOrderFlow runs the order-flow patterns against one running system:
// each subtest uses SKUs and customers of its own.
func TestOrderFlow(t *testing.T) {
	sys := startSystem(t, system.Options{})
	for _, sub := range []struct {
		name string
		test func(*testing.T, *system.System)
	}{
		{"concurrency and oversell", testNoOversell},
		{"idempotent replay", testIdempotencyKey},
		{"cancellation", testCancelTwice},
		{"notification exactly once", testRedelivery},
		{"dead letters", testPoisonEvent},
	} {
		t.Run(sub.name, func(t *testing.T) {
			sc := scenario(t, sub.name)
			sub.test(t, sys)
			sc.Resources(sys.Usage())
		})
	}
}

// placeOrder posts an order of quantity units of sku and returns the status
// and the order id (also for a 409, whose body names the rejected order). A
// request that gets no answer fails the test and returns status 0; it is
// safe to call from the goroutines of a load.
func placeOrder(t *testing.T, sys *system.System, key, customer, sku string, quantity int) (int, string) {
	t.Helper()
	status, id, err := tryPlaceOrder(t, sys, key, customer, sku, quantity)
	if err != nil {
		t.Error(err)
	}
	return status, id
}

// tryPlaceOrder is placeOrder for a client that handles failures itself: it
// returns the error instead of failing the test.
func tryPlaceOrder(t *testing.T, sys *system.System, key, customer, sku string, quantity int) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, sys.App(t, "order").URL+"/orders",
		strings.NewReader(fmt.Sprintf(`{"customerId":%q,"items":[{"sku":%q,"quantity":%d}]}`, customer, sku, quantity)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := timed(t, req)
	if err != nil {
		return 0, "", fmt.Errorf("POST /orders: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		ID      string `json:"id"`
		OrderID string `json:"orderId"`
		Error   struct{ Code string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, "", fmt.Errorf("POST /orders: answer is not JSON: %w", err)
	}
	if resp.StatusCode == http.StatusConflict && body.Error.Code != "insufficient_stock" {
		return resp.StatusCode, "", fmt.Errorf("POST /orders: 409 with code %q, want insufficient_stock", body.Error.Code)
	}
	return resp.StatusCode, body.ID + body.OrderID, nil
}

func restock(t *testing.T, sys *system.System, sku string, quantity int) {
	t.Helper()
	var item itemJSON
	if status := call(t, http.MethodPost, sys.App(t, "inventory").URL+"/items/"+sku+"/restock",
		fmt.Sprintf(`{"quantity":%d}`, quantity), &item); status != http.StatusOK {
		t.Fatalf("restock %s: got status %d, want 200", sku, status)
	}
}

// storedItem reads the SKU's stock straight from Redis, past the apps.
func storedItem(t *testing.T, sys *system.System, sku string) itemJSON {
	t.Helper()
	var item itemJSON
	if err := json.Unmarshal(sys.Redis.State(t, "inventory", "item:"+sku), &item); err != nil {
		t.Fatalf("stored item %s: %v", sku, err)
	}
	return item
}

func testNoOversell(t *testing.T, sys *system.System) {
	const stock, orders = 5, 24
	restock(t, sys, "RACE-1", stock)

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			status, _ := placeOrder(t, sys, "", fmt.Sprintf("c-race-%d", i), "RACE-1", 1)
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	sc := scenarioOf(t)
	sc.Check("exactly K of N concurrent orders confirmed", statuses[http.StatusCreated] == stock && statuses[http.StatusConflict] == orders-stock,
		fmt.Sprintf("%d×201, %d×409", stock, orders-stock), fmt.Sprint(statuses))
	api := getItem(t, sys.App(t, "inventory"), "RACE-1")
	stored := storedItem(t, sys, "RACE-1")
	want := fmt.Sprintf("available 0 reserved %d", stock)
	sc.Check("no oversell (inventory API)", api.Available == 0 && api.Reserved == stock, want, fmt.Sprintf("available %d reserved %d", api.Available, api.Reserved))
	sc.Check("no oversell (state store)", stored.Available == 0 && stored.Reserved == stock, want, fmt.Sprintf("available %d reserved %d", stored.Available, stored.Reserved))
}

func testIdempotencyKey(t *testing.T, sys *system.System) {
	restock(t, sys, "IDEM-1", 10)
	const requests = 8
	ids := make(chan string, requests)
	var wg sync.WaitGroup
	for range requests { // concurrent: most arrive while the first is in flight
		wg.Go(func() {
			status, id := placeOrder(t, sys, "key-idem-1", "c-idem", "IDEM-1", 3)
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
	_, late := placeOrder(t, sys, "key-idem-1", "c-idem", "IDEM-1", 3) // and a late replay
	seen[late] = true
	sc := scenarioOf(t)
	sc.Check("one order per idempotency key", len(seen) == 1,
		fmt.Sprintf("%d concurrent requests and a late replay name 1 order", requests), fmt.Sprintf("%d orders", len(seen)))
	got := storedItem(t, sys, "IDEM-1")
	sc.Check("replays reserve nothing", got.Available == 7 && got.Reserved == 3,
		"available 7 reserved 3", fmt.Sprintf("available %d reserved %d", got.Available, got.Reserved))
	status, _ := placeOrder(t, sys, "key-idem-1", "c-idem", "IDEM-1", 4)
	sc.Check("key reused for another order refused", status == http.StatusUnprocessableEntity, "422", fmt.Sprint(status))
}

func testCancelTwice(t *testing.T, sys *system.System) {
	restock(t, sys, "CANCEL-1", 4)
	status, id := placeOrder(t, sys, "", "c-cancel", "CANCEL-1", 3)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders: got status %d, want 201", status)
	}
	for i := range 2 {
		var o orderJSON
		if status := call(t, http.MethodPost, sys.App(t, "order").URL+"/orders/"+id+"/cancel", "", &o); status != http.StatusOK || o.Status != "cancelled" {
			t.Fatalf("cancel #%d: got %d %+v, want 200 cancelled", i+1, status, o)
		}
	}
	got := storedItem(t, sys, "CANCEL-1")
	scenarioOf(t).Check("cancel twice releases once", got.Available == 4 && got.Reserved == 0,
		"available 4 reserved 0", fmt.Sprintf("available %d reserved %d", got.Available, got.Reserved))
}

func testRedelivery(t *testing.T, sys *system.System) {
	customer := "c-redeliver"
	msgs := subscribe(t, sys, customer)
	status, id := placeOrder(t, sys, "", customer, "SKU-2", 1)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders: got status %d, want 201", status)
	}
	first := receive(t, msgs)
	// Publish the same event again, as a redelivery would bring it.
	event := fmt.Sprintf(`{"eventId":%q,"type":"daprshop.order.confirmed.v1","orderId":%q,"customerId":%q,"status":"confirmed","items":[{"sku":"SKU-2","quantity":1}],"occurredAt":"2026-11-24T00:00:00Z"}`,
		first.Header.Get(nats.MsgIdHdr), id, customer)
	if status := call(t, http.MethodPost, sys.App(t, "order").DaprURL+"/v1.0/publish/pubsub/orders", event, nil); status != http.StatusNoContent {
		t.Fatalf("publish the event again: got status %d, want 204", status)
	}
	sc := scenarioOf(t)
	select {
	case msg := <-msgs:
		sc.Check("redelivered event notifies once", false, "no second notification", "a second one: "+string(msg.Data))
	case <-time.After(3 * time.Second):
		sc.Check("redelivered event notifies once", true, "no second notification", "none in 3s")
	}
	dups := metric(t, sys.App(t, "notification"), `daprshop_notification_events_total{outcome="duplicate"}`)
	sc.Check("duplicates counted on /metrics", dups >= 1, "at least 1", fmt.Sprint(dups))
}

// metric reads one sample from an app's /metrics, 0 when it is absent.
func metric(t *testing.T, app *system.App, sample string) float64 {
	t.Helper()
	samples, err := system.Samples(httpClient, app.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return samples[sample]
}

func subscribe(t *testing.T, sys *system.System, customer string) chan *nats.Msg {
	t.Helper()
	nc, err := nats.Connect(sys.NATS.URL)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	msgs := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe("notifications."+customer, msgs); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return msgs
}

func receive(t *testing.T, msgs chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case msg := <-msgs:
		return msg
	case <-time.After(30 * time.Second):
		t.Fatal("no notification on NATS within 30s")
		return nil
	}
}

func testPoisonEvent(t *testing.T, sys *system.System) {
	// An event no consumer can handle: it names no customer.
	poison := `{"eventId":"poison-1","type":"daprshop.order.confirmed.v1","orderId":"o-poison","status":"confirmed"}`
	if status := call(t, http.MethodPost, sys.App(t, "order").DaprURL+"/v1.0/publish/pubsub/orders", poison, nil); status != http.StatusNoContent {
		t.Fatalf("publish the poison event: got status %d, want 204", status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got struct {
			DeadLetters []struct {
				Topic string
				Data  json.RawMessage
			} `json:"deadLetters"`
		}
		if status := call(t, http.MethodGet, sys.App(t, "notification").URL+"/deadletters", "", &got); status != http.StatusOK {
			t.Fatalf("GET /deadletters: got status %d, want 200", status)
		}
		sc := scenarioOf(t)
		for _, d := range got.DeadLetters {
			if strings.Contains(string(d.Data), "o-poison") {
				sc.Check("poison event dead-lettered", true, "listed by GET /deadletters within 30s", "listed")
				n := metric(t, sys.App(t, "notification"), "daprshop_notification_dead_letters_total")
				sc.Check("dead letters counted on /metrics", n >= 1, "at least 1", fmt.Sprint(n))
				return
			}
		}
		if time.Now().After(deadline) {
			sc.Check("poison event dead-lettered", false, "listed by GET /deadletters within 30s", fmt.Sprintf("%d others listed", len(got.DeadLetters)))
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
