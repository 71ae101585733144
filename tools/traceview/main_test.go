package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tools/otlp"
)

// A trace is shown as a tree, each span under its parent in the order they
// began, offsets from the trace's start.
func TestWriteTree(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	span := func(id, parent, service, scope, name string, from, to time.Duration) otlp.Span {
		return otlp.Span{TraceID: "t", SpanID: id, ParentID: parent, Service: service, Name: name, Scope: scope, Start: at.Add(from), End: at.Add(to)}
	}
	var b strings.Builder
	writeTree(&b, []otlp.Span{
		span("c", "b", "inventory", "telemetry", "POST /reservations/:orderId", 2*time.Millisecond, 5*time.Millisecond),
		span("a", "", "order", "telemetry", "POST /orders", 0, 10*time.Millisecond),
		span("b", "a", "order", sidecarScope, "CallLocal/inventory", time.Millisecond, 6*time.Millisecond),
		span("d", "gone", "notification", sidecarScope, "pubsub/orders", 1500*time.Millisecond, 1510*time.Millisecond),
	})
	want := `       0s      10ms  order app: POST /orders
      1ms       5ms    order sidecar: CallLocal/inventory
      2ms       3ms      inventory app: POST /reservations/:orderId
     1.5s      10ms  notification sidecar: pubsub/orders
`
	if b.String() != want {
		t.Errorf("writeTree:\n%s\nwant:\n%s", b.String(), want)
	}
}

// A trace not received is a 404, saying why it may come yet.
func TestUnknownTrace(t *testing.T) {
	srv := httptest.NewServer(handler(&otlp.Receiver{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/trace/0123")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /trace/0123: %d, want 404", resp.StatusCode)
	}
}
