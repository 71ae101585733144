package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/api/apitest"
	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
	"github.com/daprshop/daprshop/services/notification/internal/notification/notificationtest"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// appToken is the app API token the tests' sidecar sends. The service is
// configured with one, so that the tests see the routes it guards refuse a
// call without it, and the public routes answer without it.
const appToken = "test-app-token"

var errDown = errors.New("connection refused")

// server is the notification service's HTTP API, in-process, on fakes.
type server struct {
	http.Handler
	store       *notificationtest.Store
	deadLetters *notificationtest.DeadLetters
	sender      *notificationtest.Sender
	events      *notificationtest.Events
	// natsErr is what the NATS readiness check answers.
	natsErr error
}

// newTestServer returns the API on empty fakes, with a sidecar whose
// outbound health answers sidecarStatus.
func newTestServer(t testing.TB, sidecarStatus int) *server {
	t.Helper()
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/healthz/outbound" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(sidecarStatus)
	}))
	t.Cleanup(sidecar.Close)

	s := &server{
		store:       notificationtest.NewStore(),
		deadLetters: notificationtest.NewDeadLetters(0),
		sender:      &notificationtest.Sender{},
		events:      &notificationtest.Events{},
	}
	cfg := Config{Base: config.Base{
		AppAPIToken:  appToken,
		DaprHTTPAddr: strings.TrimPrefix(sidecar.URL, "http://"),
	}}
	svc := notification.NewService(s.sender, s.store, s.deadLetters, s.events)
	natsReady := func(context.Context) error { return s.natsErr }
	s.Handler = apitest.Checked(t, "notification", newServer(slog.New(slog.DiscardHandler), cfg, svc, nil, natsReady, newMetrics()))
	return s
}

// request is one call to the API.
type request struct {
	method, path string
	// token is sent as dapr-api-token, as the sidecar does; "" sends none.
	token string
	body  string
}

// do serves req and returns the answer's status and body.
func (s *server) do(t *testing.T, req request) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
	if req.body != "" {
		// What daprd sends with a CloudEvent.
		r.Header.Set("Content-Type", "application/cloudevents+json")
	}
	if req.token != "" {
		r.Header.Set("dapr-api-token", req.token)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

// checkError fails t unless body is the shared error shape, and nothing
// more, with code.
func checkError(t *testing.T, body []byte, code string) {
	t.Helper()
	var got web.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("error body %s: %v; want {\"error\":{\"code\":...,\"message\":...}}", body, err)
	}
	if got.Error.Code != code || got.Error.Message == "" {
		t.Errorf("error: got code %q, message %q; want code %q and a message", got.Error.Code, got.Error.Message, code)
	}
}

