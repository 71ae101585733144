package suite

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daprshop/daprshop/tests/report"
)

// HappyPath places one order through the whole system and follows it:
// stock reserved in inventory through service invocation, the order stored,
// its event published through the outbox, and exactly one notification
// delivered on NATS and listed in the customer's history. The customer is
// its own, so that one system can run it more than once.
func HappyPath(t *testing.T, sc *report.ScenarioRecorder, sys *Shop) {
	t.Helper()
	order, notification := sys.App(t, "order"), sys.App(t, "notification")
	customer := "c-happy-" + randomHex(4)
	sys = sys.As(sys.Token(customer)) // the customer's own requests, with the customer's token

	msgs := sys.Subscribe(t, customer)

	before := sys.Item(t, "SKU-1")

	var placed Order
	status := sys.Call(t, http.MethodPost, order.URL+"/orders",
		`{"customerId":"`+customer+`","items":[{"sku":"SKU-1","quantity":2}]}`, &placed)
	if !sc.Check("order confirmed", status == http.StatusCreated && placed.Status == "confirmed" && placed.ID != "",
		"201 with a confirmed order", fmt.Sprintf("%d %q", status, placed.Status)) {
		t.FailNow()
	}

	var read Order
	status = sys.Call(t, http.MethodGet, order.URL+"/orders/"+placed.ID, "", &read)
	sc.Check("confirmed order readable", status == http.StatusOK && read.ID == placed.ID && read.Status == "confirmed" && read.CustomerID == customer,
		"200 with the confirmed order", fmt.Sprintf("%d %+v", status, read))

	req, err := http.NewRequest(http.MethodGet, order.URL+"/orders/"+placed.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	Anonymous(req)
	observed := ""
	if resp, err := sys.Do(req); err != nil {
		observed = err.Error()
	} else {
		resp.Body.Close()
		observed = resp.Status
	}
	sc.Check("the order not readable without a token", observed == "401 Unauthorized", "401 Unauthorized", observed)

	after := sys.Item(t, "SKU-1")
	sc.Check("stock reserved", after.Available == before.Available-2 && after.Reserved == before.Reserved+2,
		fmt.Sprintf("available %d reserved %d", before.Available-2, before.Reserved+2),
		fmt.Sprintf("available %d reserved %d", after.Available, after.Reserved))

	msg := Receive(t, msgs)
	var n struct {
		ID, CustomerID, OrderID, Status string
	}
	if err := json.Unmarshal(msg.Data, &n); err != nil {
		t.Fatalf("notification is not JSON: %v: %s", err, msg.Data)
	}
	sc.Check("notification delivered on NATS", n.OrderID == placed.ID && n.CustomerID == customer && n.Status == "confirmed" && msg.Header.Get(nats.MsgIdHdr) == n.ID,
		"order "+placed.ID+" confirmed, Nats-Msg-Id = notification id", fmt.Sprintf("%+v, Nats-Msg-Id %q", n, msg.Header.Get(nats.MsgIdHdr)))
	select {
	case msg := <-msgs:
		sc.Check("one notification per event", false, "1 notification", "a second one: "+string(msg.Data))
	case <-time.After(time.Second):
		sc.Check("one notification per event", true, "1 notification", "1 notification")
	}

	var history struct {
		Notifications []struct{ OrderID string } `json:"notifications"`
	}
	status = sys.Call(t, http.MethodGet, notification.URL+"/notifications?customerId="+customer, "", &history)
	sc.Check("notification history", status == http.StatusOK && len(history.Notifications) == 1 && history.Notifications[0].OrderID == placed.ID,
		"200 listing 1 notification for "+placed.ID, fmt.Sprintf("%d %+v", status, history.Notifications))
}
