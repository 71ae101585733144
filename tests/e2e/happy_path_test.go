package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/tests/e2e/system"
)

// TestHappyPath places one order through the whole system and follows it:
// stock reserved in inventory through service invocation, the order stored,
// its event published through the outbox, and exactly one notification
// delivered on NATS.
func TestHappyPath(t *testing.T) {
	sys := system.Start(t, system.Options{})
	order, inventory, notification := sys.App(t, "order"), sys.App(t, "inventory"), sys.App(t, "notification")
	customer := "c-happy"

	msgs := subscribe(t, sys, customer)

	before := getItem(t, inventory, "SKU-1")

	var placed orderJSON
	status := call(t, http.MethodPost, order.URL+"/orders",
		`{"customerId":"`+customer+`","items":[{"sku":"SKU-1","quantity":2}]}`, &placed)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders: got status %d, want 201", status)
	}
	if placed.Status != "confirmed" || placed.ID == "" {
		t.Fatalf("POST /orders: got %+v, want a confirmed order with an id", placed)
	}

	var read orderJSON
	if status := call(t, http.MethodGet, order.URL+"/orders/"+placed.ID, "", &read); status != http.StatusOK {
		t.Fatalf("GET /orders/%s: got status %d, want 200", placed.ID, status)
	}
	if read.ID != placed.ID || read.Status != "confirmed" || read.CustomerID != customer {
		t.Errorf("GET /orders/%s: got %+v, want the confirmed order of %s", placed.ID, read, customer)
	}

	after := getItem(t, inventory, "SKU-1")
	if after.Available != before.Available-2 || after.Reserved != before.Reserved+2 {
		t.Errorf("SKU-1 after ordering 2: got available %d reserved %d, want %d and %d",
			after.Available, after.Reserved, before.Available-2, before.Reserved+2)
	}

	msg := receive(t, msgs)
	var n struct {
		ID, CustomerID, OrderID, Status string
	}
	if err := json.Unmarshal(msg.Data, &n); err != nil {
		t.Fatalf("notification is not JSON: %v: %s", err, msg.Data)
	}
	if n.OrderID != placed.ID || n.CustomerID != customer || n.Status != "confirmed" {
		t.Errorf("notification: got %+v, want order %s of %s, confirmed", n, placed.ID, customer)
	}
	if got := msg.Header.Get(nats.MsgIdHdr); got == "" || got != n.ID {
		t.Errorf("notification header %s: got %q, want the notification id %q", nats.MsgIdHdr, got, n.ID)
	}
	select {
	case msg := <-msgs:
		t.Errorf("a second notification arrived for one order: %s", msg.Data)
	case <-time.After(time.Second):
	}

	var history struct {
		Notifications []struct{ OrderID string } `json:"notifications"`
	}
	if status := call(t, http.MethodGet, notification.URL+"/notifications?customerId="+customer, "", &history); status != http.StatusOK {
		t.Fatalf("GET /notifications: got status %d, want 200", status)
	}
	if len(history.Notifications) != 1 || history.Notifications[0].OrderID != placed.ID {
		t.Errorf("GET /notifications: got %+v, want one notification for %s", history.Notifications, placed.ID)
	}
}