// eventCount returns the events counter for outcome, as /metrics serves
// it; 0 before the first.
func (s *server) eventCount(t *testing.T, outcome string) float64 {
	t.Helper()
	_, body := s.do(t, request{method: http.MethodGet, path: "/metrics"})
	prefix := fmt.Sprintf("daprshop_notification_events_total{outcome=%q} ", outcome)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// envelope returns the CloudEvent envelope daprd delivers an event in, with data as
// given (raw JSON; "" leaves it out).
func envelope(id, topic, data string) string {
	ce := map[string]any{
		"specversion": "1.0", "id": id, "source": "order", "type": "com.dapr.event.sent",
		"topic": topic, "pubsubname": events.PubSub, "datacontenttype": "application/json",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	if data != "" {
		ce["data"] = json.RawMessage(data)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// orderData returns the data of event eventID, which confirms order
// "o-"+eventID for customerID.
func orderData(eventID, customerID string) string {
	return eventData(confirmation(eventID, customerID))
}

// confirmation returns event eventID, which confirms order "o-"+eventID
// for customerID.
func confirmation(eventID, customerID string) events.Order {
	return events.Order{
		EventID: eventID, Type: events.TypeOrderConfirmed, OrderID: "o-" + eventID, Version: 1, CustomerID: customerID,
		Status: "confirmed", OccurredAt: time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC),
	}
}

// eventData returns e as the data of an event.
func eventData(e events.Order) string {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// post hands body to the event route path with the app token, as daprd
// does, and returns the answer daprd reads: SUCCESS, RETRY or DROP. Any
// other answer fails t: daprd would take it for a failure and retry.
func (s *server) post(t *testing.T, path, body string) string {
	t.Helper()
	status, answer := s.do(t, request{method: http.MethodPost, path: path, token: appToken, body: body})
	var got struct{ Status string }
	if err := json.Unmarshal(answer, &got); status != http.StatusOK || err != nil || got.Status == "" {
		t.Fatalf("POST %s: got %d %s, want 200 {\"status\":...}", path, status, answer)
	}
	return got.Status
}

// deliver hands the service event eventID, which confirms an order of
// customerID, as daprd would.
func (s *server) deliver(t *testing.T, eventID, customerID string) {
	t.Helper()
	s.deliverEvent(t, confirmation(eventID, customerID))
}

// deliverEvent hands the service e, as daprd would.
func (s *server) deliverEvent(t *testing.T, e events.Order) {
	t.Helper()
	body := envelope("ce-"+e.EventID, events.TopicOrders, eventData(e))
	if got := s.post(t, "/events/orders", body); got != statusSuccess {
		t.Fatalf("deliver %s: got %s, want %s", e.EventID, got, statusSuccess)
	}
}

// claim takes a lease on telling the customer of order about version,
// for event, as another delivery would.
func claim(t *testing.T, s notification.Store, order, event string, version int) {
	t.Helper()
	if got, _, err := s.Claim(t.Context(), order, event, version); got != notification.Claimed || err != nil {
		t.Fatalf("Claim: got %v, %v; want Claimed", got, err)
	}
}

// TestOrderEvents checks the answer to each outcome of an order event
// delivered by daprd: SUCCESS acknowledges it, RETRY has it delivered again,
// DROP sends it to the dead-letter topic. Each answer is a 200, or daprd
// would not read it, and is counted by outcome.
func TestOrderEvents(t *testing.T) {
	valid := envelope("ce-1", events.TopicOrders, orderData("e-1", "c-1"))
	tests := []struct {
		name  string
		setup func(t *testing.T, s *server)
		body  string
		// want is daprd's answer; outcome the counter's label.
		want, outcome string
		// wantSent is how many notifications went out in all.
		wantSent int
	}{
		{name: "new event", body: valid, want: statusSuccess, outcome: "delivered", wantSent: 1},
		{
			name:  "redelivery",
			setup: func(t *testing.T, s *server) { s.deliver(t, "e-1", "c-1") },
			body:  valid, want: statusSuccess, outcome: "duplicate", wantSent: 1,
		},
		{name: "body not JSON", body: `{"id":"ce-1","data":`, want: statusDrop, outcome: "dropped"},
		{name: "empty body", body: "", want: statusDrop, outcome: "dropped"},
		{name: "envelope not an object", body: `["ce-1"]`, want: statusDrop, outcome: "dropped"},
		{name: "no data", body: envelope("ce-1", events.TopicOrders, ""), want: statusDrop, outcome: "dropped"},
		{name: "data not an order", body: envelope("ce-1", events.TopicOrders, `"hello"`), want: statusDrop, outcome: "dropped"},
		{name: "data with a wrong type", body: envelope("ce-1", events.TopicOrders, `{"eventId":42}`), want: statusDrop, outcome: "dropped"},
		{name: "no event id", body: envelope("ce-1", events.TopicOrders, orderData("", "c-1")), want: statusDrop, outcome: "dropped"},
		{name: "no order id", body: envelope("ce-1", events.TopicOrders, `{"eventId":"e-1","customerId":"c-1"}`), want: statusDrop, outcome: "dropped"},
		{name: "no customer id", body: envelope("ce-1", events.TopicOrders, orderData("e-1", "")), want: statusDrop, outcome: "dropped"},
		{name: "bad customer id", body: envelope("ce-1", events.TopicOrders, orderData("e-1", "../c-1")), want: statusDrop, outcome: "dropped"},
		{name: "customer id too long", body: envelope("ce-1", events.TopicOrders, orderData("e-1", strings.Repeat("c", 65))), want: statusDrop, outcome: "dropped"},
		// A customer id with a dot would split its NATS subject.
		{name: "customer id with a dot", body: envelope("ce-1", events.TopicOrders, orderData("e-1", "c.1")), want: statusDrop, outcome: "dropped"},
		// Ids the state store refuses as keys: refused at every redelivery.
		{name: "event id with Dapr's key separator", body: envelope("ce-1", events.TopicOrders, orderData("e||1", "c-1")), want: statusDrop, outcome: "dropped"},
		{name: "event id too long", body: envelope("ce-1", events.TopicOrders, orderData(strings.Repeat("e", 300), "c-1")), want: statusDrop, outcome: "dropped"},
		{name: "unknown event type", body: envelope("ce-1", events.TopicOrders, `{"eventId":"e-1","type":"daprshop.order.exploded.v1","orderId":"o-1","customerId":"c-1","status":"exploded"}`), want: statusDrop, outcome: "dropped"},
		{name: "bad order id", body: envelope("ce-1", events.TopicOrders, `{"eventId":"e-1","type":"daprshop.order.confirmed.v1","orderId":"o 1","version":1,"customerId":"c-1","status":"confirmed"}`), want: statusDrop, outcome: "dropped"},
		{name: "no version", body: envelope("ce-1", events.TopicOrders, `{"eventId":"e-1","type":"daprshop.order.confirmed.v1","orderId":"o-e-1","customerId":"c-1","status":"confirmed"}`), want: statusDrop, outcome: "dropped"},
		{
			name:  "another delivery of the order is being handled",
			setup: func(t *testing.T, s *server) { claim(t, s.store, "o-e-1", "e-0", 2) },
			body:  valid, want: statusRetry, outcome: "retry",
		},
		{
			name: "the customer was told of a later change",
			setup: func(t *testing.T, s *server) {
				cancel := confirmation("e-1", "c-1")
				cancel.EventID, cancel.Type, cancel.Status, cancel.Version = "e-2", events.TypeOrderCancelled, "cancelled", 2
				s.deliverEvent(t, cancel)
			},
			body: valid, want: statusSuccess, outcome: "outdated", wantSent: 1,
		},
		{
			name:  "NATS down",
			setup: func(_ *testing.T, s *server) { s.sender.Err = errDown },
			body:  valid, want: statusRetry, outcome: "retry",
		},
		{
			name:  "state store down",
			setup: func(_ *testing.T, s *server) { s.store.Err = errDown },
			body:  valid, want: statusRetry, outcome: "retry",
		},
		{
			name:  "recording fails after the send",
			setup: func(_ *testing.T, s *server) { s.store.ToldErr = errDown },
			body:  valid, want: statusRetry, outcome: "retry", wantSent: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, http.StatusNoContent)
			if tc.setup != nil {
				tc.setup(t, s)
			}
			before := s.eventCount(t, tc.outcome)
			if got := s.post(t, "/events/orders", tc.body); got != tc.want {
				t.Errorf("answer: got %s, want %s", got, tc.want)
			}
			if got := s.eventCount(t, tc.outcome); got != before+1 {
				t.Errorf("events counter for outcome %q: got %v, want %v", tc.outcome, got, before+1)
			}
			if got := len(s.sender.Sent()); got != tc.wantSent {
				t.Errorf("notifications sent: got %d, want %d", got, tc.wantSent)
			}
		})
	}
}

// TestDeadLetterEvents checks the answers to events from the dead-letter
// topic, and that a kept one is listed as it arrived.
func TestDeadLetterEvents(t *testing.T) {
	poison := `{"eventId":"e-9","customerId":"../x"}`
	valid := envelope("ce-9", "orders-deadletter", poison)
	tests := []struct {
		name  string
		setup func(t *testing.T, s *server)
		body  string
		want  string
		// wantListed is the ids GET /deadletters lists afterwards.
		wantListed []string
	}{
		{name: "kept", body: valid, want: statusSuccess, wantListed: []string{"ce-9"}},
		{
			name: "redelivered",
			setup: func(t *testing.T, s *server) {
				if got := s.post(t, "/events/deadletters", valid); got != statusSuccess {
					t.Fatalf("first delivery: got %s, want %s", got, statusSuccess)
				}
			},
			body: valid, want: statusSuccess, wantListed: []string{"ce-9"},
		},
		{name: "body not JSON", body: `{"id":`, want: statusDrop},
		{name: "empty body", body: "", want: statusDrop},
		// No id, nothing to keep it under; retrying cannot give it one.
		{name: "no id", body: envelope("", "orders-deadletter", poison), want: statusDrop},
		// Ids the state store would refuse as keys, at every redelivery.
		{name: "id with Dapr's key separator", body: envelope("a||b", "orders-deadletter", poison), want: statusDrop},
		{name: "id too long", body: envelope(strings.Repeat("i", 300), "orders-deadletter", poison), want: statusDrop},
		{
			name:  "state store down",
			setup: func(_ *testing.T, s *server) { s.deadLetters.Err = errDown },
			body:  valid, want: statusRetry,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, http.StatusNoContent)
			if tc.setup != nil {
				tc.setup(t, s)
			}
			if got := s.post(t, "/events/deadletters", tc.body); got != tc.want {
				t.Errorf("answer: got %s, want %s", got, tc.want)
			}
			s.deadLetters.Err = nil
			list, err := s.deadLetters.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, dl := range list {
				ids = append(ids, dl.ID)
				if dl.Topic != "orders-deadletter" || string(dl.Data) != poison || dl.ReceivedAt.IsZero() {
					t.Errorf("dead letter %s: got topic %q, data %s, received %v; want it as it arrived", dl.ID, dl.Topic, dl.Data, dl.ReceivedAt)
				}
			}
			if !slices.Equal(ids, tc.wantListed) {
				t.Errorf("dead letters kept: got %v, want %v", ids, tc.wantListed)
			}
		})
	}
}

