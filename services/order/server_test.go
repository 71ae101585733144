package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daprshop/daprshop/api/apitest"
	"github.com/daprshop/daprshop/internal/auth/authtest"
	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/order/internal/order"
	"github.com/daprshop/daprshop/services/order/internal/order/ordertest"
)

// fixture is the order service's HTTP API, in-process, on a real
// order.Service whose inventory and store are ordertest's fakes, and a fake
// sidecar that answers the readiness check.
type fixture struct {
	handler http.Handler
	svc     *order.Service
	inv     *ordertest.Inventory
	repo    *ordertest.Repository
	// sidecarStatus is what the fake sidecar's outbound health endpoint
	// answers.
	sidecarStatus atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with more settings in the service's
// environment.
func newFixtureWith(t *testing.T, settings map[string]string) *fixture {
	t.Helper()
	f := &fixture{inv: ordertest.NewInventory(), repo: ordertest.NewRepository()}
	f.sidecarStatus.Store(http.StatusNoContent)
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/healthz/outbound" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(f.sidecarStatus.Load()))
	}))
	t.Cleanup(sidecar.Close)
	u, err := url.Parse(sidecar.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The routes' translation is what the fixture tests, not who may call
	// them: without an issuer (development) every caller is an operator,
	// unless the test gives one (TestCustomersActOnlyForThemselves). The
	// tokens, once set, are checked all the same.
	env := map[string]string{"DAPR_HTTP_PORT": u.Port(), "DAPR_API_TOKEN": "api-token", "APP_API_TOKEN": "app-token",
		config.EnvInsecureNoTokens: "true"}
	maps.Copy(env, settings)
	cfg, err := loadConfig(func(key string) string { return env[key] })
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	newID := func() string { return fmt.Sprintf("id-%d", n.Add(1)) }
	now := func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }
	f.svc = order.NewService(f.inv, f.repo, ordertest.NewIdempotencyKeys(), newID, now, 0)
	m, _ := newMetrics()
	f.handler = apitest.Checked(t, "order", newServer(slog.New(slog.DiscardHandler), cfg, f.svc, m))
	return f
}

// serve sends one request to the API. A non-empty key goes in the
// Idempotency-Key header.
func (f *fixture) serve(method, path, contentType, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// place places an order for c-1 through the service, as an earlier request
// would have.
func (f *fixture) place(t *testing.T, key string) order.Order {
	t.Helper()
	o, err := f.svc.Place(t.Context(), order.PlaceRequest{IdempotencyKey: key, CustomerID: "c-1", Items: []order.Line{{SKU: "SKU-1", Quantity: 2}}})
	var short *order.InsufficientStockError
	if err != nil && !errors.As(err, &short) {
		t.Fatalf("Place: %v", err)
	}
	return o
}

// footprint is what the fakes hold and were asked, to tell whether a
// request reached them.
type footprint struct {
	orders, events, reserves, releases int
}

func (f *fixture) footprint() footprint {
	return footprint{f.repo.Len(), len(f.repo.Events()), f.inv.Reserves(), f.inv.Releases()}
}

const ctJSON = "application/json"

// placeBody is a valid POST /orders body.
const placeBody = `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":2}]}`

// placeWith returns a POST /orders body for c-1 with items, a JSON array.
func placeWith(items string) string { return `{"customerId":"c-1","items":` + items + `}` }

// TestCustomersActOnlyForThemselves runs the API with a real issuer's
// tokens: the customer is the token's subject, another customer's order is
// not found and not cancelled, an operator acts for any customer.
func TestCustomersActOnlyForThemselves(t *testing.T) {
	issuer := authtest.Start(t, "127.0.0.1:0")
	f := newFixtureWith(t, map[string]string{"AUTH_ISSUER": issuer.URL, "AUTH_AUDIENCE": authtest.Audience})
	as := func(token, method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctJSON)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec
	}
	c1, c2, ops := issuer.Token("c-1"), issuer.Token("c-2"), issuer.Operator("ops-1")

	if rec := as("", "POST", "/orders", placeBody); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: got %d %s, want 401", rec.Code, rec.Body)
	}
	rec := as(c1, "POST", "/orders", `{"items":[{"sku":"SKU-1","quantity":2}]}`)
	var placed order.Order
	if err := json.Unmarshal(rec.Body.Bytes(), &placed); err != nil || rec.Code != http.StatusCreated || placed.CustomerID != "c-1" {
		t.Fatalf("c-1 orders without naming itself: got %d %s, want 201 for c-1", rec.Code, rec.Body)
	}
	before := f.footprint()
	for _, tc := range []struct {
		name, token, method, path, body string
		wantStatus                      int
	}{
		{"c-2 orders in c-1's name", c2, "POST", "/orders", placeBody, http.StatusForbidden},
		{"c-2 reads c-1's order", c2, "GET", "/orders/" + placed.ID, "", http.StatusNotFound},
		{"c-2 cancels c-1's order", c2, "POST", "/orders/" + placed.ID + "/cancel", "", http.StatusNotFound},
		{"c-1 reads its order", c1, "GET", "/orders/" + placed.ID, "", http.StatusOK},
		{"an operator reads c-1's order", ops, "GET", "/orders/" + placed.ID, "", http.StatusOK},
	} {
		if rec := as(tc.token, tc.method, tc.path, tc.body); rec.Code != tc.wantStatus {
			t.Errorf("%s: got %d %s, want %d", tc.name, rec.Code, rec.Body, tc.wantStatus)
		}
	}
	if after := f.footprint(); after != before {
		t.Errorf("the refused requests reached the service: %+v, then %+v", before, after)
	}
	if rec := as(c1, "POST", "/orders/"+placed.ID+"/cancel", ""); rec.Code != http.StatusOK {
		t.Errorf("c-1 cancels its order: got %d %s, want 200", rec.Code, rec.Body)
	}
}

