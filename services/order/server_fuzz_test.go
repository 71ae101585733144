package main

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzPlaceOrder sends POST /orders with any body and Idempotency-Key to
// the API on the fakes: every answer is a 201, or a 4xx in the one error
// shape; never a 5xx (the fakes do not fail) and never a panic.
func FuzzPlaceOrder(f *testing.F) {
	for _, seed := range []struct{ body, key string }{
		{placeBody, ""}, {placeBody, "k-1"}, {placeWith(`[{"sku":"SKU-1","quantity":1e30}]`), ""},
		{`{"customerId":"a.b","items":[]}`, "a||b"}, {"[", ""}, {`{"customerId":"c-1","CUSTOMERID":"c-2"}`, ""},
	} {
		f.Add(seed.body, seed.key)
	}
	f.Fuzz(func(t *testing.T, body, key string) {
		fx := newFixture(t)
		rec := fx.serve(http.MethodPost, "/orders", ctJSON, key, body)
		switch {
		case rec.Code == http.StatusCreated:
		case rec.Code >= 400 && rec.Code < 500:
			var answer struct{ Error struct{ Code string } }
			_ = json.Unmarshal(rec.Body.Bytes(), &answer)
			checkErrorBody(t, rec, answer.Error.Code)
		default:
			t.Fatalf("body %q, key %q: got %d %s, want 201 or a 4xx", body, key, rec.Code, rec.Body)
		}
	})
}
