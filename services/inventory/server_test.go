package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/api/apitest"
	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/health"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory/inventorytest"
)

const (
	ctJSON   = "application/json"
	appToken = "test-app-token"
)

// viaDapr is the header daprd adds to the calls it makes to the app.
var viaDapr = http.Header{"Dapr-Api-Token": {appToken}}

// newStock returns the stock every case starts from: plain SKUs, one held by
// an order, one at the stock limit, and two whose writes fail.
func newStock() *inventorytest.Store {
	s := inventorytest.NewStore(
		inventory.Item{SKU: "SKU-1", Available: 10},
		inventory.Item{SKU: "SKU-2", Available: 2},
		inventory.Item{SKU: "SKU-HELD", Available: 5, Reserved: 3, Holds: map[string]int{"o-held": 3}},
		inventory.Item{SKU: "SKU-FULL", Available: inventory.MaxQuantity * 1000},
		inventory.Item{SKU: "SKU-DOWN", Available: 1},
		inventory.Item{SKU: "SKU-BUSY", Available: 1},
	)
	s.Fail = map[string]error{
		"SKU-DOWN": inventorytest.ErrUnavailable,
		"SKU-BUSY": fmt.Errorf("update SKU-BUSY: %w", inventory.ErrContention),
	}
	return s
}

// ready is the readiness of a catalog that is seeded.
func ready(context.Context) error { return nil }

// newTestServer returns the inventory API on store, wired as run wires it.
func newTestServer(t *testing.T, store inventory.Store, cfg Config, seeded health.Check) http.Handler {
	t.Helper()
	m, _ := newMetrics()
	return apitest.Checked(t, "inventory", newServer(slog.New(slog.DiscardHandler), cfg, inventory.NewService(store, inventory.Fulfilment{}), seeded, m))
}

// serve answers one request in-process.
func serve(h http.Handler, method, target, contentType, body string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer checks that rec answered status with a JSON body: for an
// error, exactly {"error":{"code":"...","message":"..."}} with code wantCode;
// otherwise the same JSON value as wantBody.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, wantStatus int, wantCode, wantBody string) {
	t.Helper()
	if rec.Code != wantStatus {
		t.Errorf("status: got %d, want %d (body %s)", rec.Code, wantStatus, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, ctJSON) {
		t.Errorf("Content-Type: got %q, want %s", ct, ctJSON)
	}
	if wantStatus >= 400 {
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		var got web.ErrorBody
		if err := dec.Decode(&got); err != nil || got.Error.Message == "" {
			t.Fatalf("error body: got %s, want {\"error\":{\"code\":%q,\"message\":\"...\"}} (%v)", rec.Body, wantCode, err)
		}
		if got.Error.Code != wantCode {
			t.Errorf("error code: got %q, want %q (message %q)", got.Error.Code, wantCode, got.Error.Message)
		}
		// The cause of a 500 is logged, never shown: it may name internals.
		if wantStatus == http.StatusInternalServerError && got.Error.Message != "internal error" {
			t.Errorf("message of a 500: got %q, want %q", got.Error.Message, "internal error")
		}
		return
	}
	var got, want any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
	}
	if err := json.Unmarshal([]byte(wantBody), &want); err != nil {
		t.Fatalf("wantBody is not JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body: got %s, want %s", rec.Body, wantBody)
	}
}

// stock returns every item in s, printed: holds in key order, and no holds
// at all the same whether nil or empty.
func stock(t *testing.T, s inventory.Store) string {
	t.Helper()
	items, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%+v", items)
}

// apiCase is one request to the API and the answer it must get.
type apiCase struct {
	name              string
	method, path      string
	contentType, body string
	header            http.Header
	wantStatus        int
	wantCode          string           // of an error answer
	wantBody          string           // of a 2xx answer
	wantStock         []inventory.Item // nil: the stock is unchanged
}

// runAPICases runs each case on a stock of its own, newStock's, and checks
// the answer (checkAnswer) and the stock after it.
func runAPICases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newStock()
			h := newTestServer(t, store, Config{Base: config.Base{AppAPIToken: appToken}}, ready)
			before := stock(t, store)

			rec := serve(h, tc.method, tc.path, tc.contentType, tc.body, tc.header)
			checkAnswer(t, rec, tc.wantStatus, tc.wantCode, tc.wantBody)

			if tc.wantStock == nil {
				if after := stock(t, store); after != before {
					t.Errorf("stock: got %s, want it unchanged, %s", after, before)
				}
			}
			for _, want := range tc.wantStock {
				if got := inventorytest.MustGet(t, store, want.SKU); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
					t.Errorf("stock of %s: got %+v, want %+v", want.SKU, got, want)
				}
			}
		})
	}
}

