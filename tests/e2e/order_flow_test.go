package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/tests/e2e/system"
)

// TestOrderFlow runs the order-flow patterns against one running system:
// each subtest uses SKUs and customers of its own.
func TestOrderFlow(t *testing.T) {
	sys := system.Start(t, system.Options{})
	t.Run("concurrent orders never oversell", func(t *testing.T) { testNoOversell(t, sys) })
	t.Run("idempotency key makes one order", func(t *testing.T) { testIdempotencyKey(t, sys) })
	t.Run("cancel twice releases once", func(t *testing.T) { testCancelTwice(t, sys) })
	t.Run("redelivered event notifies once", func(t *testing.T) { testRedelivery(t, sys) })
	t.Run("poison event is dead-lettered", func(t *testing.T) { testPoisonEvent(t, sys) })
}

// placeOrder posts an order of quantity units of sku and returns the status
// and the order id (also for a 409, whose body names the rejected order).
func placeOrder(t *testing.T, sys *system.System, key, customer, sku string, quantity int) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, sys.App(t, "order").URL+"/orders",
		strings.NewReader(fmt.Sprintf(`{"customerId":%q,"items":[{"sku":%q,"quantity":%d}]}`, customer, sku, quantity)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST /orders: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		ID      string `json:"id"`
		OrderID string `json:"orderId"`
		Error   struct{ Code string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("POST /orders: answer is not JSON: %v", err)
	}
	if resp.StatusCode == http.StatusConflict && body.Error.Code != "insufficient_stock" {
		t.Errorf("409 with code %q, want insufficient_stock", body.Error.Code)
	}
	return resp.StatusCode, body.ID + body.OrderID
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
	if statuses[http.StatusCreated] != stock || statuses[http.StatusConflict] != orders-stock {
		t.Errorf("%d concurrent orders for %d units: got statuses %v, want %d×201 and %d×409", orders, stock, statuses, stock, orders-stock)
	}
	api := getItem(t, sys.App(t, "inventory"), "RACE-1")
	stored := storedItem(t, sys, "RACE-1")
	for name, got := range map[string]itemJSON{"inventory API": api, "state store": stored} {
		if got.Available != 0 || got.Reserved != stock {
			t.Errorf("%s: got available %d reserved %d, want 0 and %d", name, got.Available, got.Reserved, stock)
		}
	}
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
	if _, id := placeOrder(t, sys, "key-idem-1", "c-idem", "IDEM-1", 3); !seen[id] { // and a late replay
		t.Errorf("late replay answered order %s, not the first order", id)
	}
	if len(seen) != 1 {
		t.Errorf("%d requests with one key: got answers naming %d orders, want 1", requests, len(seen))
	}
	if got := storedItem(t, sys, "IDEM-1"); got.Available != 7 || got.Reserved != 3 {
		t.Errorf("stock after one order of 3, replayed: got available %d reserved %d, want 7 and 3", got.Available, got.Reserved)
	}
	if status, _ := placeOrder(t, sys, "key-idem-1", "c-idem", "IDEM-1", 4); status != http.StatusUnprocessableEntity {
		t.Errorf("key reused for another order: got status %d, want 422", status)
	}
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
	if got := storedItem(t, sys, "CANCEL-1"); got.Available != 4 || got.Reserved != 0 {
		t.Errorf("after cancelling twice: got available %d reserved %d, want 4 and 0", got.Available, got.Reserved)
	}
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
	select {
	case msg := <-msgs:
		t.Errorf("a redelivered event made a second notification: %s", msg.Data)
	case <-time.After(3 * time.Second):
	}
	if got := metric(t, sys.App(t, "notification"), `daprshop_notification_events_total{outcome="duplicate"}`); got < 1 {
		t.Errorf("duplicate events counted on /metrics: got %v, want at least 1", got)
	}
}

// metric reads one sample from an app's /metrics, 0 when it is absent.
func metric(t *testing.T, app *system.App, sample string) float64 {
	t.Helper()
	resp, err := httpClient.Get(app.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			return v
		}
	}
	return 0
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
		for _, d := range got.DeadLetters {
			if strings.Contains(string(d.Data), "o-poison") {
				if n := metric(t, sys.App(t, "notification"), "daprshop_notification_dead_letters_total"); n < 1 {
					t.Errorf("dead letters counted on /metrics: got %v, want at least 1", n)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the poison event is not among the dead letters after 30s: %+v", got.DeadLetters)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
