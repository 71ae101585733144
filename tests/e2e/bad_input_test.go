package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
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

	refuseAll(t, sc, sys, []refusal{
		{name: "malformed json", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "missing customer", method: "POST", path: "/orders", contentType: ctJSON, body: `{"items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "unknown sku", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"NO-SUCH-SKU","quantity":1}]}`, wantStatus: 422, wantCode: "unknown_sku"},
		{name: "unknown sku after a known one", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"ZZ-NO-SUCH-SKU","quantity":1}]}`, wantStatus: 422, wantCode: "unknown_sku"},
		{name: "restock of nothing", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":0}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "odd order id", method: "GET", path: "/orders/%2e%2e%2fetc", wantStatus: 404, wantCode: "not_found"},
		{name: "unknown order", method: "GET", path: "/orders/no-such-order", wantStatus: 404, wantCode: "not_found"},
		{name: "cancel of an unknown order", method: "POST", path: "/orders/no-such-order/cancel", wantStatus: 404, wantCode: "not_found"},
	})
	checkUnchanged(t, sc, sys, before)
}

const ctJSON = "application/json"

// refusal is a request the system must refuse, and how.
type refusal struct {
	name, method, path, contentType, body string
	// header is sent besides the content type. Without an Authorization
	// header the request carries an operator's token (suite.Shop.Do); with
	// an empty one, none (suite.Anonymous).
	header     http.Header
	wantStatus int
	wantCode   string
}

// refuseAll sends each request to the app its path belongs to (/items to
// inventory, /notifications and /deadletters to notification, the rest to
// order), and checks, as an invariant each, that it was refused as due:
// the status and the error code of the one error shape.
func refuseAll(t *testing.T, sc *report.ScenarioRecorder, sys *suite.Shop, refusals []refusal) {
	t.Helper()
	for _, r := range refusals {
		app := sys.App(t, "order")
		switch {
		case strings.HasPrefix(r.path, "/items"):
			app = sys.App(t, "inventory")
		case strings.HasPrefix(r.path, "/notifications"), strings.HasPrefix(r.path, "/deadletters"):
			app = sys.App(t, "notification")
		}
		req, err := http.NewRequest(r.method, app.URL+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(req.Header, r.header)
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		observed := ""
		resp, err := sys.Do(req)
		if err != nil {
			observed = err.Error()
		} else {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(data, &body); err != nil {
				observed = fmt.Sprintf("%d, not the JSON error shape: %.200s", resp.StatusCode, data)
			} else {
				observed = fmt.Sprintf("%d %s (%s)", resp.StatusCode, body.Error.Code, body.Error.Message)
			}
		}
		want := fmt.Sprintf("%d %s", r.wantStatus, r.wantCode)
		sc.Check("refused: "+r.name, strings.HasPrefix(observed, want+" ("), want, observed)
	}
}

// checkUnchanged checks that Redis holds what it held in before, byte for
// byte.
func checkUnchanged(t *testing.T, sc *report.ScenarioRecorder, sys *suite.Shop, before map[string]string) {
	t.Helper()
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