// apiCase is one request to the API and the answer it must get: its
// status and, for an error, its code; check, if set, looks further.
type apiCase struct {
	name                                 string
	setup                                func(t *testing.T, f *fixture)
	method, path, contentType, key, body string
	wantStatus                           int
	// wantCode is the error code the answer carries; "" for a success.
	wantCode string
	check    func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder)
}

// runAPICases runs each case on a fixture of its own. Besides what a case
// wants, every answer must be JSON (but /metrics), an error must have the
// one error shape, and a refused request must leave the fakes untouched.
func runAPICases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			before := f.footprint()
			rec := f.serve(tc.method, tc.path, tc.contentType, tc.key, tc.body)
			if rec.Code != tc.wantStatus {
				t.Fatalf("%s %s: got status %d, want %d; body %s", tc.method, tc.path, rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); tc.path != "/metrics" && !strings.HasPrefix(got, ctJSON) {
				t.Errorf("Content-Type: got %q, want %s", got, ctJSON)
			}
			if tc.wantCode != "" {
				checkErrorBody(t, rec, tc.wantCode)
			}
			// A refused request must leave no trace: nothing stored, no
			// stock asked for, none given back. Only a shortage (a stored
			// rejected order) and an unknown SKU (found by asking
			// inventory) are refused after the fact.
			if rec.Code >= 400 && rec.Code < 500 && tc.wantCode != "insufficient_stock" && tc.wantCode != "unknown_sku" {
				if after := f.footprint(); after != before {
					t.Errorf("a refused request changed the fakes: before %+v, after %+v", before, after)
				}
			}
			if tc.check != nil {
				tc.check(t, f, rec)
			}
		})
	}
}

// errStoreDown is the store's failure in the cases that need one. It names
// an address: the answer must not show it.
var errStoreDown = errors.New("redis: connection refused at 10.0.0.7:6379")

// orderPlaced is a case's setup: order id-1, placed for c-1 earlier.
func orderPlaced(t *testing.T, f *fixture) { f.place(t, "") }

// shortOfStock is a case's setup: inventory has 1 of SKU-1, and placeBody
// asks for 2.
func shortOfStock(_ *testing.T, f *fixture) {
	f.inv.ReserveErr = &order.InsufficientStockError{Shortages: []order.Shortage{{SKU: "SKU-1", Requested: 2, Available: 1}}}
}

// orderRejected is a case's setup: order id-1, placed for c-1 earlier and
// rejected for want of stock.
func orderRejected(t *testing.T, f *fixture) {
	shortOfStock(t, f)
	f.place(t, "")
}