// reserveBody returns the body of a reservation or a release,
// {"items":[lines]}, where lines are JSON objects separated by commas.
func reserveBody(lines string) string { return `{"items":[` + lines + `]}` }

// TestListItems checks GET /items, of the operator API: public, so no app
// token.
func TestListItems(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "list items", method: "GET", path: "/items", wantStatus: 200,
			wantBody: `{"items":[
				{"sku":"SKU-1","available":10,"reserved":0},
				{"sku":"SKU-2","available":2,"reserved":0},
				{"sku":"SKU-BUSY","available":1,"reserved":0},
				{"sku":"SKU-DOWN","available":1,"reserved":0},
				{"sku":"SKU-FULL","available":1000000000,"reserved":0},
				{"sku":"SKU-HELD","available":5,"reserved":3}]}`},
	})
}

// TestGetItem checks GET /items/:sku, of the operator API: public, so no
// app token.
func TestGetItem(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "get an item, holds not shown", method: "GET", path: "/items/SKU-HELD", wantStatus: 200,
			wantBody: `{"sku":"SKU-HELD","available":5,"reserved":3}`},
		{name: "get an unknown sku", method: "GET", path: "/items/NO-SUCH-SKU", wantStatus: 404, wantCode: "unknown_sku"},
		{name: "get a sku with a space", method: "GET", path: "/items/bad%20sku", wantStatus: 404, wantCode: "unknown_sku"},
		{name: "get a sku of 65 characters", method: "GET", path: "/items/" + strings.Repeat("A", 65), wantStatus: 404, wantCode: "unknown_sku"},
		{name: "get a sku starting with a dot", method: "GET", path: "/items/.hidden", wantStatus: 404, wantCode: "unknown_sku"},
	})
}

