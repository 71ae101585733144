package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory/inventorytest"
)

// FuzzRestock sends POST /items/{sku}/restock with any SKU and body: every
// answer is a 200 that added exactly the quantity it names, or a 4xx in the
// one error shape that changed nothing; never a 5xx (the fake store does not
// fail) and never a panic.
func FuzzRestock(f *testing.F) {
	for _, seed := range []struct{ sku, body string }{
		{"SKU-1", `{"quantity":5}`}, {"SKU-NEW", `{"quantity":1}`}, {"SKU-1", `{"quantity":1000000000000}`},
		{"..%2fSKU-1", `{"quantity":1}`}, {"SKU-1", `{"quantity":1,"quantity":9}`}, {"SKU-1", `{"quantity":-1}`}, {"SKU-1", "["},
	} {
		f.Add(seed.sku, seed.body)
	}
	f.Fuzz(func(t *testing.T, sku, body string) {
		store, h := fuzzServer(t)
		before := totalStock(t, store)
		rec := serve(h, http.MethodPost, "/items/"+url.PathEscape(sku)+"/restock", ctJSON, body, nil)
		added := 0
		switch {
		case rec.Code == http.StatusOK:
			var req struct{ Quantity int }
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("sku %q, body %q: 200 for a body that is not a restock: %v", sku, body, err)
			}
			added = req.Quantity
		case rec.Code >= 400 && rec.Code < 500:
			checkErrorShape(t, rec)
		default:
			t.Fatalf("sku %q, body %q: got %d %s, want 200 or a 4xx", sku, body, rec.Code, rec.Body)
		}
		if after := totalStock(t, store); after != before+added {
			t.Errorf("sku %q, body %q: answered %d, stock went from %d to %d", sku, body, rec.Code, before, after)
		}
	})
}

// FuzzReservation sends a reservation or its release, as order's sidecar
// does, with any order id and body: every answer is a 200 or a 4xx in the
// one error shape, never a 5xx nor a panic, and stock is conserved
// (available and reserved only move between each other).
func FuzzReservation(f *testing.F) {
	for _, seed := range []struct {
		orderID, body string
		release       bool
	}{
		{"o-1", `{"items":[{"sku":"SKU-1","quantity":2}]}`, false}, {"o-held", `{"items":[{"sku":"SKU-HELD","quantity":3}]}`, true},
		{"o-2", `{"items":[{"sku":"SKU-1","quantity":1},{"sku":"SKU-2","quantity":9}]}`, false},
		{"a||b", `{"items":[]}`, false}, {"o-3", `{"items":[{"sku":"SKU-1","quantity":1e300}]}`, false}, {"o-4", "{", true},
	} {
		f.Add(seed.orderID, seed.body, seed.release)
	}
	f.Fuzz(func(t *testing.T, orderID, body string, release bool) {
		store, h := fuzzServer(t)
		before := totalStock(t, store)
		path := "/reservations/" + url.PathEscape(orderID)
		if release {
			path += "/release"
		}
		rec := serve(h, http.MethodPost, path, ctJSON, body, viaDapr)
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500:
			checkErrorShape(t, rec)
		default:
			t.Fatalf("order %q, body %q: got %d %s, want 200 or a 4xx", orderID, body, rec.Code, rec.Body)
		}
		if after := totalStock(t, store); after != before {
			t.Errorf("order %q, body %q: stock went from %d to %d", orderID, body, before, after)
		}
	})
}

// fuzzServer returns the API on a stock whose store never fails.
func fuzzServer(t *testing.T) (*inventorytest.Store, http.Handler) {
	store := inventorytest.NewStore(
		inventory.Item{SKU: "SKU-1", Available: 10},
		inventory.Item{SKU: "SKU-2", Available: 2},
		inventory.Item{SKU: "SKU-HELD", Available: 5, Reserved: 3, Holds: map[string]int{"o-held": 3}},
	)
	return store, newTestServer(t, store, Config{Base: config.Base{AppAPIToken: appToken}}, ready)
}

// totalStock is every SKU's available and reserved, added up.
func totalStock(t *testing.T, s inventory.Store) int {
	t.Helper()
	items, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, it := range items {
		total += it.Available + it.Reserved
	}
	return total
}

// checkErrorShape fails t unless rec's body is the one error shape, with
// a code and a message.
func checkErrorShape(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	var got web.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Error.Code == "" || got.Error.Message == "" {
		t.Fatalf("%d answered %s, not the error shape (%v)", rec.Code, rec.Body, err)
	}
}
