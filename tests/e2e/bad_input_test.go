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

// TestBadInputIsRefused sends malformed and invalid requests to the running
// system: each must get a 4xx with a JSON error code (never a 5xx) and leave
// the state store byte for byte as it was. Every route's whole error table
// is checked in process, in milliseconds (services/*/server_test.go); here
// are the cases whose answer depends on the sidecars and the real store (a
// SKU inventory does not carry, an order that was never stored), and one of
// each kind the apps refuse on their own, to see that what they refuse
// never reaches the store.
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
		{"missing customer", "POST", "/orders", ctJSON, `{"items":[{"sku":"SKU-1","quantity":1}]}`, 400, "invalid_request"},
		{"unknown sku", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"NO-SUCH-SKU","quantity":1}]}`, 422, "unknown_sku"},
		{"unknown sku after a known one", "POST", "/orders", ctJSON, `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"ZZ-NO-SUCH-SKU","quantity":1}]}`, 422, "unknown_sku"},
		{"restock of nothing", "POST", "/items/SKU-1/restock", ctJSON, `{"quantity":0}`, 400, "invalid_request"},
		{"odd order id", "GET", "/orders/%2e%2e%2fetc", "", "", 404, "not_found"},
		{"unknown order", "GET", "/orders/no-such-order", "", "", 404, "not_found"},
		{"cancel of an unknown order", "POST", "/orders/no-such-order/cancel", "", "", 404, "not_found"},
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