// apiCase is one call to the API and the answer it must get.
type apiCase struct {
	name    string
	sidecar int // the sidecar's outbound health status; 0: 204
	setup   func(t *testing.T, s *server)
	req     request
	// wantStatus, and wantCode for an error or wantBody (exact JSON)
	// for a success.
	wantStatus int
	wantCode   string
	wantBody   string
}

// runAPICases runs each case on a server of its own and checks the
// answer, errors included: an error is always the shared JSON shape with
// its code.
func runAPICases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, cmp.Or(tc.sidecar, http.StatusNoContent))
			if tc.setup != nil {
				tc.setup(t, s)
			}
			status, body := s.do(t, tc.req)
			if status != tc.wantStatus {
				t.Errorf("%s %s: got status %d, want %d (%s)", tc.req.method, tc.req.path, status, tc.wantStatus, body)
			}
			if tc.wantCode != "" {
				checkError(t, body, tc.wantCode)
			} else if string(body) != tc.wantBody {
				t.Errorf("%s %s: got body\n%s\nwant\n%s", tc.req.method, tc.req.path, body, tc.wantBody)
			}
			// Refused calls change nothing. The setups with deliveries
			// send before the call.
			if tc.wantStatus != http.StatusOK && len(s.sender.Sent()) != 0 {
				t.Errorf("notifications sent by a refused call: got %d, want 0", len(s.sender.Sent()))
			}
		})
	}
}

