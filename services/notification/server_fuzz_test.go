package main

import (
	"net/http"
	"testing"

	"github.com/daprshop/daprshop/internal/events"
)

// FuzzOrderEvent delivers any body to the order-event route, as daprd
// would, to the service on healthy fakes: the answer is always a 200 that
// daprd reads, SUCCESS or DROP (nothing fails, so nothing is retried); a
// dropped event sends nothing, and an acknowledged one at most one
// notification.
func FuzzOrderEvent(f *testing.F) {
	for _, seed := range []string{
		envelope("ce-1", events.TopicOrders, orderData("e-1", "c-1")),
		envelope("ce-1", events.TopicOrders, orderData("e||1", "c.1")),
		envelope("ce-1", events.TopicOrders, `{"eventId":"e-1","type":"daprshop.order.exploded.v1","orderId":"o-1","customerId":"c-1"}`),
		`{"id":`, `[]`, "",
	} {
		f.Add(seed)
	}
	// One service for every input, as one app gets every delivery: an
	// event seen before is a duplicate, acknowledged without a send.
	s := newTestServer(f, http.StatusNoContent)
	f.Fuzz(func(t *testing.T, body string) {
		before := len(s.sender.Sent())
		got := s.post(t, "/events/orders", body)
		sent := len(s.sender.Sent()) - before
		switch {
		case got == statusDrop && sent != 0:
			t.Fatalf("body %q: dropped, yet %d notifications sent", body, sent)
		case got == statusSuccess && sent > 1:
			t.Fatalf("body %q: %d notifications for one event", body, sent)
		case got != statusDrop && got != statusSuccess:
			t.Fatalf("body %q: answered %s, want SUCCESS or DROP (nothing failed)", body, got)
		}
	})
}

// FuzzDeadLetter delivers any body to the dead-letter route: SUCCESS or
// DROP, never RETRY on healthy fakes, which would redeliver it forever.
func FuzzDeadLetter(f *testing.F) {
	for _, seed := range []string{envelope("ce-1", "orders-deadletter", `{"x":1}`), envelope("a||b", "orders-deadletter", `{}`), `{"id":`, ""} {
		f.Add(seed)
	}
	s := newTestServer(f, http.StatusNoContent)
	f.Fuzz(func(t *testing.T, body string) {
		if got := s.post(t, "/events/deadletters", body); got != statusDrop && got != statusSuccess {
			t.Fatalf("body %q: answered %s, want SUCCESS or DROP (nothing failed)", body, got)
		}
	})
}
