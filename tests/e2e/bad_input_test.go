package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestBadInputIsRefused sends malformed and invalid requests: each must get a
// 4xx with a JSON error code (never a 5xx) and leave the state store byte for
// byte as it was.
func TestBadInputIsRefused(t *testing.T) {
	sc := run.Scenario(t, "bad input")
	sys := suite.Start(t, sc, system.Options{})
	before := snapshot(t, sys.Redis)

	const ctJSON = "application/json"
	tests := []struct {
		name, method, path, contentType, body string
		wantStatus                            int
		wantCode                              string
	}{
		{"malformed json", "POST", "/orders", ctJSON, `{"customerId":`, 400, "malformed_json"},
		{"unknown field", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}],"discount":100}`, 400, "malformed_json"},
		{"unknown field in a line", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1,"price":0}]}`, 400, "malformed_json"},
		{"empty items", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[]}`, 400, "invalid_request"},
		{"missing customer", "POST", "/orders", ctJSON, `{"items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"},
		{"zero quantity", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":0}]}`, 400, "invalid_request"},
		{"negative quantity", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":-5}]}`, 400, "invalid_request"},
		{"absurd quantity", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":99999999999}]}`, 400, "invalid_request"},
		{"quantity beyond int64", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1e30}]}`, 400, "malformed_json"},
		{"duplicate sku", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"},
		{"unknown sku", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"NO-SUCH-SKU","quantity":1}]}`, 422, "unknown_sku"},
		{"unknown sku after a known one", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"ZZ-NO-SUCH-SKU","quantity":1}]}`, 422, "unknown_sku"},
		{"restock of nothing", "POST", "/items/SKU-1/restock", ctJSON, `{"quantity":0}`, 400, "invalid_request"},
		{"wrong content type", "POST", "/orders", "text/plain", `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}]}`, 415, "unsupported_media_type"},
		{"oversized body", "POST", "/orders", ctJSON, `{"customerId":"` + strings.Repeat("c", 100<<10) + `"}`, 413, "body_too_large"},
		{"odd order id", "GET", "/orders/%2e%2e%2fetc", "", "", 404, "not_found"},
		{"odd id to cancel", "POST", "/orders/a%20b/cancel", "", "", 404, "not_found"},
		{"unknown order", "GET", "/orders/no-such-order", "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/orders", "", "", 405, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := sys.App(t, "order")
			if strings.HasPrefix(tc.path, "/items") {
				app = sys.App(t, "inventory")
			}
			req, err := http.NewRequest(tc.method, app.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := sys.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(data, &body); err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, data)
			}
			sc.Check("refused: "+tc.name, resp.StatusCode == tc.wantStatus && body.Error.Code == tc.wantCode,
				fmt.Sprintf("%d %s", tc.wantStatus, tc.wantCode), fmt.Sprintf("%d %s (%s)", resp.StatusCode, body.Error.Code, body.Error.Message))
		})
	}

	after := snapshot(t, sys.Redis)
	var changed []string
	for k, v := range after {
		if before[k] != v {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed = append(changed, k+" (deleted)")
		}
	}
	sc.Check("state store unchanged byte for byte", len(changed) == 0,
		fmt.Sprintf("the same %d keys and values", len(before)), fmt.Sprintf("changed: %v", changed))
}

// snapshot returns every key of r with its serialized value (DUMP).
func snapshot(t *testing.T, r *system.Redis) map[string]string {
	t.Helper()
	ctx := context.Background()
	rdb := r.Client(t)
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("Redis holds no keys: nothing to compare")
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}