// keptDeadLetter returns a case's setup: dl kept, as the dead-letter route
// keeps one.
func keptDeadLetter(dl notification.DeadLetter) func(t *testing.T, s *server) {
	return func(t *testing.T, s *server) {
		t.Helper()
		if err := s.deadLetters.Add(t.Context(), dl); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListNotifications checks GET /notifications, a customer's history.
func TestListNotifications(t *testing.T) {
	runAPICases(t, []apiCase{
		{
			name: "history",
			setup: func(t *testing.T, s *server) {
				s.deliver(t, "e-1", "c-1")
				s.deliver(t, "e-2", "c-1")
				s.deliver(t, "e-3", "c-2")
			},
			req: request{method: http.MethodGet, path: "/notifications?customerId=c-1"},
			// A public route: no app token needed. Newest first.
			wantStatus: http.StatusOK,
			wantBody: `{"notifications":[` +
				`{"id":"e-2","customerId":"c-1","orderId":"o-e-2","status":"confirmed","message":"Your order o-e-2 is confirmed.","createdAt":"2026-11-24T10:30:00Z"},` +
				`{"id":"e-1","customerId":"c-1","orderId":"o-e-1","status":"confirmed","message":"Your order o-e-1 is confirmed.","createdAt":"2026-11-24T10:30:00Z"}]}`,
		},
		{
			name: "history, a page",
			setup: func(t *testing.T, s *server) {
				for _, id := range []string{"e-1", "e-2", "e-3"} {
					s.deliver(t, id, "c-1")
				}
			},
			req:        request{method: http.MethodGet, path: "/notifications?customerId=c-1&limit=1&cursor=2"},
			wantStatus: http.StatusOK,
			wantBody: `{"notifications":[` +
				`{"id":"e-2","customerId":"c-1","orderId":"o-e-2","status":"confirmed","message":"Your order o-e-2 is confirmed.","createdAt":"2026-11-24T10:30:00Z"}],"older":"1"}`,
		},
		{name: "history, limit 0", req: request{method: http.MethodGet, path: "/notifications?customerId=c-1&limit=0"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "history, limit above the page", req: request{method: http.MethodGet, path: "/notifications?customerId=c-1&limit=101"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "history, limit not a number", req: request{method: http.MethodGet, path: "/notifications?customerId=c-1&limit=ten"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "history, cursor made up", req: request{method: http.MethodGet, path: "/notifications?customerId=c-1&cursor=x9"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "empty history", req: request{method: http.MethodGet, path: "/notifications?customerId=c-new"}, wantStatus: http.StatusOK, wantBody: `{"notifications":[]}`},
		{name: "no customer id", req: request{method: http.MethodGet, path: "/notifications"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "empty customer id", req: request{method: http.MethodGet, path: "/notifications?customerId="}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "customer id with a space", req: request{method: http.MethodGet, path: "/notifications?customerId=a%20b"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "customer id climbing a path", req: request{method: http.MethodGet, path: "/notifications?customerId=..%2F..%2Fetc"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "customer id with a NUL", req: request{method: http.MethodGet, path: "/notifications?customerId=c-1%00"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "customer id of 65 characters", req: request{method: http.MethodGet, path: "/notifications?customerId=" + strings.Repeat("c", 65)}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{name: "customer id starting with a dash", req: request{method: http.MethodGet, path: "/notifications?customerId=-c"}, wantStatus: http.StatusBadRequest, wantCode: web.CodeInvalid},
		{
			name:       "history with the state store down",
			setup:      func(_ *testing.T, s *server) { s.store.Err = errDown },
			req:        request{method: http.MethodGet, path: "/notifications?customerId=c-1"},
			wantStatus: http.StatusInternalServerError, wantCode: web.CodeInternal,
		},
	})
}

// TestIssueCredentials checks POST /notifications/credentials where NATS
// takes none. Credentials issued for a NATS account are the e2e suite's
// (tests/suite).
func TestIssueCredentials(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "NATS credentials where NATS takes none", req: request{method: http.MethodPost, path: "/notifications/credentials"}, wantStatus: http.StatusNotFound, wantCode: web.CodeNotFound},
	})
}

// TestListDeadLetters checks GET /deadletters, an operator's.
func TestListDeadLetters(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "no dead letters", req: request{method: http.MethodGet, path: "/deadletters"}, wantStatus: http.StatusOK, wantBody: `{"deadLetters":[]}`},
		{
			name:       "dead letters",
			setup:      keptDeadLetter(notification.DeadLetter{ID: "ce-9", Topic: "orders-deadletter", Data: json.RawMessage(`{"eventId":"e-9"}`), ReceivedAt: time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC)}),
			req:        request{method: http.MethodGet, path: "/deadletters"},
			wantStatus: http.StatusOK,
			wantBody:   `{"deadLetters":[{"id":"ce-9","topic":"orders-deadletter","data":{"eventId":"e-9"},"receivedAt":"2026-11-24T10:30:00Z"}]}`,
		},
		{
			name:       "dead letters with the state store down",
			setup:      func(_ *testing.T, s *server) { s.deadLetters.Err = errDown },
			req:        request{method: http.MethodGet, path: "/deadletters"},
			wantStatus: http.StatusInternalServerError, wantCode: web.CodeInternal,
		},
	})
}

// TestRedrive checks POST /deadletters/:id/redrive, an operator's.
func TestRedrive(t *testing.T) {
	runAPICases(t, []apiCase{
		{
			name:       "redrive a dead letter",
			setup:      keptDeadLetter(notification.DeadLetter{ID: "ce-9", Data: json.RawMessage(`{"eventId":"e-9"}`)}),
			req:        request{method: http.MethodPost, path: "/deadletters/ce-9/redrive"},
			wantStatus: http.StatusAccepted, wantBody: `{"redriven":"ce-9"}`,
		},
		{name: "redrive a dead letter not kept", req: request{method: http.MethodPost, path: "/deadletters/ce-404/redrive"}, wantStatus: http.StatusNotFound, wantCode: web.CodeNotFound},
		{name: "redrive with Dapr's key separator", req: request{method: http.MethodPost, path: "/deadletters/a%7C%7Cb/redrive"}, wantStatus: http.StatusNotFound, wantCode: web.CodeNotFound},
		{
			name: "redrive with the broker down",
			setup: func(t *testing.T, s *server) {
				keptDeadLetter(notification.DeadLetter{ID: "ce-9", Data: json.RawMessage(`{}`)})(t, s)
				s.events.Err = errDown
			},
			req:        request{method: http.MethodPost, path: "/deadletters/ce-9/redrive"},
			wantStatus: http.StatusInternalServerError, wantCode: web.CodeInternal,
		},
	})
}

// sidecarEvent is an order event as daprd delivers it.
var sidecarEvent = envelope("ce-1", events.TopicOrders, orderData("e-1", "c-1"))

// TestEventsNeedTheAppToken checks that the routes daprd delivers events
// to refuse a call without its token. TestOrderEvents and
// TestDeadLetterEvents check the answers to the events themselves.
func TestEventsNeedTheAppToken(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "event without the app token", req: request{method: http.MethodPost, path: "/events/orders", body: sidecarEvent}, wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
		{name: "event with a wrong app token", req: request{method: http.MethodPost, path: "/events/orders", token: "guess", body: sidecarEvent}, wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
		{name: "dead letter without the app token", req: request{method: http.MethodPost, path: "/events/deadletters", body: sidecarEvent}, wantStatus: http.StatusUnauthorized, wantCode: web.CodeUnauthorized},
	})
}

// TestRouting checks the answers to a path the API does not have, and to
// a method its path does not take.
func TestRouting(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "wrong method on redrive", req: request{method: http.MethodGet, path: "/deadletters/ce-9/redrive"}, wantStatus: http.StatusMethodNotAllowed, wantCode: web.CodeMethodNotAllowed},
		{name: "wrong method on history", req: request{method: http.MethodPost, path: "/notifications"}, wantStatus: http.StatusMethodNotAllowed, wantCode: web.CodeMethodNotAllowed},
		{name: "wrong method on dead letters", req: request{method: http.MethodDelete, path: "/deadletters"}, wantStatus: http.StatusMethodNotAllowed, wantCode: web.CodeMethodNotAllowed},
		{name: "wrong method on events", req: request{method: http.MethodGet, path: "/events/orders", token: appToken}, wantStatus: http.StatusMethodNotAllowed, wantCode: web.CodeMethodNotAllowed},
		{name: "unknown route", req: request{method: http.MethodGet, path: "/notifications/c-1"}, wantStatus: http.StatusNotFound, wantCode: web.CodeNotFound},
		{name: "unknown event route", req: request{method: http.MethodPost, path: "/events/payments", token: appToken, body: sidecarEvent}, wantStatus: http.StatusNotFound, wantCode: web.CodeNotFound},
	})
}