// TestRestock checks POST /items/:sku/restock, of the operator API:
// public, so no app token.
func TestRestock(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "restock", method: "POST", path: "/items/SKU-HELD/restock", contentType: ctJSON, body: `{"quantity":5}`, wantStatus: 200,
			wantBody:  `{"sku":"SKU-HELD","available":10,"reserved":3}`,
			wantStock: []inventory.Item{{SKU: "SKU-HELD", Available: 10, Reserved: 3, Holds: map[string]int{"o-held": 3}}}},
		{name: "restock a new sku creates it", method: "POST", path: "/items/NEW-1/restock", contentType: ctJSON, body: `{"quantity":2}`, wantStatus: 200,
			wantBody:  `{"sku":"NEW-1","available":2,"reserved":0}`,
			wantStock: []inventory.Item{{SKU: "NEW-1", Available: 2}}},
		{name: "restock the maximum", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1000000}`, wantStatus: 200,
			wantBody:  `{"sku":"SKU-1","available":1000010,"reserved":0}`,
			wantStock: []inventory.Item{{SKU: "SKU-1", Available: 1_000_010}}},
		{name: "restock of nothing", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":0}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock without a quantity", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock a null quantity", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":null}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock a negative quantity", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":-1}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock one more than the maximum", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1000001}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock an absurd quantity", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":99999999999}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock a quantity beyond int64", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1e30}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock a fractional quantity", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1.5}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock a quantity in a string", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":"5"}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock past the stock limit", method: "POST", path: "/items/SKU-FULL/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock a sku with a space", method: "POST", path: "/items/bad%20sku/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock a sku of 65 characters", method: "POST", path: "/items/" + strings.Repeat("A", 65) + "/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock malformed json", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock an unknown field", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1,"price":0}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock two json values", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1}{"quantity":1}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock an empty body", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: ``, wantStatus: 400, wantCode: "malformed_json"},
		{name: "restock as text", method: "POST", path: "/items/SKU-1/restock", contentType: "text/plain", body: `{"quantity":1}`, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "restock without a content type", method: "POST", path: "/items/SKU-1/restock", body: `{"quantity":1}`, wantStatus: 415, wantCode: "unsupported_media_type"},
		// Valid JSON but for its size: the limit alone refuses it.
		{name: "restock an oversized body", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON,
			body: `{"quantity":1` + strings.Repeat(" ", web.MaxBodyBytes) + `}`, wantStatus: 413, wantCode: "body_too_large"},
		{name: "restock while the store is down", method: "POST", path: "/items/SKU-DOWN/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 500, wantCode: "internal"},
		{name: "restock under contention", method: "POST", path: "/items/SKU-BUSY/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 503, wantCode: "busy"},
	})
}

// TestReserve checks POST /reservations/:orderId, which the order service
// invokes through Dapr.
func TestReserve(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "reserve", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":3},{"sku":"SKU-2","quantity":2}`), wantStatus: 200,
			wantBody: `{"outcome":"reserved"}`,
			wantStock: []inventory.Item{
				{SKU: "SKU-1", Available: 7, Reserved: 3, Holds: map[string]int{"o-1": 3}},
				{SKU: "SKU-2", Available: 0, Reserved: 2, Holds: map[string]int{"o-1": 2}},
			}},
		{name: "reserve again for an order that holds the stock", method: "POST", path: "/reservations/o-held", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-HELD","quantity":3}`), wantStatus: 200, wantBody: `{"outcome":"reserved"}`},
		{name: "reserve more than is available", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":1},{"sku":"SKU-2","quantity":3}`), wantStatus: 200,
			wantBody: `{"outcome":"insufficient_stock","shortages":[{"sku":"SKU-2","requested":3,"available":2}]}`},
		{name: "reserve reports every shortage", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-2","quantity":3},{"sku":"SKU-1","quantity":11}`), wantStatus: 200,
			wantBody: `{"outcome":"insufficient_stock","shortages":[{"sku":"SKU-1","requested":11,"available":10},{"sku":"SKU-2","requested":3,"available":2}]}`},
		{name: "reserve an unknown sku", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":1},{"sku":"NO-SUCH-SKU","quantity":1}`), wantStatus: 200,
			wantBody: `{"outcome":"unknown_sku","unknownSku":"NO-SUCH-SKU"}`},
		{name: "reserve a sku with a space", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"bad sku","quantity":1}`), wantStatus: 200,
			wantBody: `{"outcome":"unknown_sku","unknownSku":"bad sku"}`},
		{name: "reserve no items", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(``), wantStatus: 400, wantCode: "invalid_request"},
		{name: "reserve without items", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: `{}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "reserve zero", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":0}`), wantStatus: 400, wantCode: "invalid_request"},
		{name: "reserve a negative quantity", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":-5}`), wantStatus: 400, wantCode: "invalid_request"},
		{name: "reserve an absurd quantity", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":99999999999}`), wantStatus: 400, wantCode: "invalid_request"},
		{name: "reserve a quantity beyond int64", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":1e30}`), wantStatus: 400, wantCode: "malformed_json"},
		{name: "reserve a sku twice", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":1},{"sku":"SKU-1","quantity":1}`), wantStatus: 400, wantCode: "invalid_request"},
		{name: "reserve an unknown field", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: `{"items":[{"sku":"SKU-1","quantity":1}],"discount":100}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "reserve an unknown field in a line", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":1,"price":0}`), wantStatus: 400, wantCode: "malformed_json"},
		{name: "reserve malformed json", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: `{"items":[`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "reserve as text", method: "POST", path: "/reservations/o-1", contentType: "text/plain", header: viaDapr,
			body: reserveBody(`{"sku":"SKU-1","quantity":1}`), wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "reserve an oversized body", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"` + strings.Repeat("A", web.MaxBodyBytes) + `","quantity":1}`), wantStatus: 413, wantCode: "body_too_large"},
		{name: "reserve while the store is down", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-DOWN","quantity":1}`), wantStatus: 500, wantCode: "internal"},
		{name: "reserve under contention", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-BUSY","quantity":1}`), wantStatus: 503, wantCode: "busy"},
		{name: "reserve without the app token", method: "POST", path: "/reservations/o-1", contentType: ctJSON,
			body: reserveBody(`{"sku":"SKU-1","quantity":1}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "reserve with a wrong app token", method: "POST", path: "/reservations/o-1", contentType: ctJSON, header: http.Header{"Dapr-Api-Token": {"guess"}},
			body: reserveBody(`{"sku":"SKU-1","quantity":1}`), wantStatus: 401, wantCode: "unauthorized"},
	})
}

// TestRelease checks POST /reservations/:orderId/release, which the order
// service invokes through Dapr.
func TestRelease(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "release", method: "POST", path: "/reservations/o-held/release", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-HELD","quantity":3}`), wantStatus: 200, wantBody: `{"released":true}`,
			wantStock: []inventory.Item{{SKU: "SKU-HELD", Available: 8}}},
		{name: "release an order that holds nothing", method: "POST", path: "/reservations/o-none/release", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-HELD","quantity":3}`), wantStatus: 200, wantBody: `{"released":true}`},
		{name: "release an unknown sku", method: "POST", path: "/reservations/o-held/release", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"NO-SUCH-SKU","quantity":1}`), wantStatus: 200, wantBody: `{"released":true}`},
		{name: "release no items", method: "POST", path: "/reservations/o-held/release", contentType: ctJSON, header: viaDapr,
			body: reserveBody(``), wantStatus: 200, wantBody: `{"released":true}`},
		{name: "release malformed json", method: "POST", path: "/reservations/o-held/release", contentType: ctJSON, header: viaDapr,
			body: `{"items":`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "release an unknown field", method: "POST", path: "/reservations/o-held/release", contentType: ctJSON, header: viaDapr,
			body: `{"items":[],"all":true}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "release while the store is down", method: "POST", path: "/reservations/o-1/release", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-DOWN","quantity":1}`), wantStatus: 500, wantCode: "internal"},
		{name: "release under contention", method: "POST", path: "/reservations/o-1/release", contentType: ctJSON, header: viaDapr,
			body: reserveBody(`{"sku":"SKU-BUSY","quantity":1}`), wantStatus: 503, wantCode: "busy"},
		{name: "release without the app token", method: "POST", path: "/reservations/o-held/release", contentType: ctJSON,
			body: reserveBody(`{"sku":"SKU-HELD","quantity":3}`), wantStatus: 401, wantCode: "unauthorized"},
	})
}

// TestRouting checks the answers to a path the API does not have, and to
// a method its path does not take.
func TestRouting(t *testing.T) {
	runAPICases(t, []apiCase{
		{name: "unknown route", method: "GET", path: "/orders", wantStatus: 404, wantCode: "not_found"},
		{name: "wrong method on items", method: "DELETE", path: "/items", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "wrong method on restock", method: "GET", path: "/items/SKU-1/restock", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "wrong method on a reservation", method: "GET", path: "/reservations/o-held", header: viaDapr, wantStatus: 405, wantCode: "method_not_allowed"},
	})
}

// TestReservationsWithoutAnAppToken checks that a setup without tokens,
// which only development allows (INSECURE_NO_TOKENS=true), guards
// nothing: daprd then sends no token either.
func TestReservationsWithoutAnAppToken(t *testing.T) {
	h := newTestServer(t, newStock(), Config{}, ready)
	rec := serve(h, "POST", "/reservations/o-1", ctJSON, `{"items":[{"sku":"SKU-1","quantity":1}]}`, nil)
	checkAnswer(t, rec, 200, "", `{"outcome":"reserved"}`)
}

func TestProbes(t *testing.T) {
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/healthz/outbound" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(sidecar.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	notSeeded := func(context.Context) error { return errors.New("catalog not seeded yet") }

	tests := []struct {
		name       string
		path       string
		sidecar    string
		seeded     health.Check
		wantStatus int
		wantCode   string
		wantBody   string
	}{
		{"alive", "/healthz", gone.Listener.Addr().String(), notSeeded, 200, "", `{"status":"ok"}`},
		{"ready", "/readyz", sidecar.Listener.Addr().String(), ready, 200, "", `{"status":"ready"}`},
		{"sidecar down", "/readyz", gone.Listener.Addr().String(), ready, 503, "unavailable", ""},
		{"catalog not seeded", "/readyz", sidecar.Listener.Addr().String(), notSeeded, 503, "unavailable", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestServer(t, newStock(), Config{Base: config.Base{DaprHTTPAddr: tc.sidecar, AppAPIToken: appToken}}, tc.seeded)
			checkAnswer(t, serve(h, "GET", tc.path, "", "", nil), tc.wantStatus, tc.wantCode, tc.wantBody)
		})
	}

	t.Run("metrics", func(t *testing.T) {
		h := newTestServer(t, newStock(), Config{Base: config.Base{AppAPIToken: appToken}}, ready)
		rec := serve(h, "GET", "/metrics", "", "", nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "daprshop_inventory_etag_retries_total") {
			t.Errorf("GET /metrics: got %d %.200s, want 200 with the ETag retry counter", rec.Code, rec.Body)
		}
	})
}