// TestPlaceOrder checks POST /orders.
func TestPlaceOrder(t *testing.T) {
	tooMany := make([]string, order.MaxLines+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf(`{"sku":"S-%d","quantity":1}`, i)
	}
	runAPICases(t, []apiCase{
		{name: "place", method: "POST", path: "/orders", contentType: ctJSON, body: placeBody, wantStatus: 201,
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				o := decode[order.Order](t, rec)
				if o.ID != "id-1" || o.Status != order.StatusConfirmed || !f.inv.Holds("id-1") {
					t.Errorf("got order %s %s, holding stock %v; want id-1 confirmed, holding stock", o.ID, o.Status, f.inv.Holds("id-1"))
				}
				if got := rec.Header().Get("Location"); got != "/orders/id-1" {
					t.Errorf("Location: got %q, want /orders/id-1", got)
				}
			}},
		{name: "place with a charset", method: "POST", path: "/orders", contentType: ctJSON + "; charset=utf-8", body: placeBody, wantStatus: 201},
		{name: "place again with the same key", setup: func(t *testing.T, f *fixture) { f.place(t, "k-1") },
			method: "POST", path: "/orders", contentType: ctJSON, key: "k-1", body: placeBody, wantStatus: 201,
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				if o := decode[order.Order](t, rec); o.ID != "id-1" || f.inv.Reserves() != 1 {
					t.Errorf("got order %s after %d reservations, want id-1 (the first answer) after 1", o.ID, f.inv.Reserves())
				}
			}},

		// What the domain refuses.
		{name: "insufficient stock", setup: shortOfStock,
			method: "POST", path: "/orders", contentType: ctJSON, body: placeBody, wantStatus: 409, wantCode: "insufficient_stock",
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				body := decode[insufficientStockBody](t, rec)
				want := []order.Shortage{{SKU: "SKU-1", Requested: 2, Available: 1}}
				if body.OrderID != "id-1" || !slices.Equal(body.Shortages, want) {
					t.Errorf("got orderId %q, shortages %+v; want id-1, %+v", body.OrderID, body.Shortages, want)
				}
				if o, err := f.repo.Get(t.Context(), "id-1"); err != nil || o.Status != order.StatusRejected {
					t.Errorf("stored: got %+v, %v; want the rejected order", o, err)
				}
			}},
		{name: "unknown sku", setup: func(t *testing.T, f *fixture) { f.inv.ReserveErr = &order.UnknownSKUError{SKU: "NOPE"} },
			method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"NOPE","quantity":1}]`), wantStatus: 422, wantCode: "unknown_sku",
			check: func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
				if n := f.repo.Len(); n != 0 {
					t.Errorf("stored %d orders, want none", n)
				}
			}},
		{name: "key reused for another order", setup: func(t *testing.T, f *fixture) { f.place(t, "k-1") },
			method: "POST", path: "/orders", contentType: ctJSON, key: "k-1", body: placeWith(`[{"sku":"SKU-9","quantity":1}]`),
			wantStatus: 422, wantCode: "idempotency_key_reused"},
		{name: "key with a space", method: "POST", path: "/orders", contentType: ctJSON, key: "k 1", body: placeBody, wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "key too long", method: "POST", path: "/orders", contentType: ctJSON, key: strings.Repeat("k", 129), body: placeBody, wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "key not ASCII", method: "POST", path: "/orders", contentType: ctJSON, key: "ключ", body: placeBody, wantStatus: 400, wantCode: web.CodeInvalid},

		// Invalid orders.
		{name: "empty items", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[]`), wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "no items", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1"}`, wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "too many items", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith("[" + strings.Join(tooMany, ",") + "]"), wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "missing customer", method: "POST", path: "/orders", contentType: ctJSON, body: `{"items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "customer with a slash", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c/1","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "zero quantity", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":0}]`), wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "negative quantity", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":-5}]`), wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "absurd quantity", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":99999999999}]`), wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "empty sku", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"","quantity":1}]`), wantStatus: 400, wantCode: web.CodeInvalid},
		{name: "duplicate sku", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":1},{"sku":"SKU-1","quantity":1}]`), wantStatus: 400, wantCode: web.CodeInvalid},

		// Bodies that are not one JSON order.
		{name: "malformed json", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":`, wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "empty body", method: "POST", path: "/orders", contentType: ctJSON, wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "unknown field", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}],"discount":100}`, wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "unknown field in a line", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":1,"price":0}]`), wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "quantity beyond int64", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":1e30}]`), wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "quantity as a string", method: "POST", path: "/orders", contentType: ctJSON, body: placeWith(`[{"sku":"SKU-1","quantity":"2"}]`), wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "two orders in one body", method: "POST", path: "/orders", contentType: ctJSON, body: placeBody + placeBody, wantStatus: 400, wantCode: web.CodeMalformed},
		{name: "wrong content type", method: "POST", path: "/orders", contentType: "text/plain", body: placeBody, wantStatus: 415, wantCode: web.CodeContentType},
		{name: "no content type", method: "POST", path: "/orders", body: placeBody, wantStatus: 415, wantCode: web.CodeContentType},
		{name: "oversized body", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"` + strings.Repeat("c", web.MaxBodyBytes) + `"}`, wantStatus: 413, wantCode: web.CodeTooLarge},

		// Failures behind the API: 5xx, with nothing of the cause in the
		// answer.
		{name: "store down on place", setup: func(_ *testing.T, f *fixture) { f.repo.CreateErr = errStoreDown },
			method: "POST", path: "/orders", contentType: ctJSON, body: placeBody, wantStatus: 500, wantCode: web.CodeInternal,
			check: func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
				if n := f.inv.Held(); n != 0 {
					t.Errorf("%d orders hold stock after the store failed, want 0", n)
				}
			}},
		{name: "inventory unreachable", setup: func(_ *testing.T, f *fixture) { f.inv.ReserveErr = errors.New("invoke inventory: deadline exceeded") },
			method: "POST", path: "/orders", contentType: ctJSON, body: placeBody, wantStatus: 500, wantCode: web.CodeInternal},
	})
}

// TestGetOrder checks GET /orders/:id.
func TestGetOrder(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "get", setup: orderPlaced, method: "GET", path: "/orders/id-1", wantStatus: 200,
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				want, err := f.repo.Get(t.Context(), "id-1")
				if got := decode[order.Order](t, rec); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want the stored order %+v (%v)", got, want, err)
				}
			}},

		// What the domain refuses.
		{name: "get an unknown order", method: "GET", path: "/orders/no-such-order", wantStatus: 404, wantCode: web.CodeNotFound},
		{name: "get an odd id", method: "GET", path: "/orders/%2e%2e%2fetc", wantStatus: 404, wantCode: web.CodeNotFound},
		{name: "get an id with a space", method: "GET", path: "/orders/a%20b", wantStatus: 404, wantCode: web.CodeNotFound},
		{name: "get an id too long", method: "GET", path: "/orders/" + strings.Repeat("i", 65), wantStatus: 404, wantCode: web.CodeNotFound},

		// Failures behind the API: 5xx, with nothing of the cause in the
		// answer.
		{name: "store down on get", setup: func(_ *testing.T, f *fixture) { f.repo.GetErr = errStoreDown },
			method: "GET", path: "/orders/id-1", wantStatus: 500, wantCode: web.CodeInternal},
	})
}

// TestCancelOrder checks POST /orders/:id/cancel.
func TestCancelOrder(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "cancel", setup: orderPlaced, method: "POST", path: "/orders/id-1/cancel", wantStatus: 200,
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				if o := decode[order.Order](t, rec); o.Status != order.StatusCancelled || f.inv.Holds("id-1") {
					t.Errorf("got status %s, holding stock %v; want cancelled, stock back", o.Status, f.inv.Holds("id-1"))
				}
			}},
		{name: "cancel a cancelled order", setup: func(t *testing.T, f *fixture) {
			orderPlaced(t, f)
			if _, err := f.svc.Cancel(t.Context(), "id-1", order.AnyCustomer); err != nil {
				t.Fatal(err)
			}
		}, method: "POST", path: "/orders/id-1/cancel", wantStatus: 200},

		// What the domain refuses.
		{name: "cancel a rejected order", setup: orderRejected, method: "POST", path: "/orders/id-1/cancel", wantStatus: 409, wantCode: "not_cancellable"},
		{name: "cancel an unknown order", method: "POST", path: "/orders/no-such-order/cancel", wantStatus: 404, wantCode: web.CodeNotFound},
		{name: "cancel an odd id", method: "POST", path: "/orders/a%20b/cancel", wantStatus: 404, wantCode: web.CodeNotFound},

		// Failures behind the API: 5xx, with nothing of the cause in the
		// answer.
		{name: "store down on cancel", setup: func(_ *testing.T, f *fixture) { f.repo.UpdateErr = errStoreDown },
			method: "POST", path: "/orders/id-1/cancel", wantStatus: 500, wantCode: web.CodeInternal},
	})
}

// TestProbes checks the platform's routes: /healthz, /readyz and /metrics.
func TestProbes(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200},
		{name: "readyz", method: "GET", path: "/readyz", wantStatus: 200},
		{name: "metrics", method: "GET", path: "/metrics", wantStatus: 200,
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				if !strings.Contains(rec.Body.String(), `daprshop_order_orders_total{status="confirmed"} 0`) {
					t.Errorf("/metrics does not list the order counters at 0:\n%s", rec.Body)
				}
			}},
		{name: "readyz with the sidecar down", setup: func(_ *testing.T, f *fixture) { f.sidecarStatus.Store(http.StatusInternalServerError) },
			method: "GET", path: "/readyz", wantStatus: 503, wantCode: web.CodeUnavailable},
	})
}

// TestRouting checks the answers to a path the API does not have, and to
// a method its path does not take.
func TestRouting(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "no such route", method: "GET", path: "/nope", wantStatus: 404, wantCode: web.CodeNotFound},
		{name: "delete orders", method: "DELETE", path: "/orders", wantStatus: 405, wantCode: web.CodeMethodNotAllowed},
		{name: "list orders", method: "GET", path: "/orders", wantStatus: 405, wantCode: web.CodeMethodNotAllowed},
		{name: "put an order", setup: orderPlaced, method: "PUT", path: "/orders/id-1", contentType: ctJSON, body: placeBody, wantStatus: 405, wantCode: web.CodeMethodNotAllowed},
		{name: "get a cancel", setup: orderPlaced, method: "GET", path: "/orders/id-1/cancel", wantStatus: 405, wantCode: web.CodeMethodNotAllowed},
	})
}

// checkErrorBody checks that rec's body is the one error shape,
// {"error":{"code":"...","message":"..."}}, with wantCode and a message; a
// 409 for insufficient stock adds the rejected order's id and shortages. A
// 5xx says no more than "internal error": its cause is for the logs.
func checkErrorBody(t *testing.T, rec *httptest.ResponseRecorder, wantCode string) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, rec.Body)
	}
	wantKeys := []string{"error"}
	if wantCode == "insufficient_stock" {
		wantKeys = []string{"error", "orderId", "shortages"}
	}
	if got := slices.Sorted(maps.Keys(top)); !slices.Equal(got, wantKeys) {
		t.Errorf("error body fields: got %q, want %q: %s", got, wantKeys, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(top["error"]))
	dec.DisallowUnknownFields()
	var e web.Error
	if err := dec.Decode(&e); err != nil {
		t.Fatalf(`"error" is not {"code","message"}: %v: %s`, err, rec.Body)
	}
	if e.Code != wantCode || e.Message == "" {
		t.Errorf("error: got code %q, message %q; want code %q and a message", e.Code, e.Message, wantCode)
	}
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && e.Message != "internal error" {
		t.Errorf("5xx message: got %q, want %q: the cause stays in the logs", e.Message, "internal error")
	}
}

// decode decodes rec's body as a T.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body is not a %T: %v: %s", v, err, rec.Body)
	}
	return v
}

// TestMetricsCountRequestsByRoute checks that requests are counted by
// their route's template, never by raw path (one series per order id), and
// that the platform's probes are not counted.
func TestMetricsCountRequestsByRoute(t *testing.T) {
	f := newFixture(t)
	f.serve("GET", "/healthz", "", "", "")
	f.serve("GET", "/orders/id-42", "", "", "")
	f.serve("POST", "/orders", ctJSON, "", placeBody)
	metrics := f.serve("GET", "/metrics", "", "", "").Body.String()
	for _, want := range []string{
		`daprshop_http_requests_total{code="404",method="GET",route="/orders/:id"} 1`,
		`daprshop_http_requests_total{code="201",method="POST",route="/orders"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, unwanted := range []string{"id-42", `route="/healthz"`} {
		if strings.Contains(metrics, unwanted) {
			t.Errorf("/metrics mentions %s, want it not counted by itself", unwanted)
		}
	}
}