// TestProbes checks the platform's routes: /healthz, /readyz and /metrics.
func TestProbes(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "alive", req: request{method: http.MethodGet, path: "/healthz"}, wantStatus: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "ready", req: request{method: http.MethodGet, path: "/readyz"}, wantStatus: http.StatusOK, wantBody: `{"status":"ready"}`},
		{
			name:       "not ready: NATS down",
			setup:      func(_ *testing.T, s *server) { s.natsErr = errors.New("nats: RECONNECTING") },
			req:        request{method: http.MethodGet, path: "/readyz"},
			wantStatus: http.StatusServiceUnavailable, wantCode: web.CodeUnavailable,
		},
		{name: "not ready: sidecar not ready", sidecar: http.StatusInternalServerError, req: request{method: http.MethodGet, path: "/readyz"}, wantStatus: http.StatusServiceUnavailable, wantCode: web.CodeUnavailable},
	})

	t.Run("metrics", func(t *testing.T) {
		s := newTestServer(t, http.StatusNoContent)
		status, body := s.do(t, request{method: http.MethodGet, path: "/metrics"})
		if status != http.StatusOK || !bytes.Contains(body, []byte("daprshop_notification_etag_retries_total")) {
			t.Errorf("GET /metrics: got %d, want 200 with the service's counters:\n%.300s", status, body)
		}
	})
}

// TestSubscriptionRoutesAreServed reads the routes the subscriptions of
// components/ have the sidecar deliver to, and wants each served: a
// route renamed on one side only would leave every event undelivered with
// the rest of this file green.
func TestSubscriptionRoutesAreServed(t *testing.T) {
	var routes []string
	for _, r := range repo.Components(t) {
		if r.Kind == "Subscription" {
			routes = append(routes, r.Spec.Routes.Default)
		}
	}
	if len(routes) == 0 {
		t.Fatal("components/ has no subscription")
	}
	s := newTestServer(t, http.StatusNoContent)
	for _, route := range routes {
		// A CloudEvent that is not one: refused with DROP, by the route.
		status, body := s.do(t, request{method: http.MethodPost, path: route, token: appToken, body: `{}`})
		if status != http.StatusOK || !strings.Contains(string(body), "DROP") {
			t.Errorf("POST %s (a subscription's route): got %d %s, want 200 with the route's DROP", route, status, body)
		}
	}
}
