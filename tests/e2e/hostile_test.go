package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestHostileClient sends what a hostile client would to the running
// system, one invariant per attack: each gets the 4xx it is due, the made-up
// methods add no metric series, and the state store is byte for byte what
// it was. Authentication is not here yet (#18): these are the attacks
// without a token.
func TestHostileClient(t *testing.T) {
	sc := run.Scenario(t, "hostile client: attacks without a token")
	sys := suite.Start(t, sc, system.Options{})
	before := snapshot(t, sys.Redis)

	order := func(body string) string {
		return `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}]` + body + `}`
	}
	nested := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	refusals := []refusal{
		// Ids that would reach a NATS subject or a state key.
		{name: "customer id that splits its NATS subject (a.b)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a.b","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with an empty subject token (a.)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a.","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with NATS wildcards (a.>)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a.>","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with Dapr's key separator", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"a||b","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id with a NUL", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c\u0000","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "sku with a unicode lookalike hyphen", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU‐1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "sku with Dapr's key separator", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU||1","quantity":1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "Idempotency-Key with Dapr's key separator", method: "POST", path: "/orders", contentType: ctJSON, body: order(""), header: http.Header{"Idempotency-Key": {"a||b"}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "Idempotency-Key too long", method: "POST", path: "/orders", contentType: ctJSON, body: order(""), header: http.Header{"Idempotency-Key": {strings.Repeat("k", 129)}}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "history of a subject wildcard", method: "GET", path: "/notifications?customerId=c.%3E", wantStatus: 400, wantCode: "invalid_request"},
		{name: "history of a split subject", method: "GET", path: "/notifications?customerId=c.1", wantStatus: 400, wantCode: "invalid_request"},
		{name: "history with Dapr's key separator", method: "GET", path: "/notifications?customerId=c%7C%7C1", wantStatus: 400, wantCode: "invalid_request"},
		{name: "order id with Dapr's key separator", method: "GET", path: "/orders/a%7C%7Cb", wantStatus: 404, wantCode: "not_found"},
		{name: "path traversal", method: "GET", path: "/orders/..%2f..%2fetc%2fpasswd", wantStatus: 404, wantCode: "not_found"},
		{name: "an order id of 10,000 characters", method: "GET", path: "/orders/" + strings.Repeat("o", 10_000), wantStatus: 404, wantCode: "not_found"},
		{name: "sku path traversal on restock", method: "POST", path: "/items/..%2fSKU-1/restock", contentType: ctJSON, body: `{"quantity":1}`, wantStatus: 404, wantCode: "not_found"},
		// Bodies.
		{name: "body over the limit", method: "POST", path: "/orders", contentType: ctJSON, body: order(`,"pad":"` + strings.Repeat("x", 100<<10) + `"`), wantStatus: 413, wantCode: "body_too_large"},
		{name: "deeply nested JSON", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":` + nested + `}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "two JSON values", method: "POST", path: "/orders", contentType: ctJSON, body: order("") + order(""), wantStatus: 400, wantCode: "malformed_json"},
		{name: "an array, not an order", method: "POST", path: "/orders", contentType: ctJSON, body: `[]`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "unknown field", method: "POST", path: "/orders", contentType: ctJSON, body: order(`,"status":"confirmed"`), wantStatus: 400, wantCode: "malformed_json"},
		{name: "quantity beyond int64", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1e300}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "negative quantity", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":-1}]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "fractional quantity", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":0.5}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "quantity as a string", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":"1"}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "51 lines", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[` + lines(51) + `]}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "restock of a trillion", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1000000000000}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "customer id twice (which one is acted on?)", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1}],"customerId":"c-2"}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "customer id in another case", method: "POST", path: "/orders", contentType: ctJSON, body: `{"CustomerID":"c-1","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "customer id and its case variant", method: "POST", path: "/orders", contentType: ctJSON, body: `{"customerId":"c-1","CUSTOMERID":"c-2","items":[{"sku":"SKU-1","quantity":1}]}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "quantity twice on restock", method: "POST", path: "/items/SKU-1/restock", contentType: ctJSON, body: `{"quantity":1,"quantity":900000}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "customer id in invalid UTF-8", method: "POST", path: "/orders", contentType: ctJSON, body: "{\"customerId\":\"c-\xff\",\"items\":[{\"sku\":\"SKU-1\",\"quantity\":1}]}", wantStatus: 400, wantCode: "malformed_json"},
		{name: "JSON sent as a form", method: "POST", path: "/orders", contentType: "application/x-www-form-urlencoded", body: order(""), wantStatus: 415, wantCode: "unsupported_media_type"},
		// Methods.
		{name: "TRACE", method: "TRACE", path: "/orders", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "a made-up method", method: "FOO", path: "/orders", wantStatus: 405, wantCode: "method_not_allowed"},
	}
	for i := range 50 {
		refusals = append(refusals, refusal{name: fmt.Sprintf("made-up method BREW%d", i), method: fmt.Sprintf("BREW%d", i),
			path: fmt.Sprintf("/nowhere/%d", i), wantStatus: 404, wantCode: "not_found"})
	}
	refuseAll(t, sc, sys, refusals)

	var madeUp []string
	for _, method := range requestMethods(t, sys) {
		if !slices.Contains(standardMethods, method) {
			madeUp = append(madeUp, method)
		}
	}
	sc.Check("made-up methods add no metric series", len(madeUp) == 0,
		"the method label of every series one of HTTP's or OTHER", fmt.Sprintf("series with methods %q", madeUp))
	checkUnchanged(t, sc, sys, before)
}

// standardMethods are the method labels a request series may have.
var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "OTHER"}

// requestMethods returns the method label of every request series on
// order's /metrics.
func requestMethods(t *testing.T, sys *suite.Shop) []string {
	t.Helper()
	samples, err := system.Samples(suite.HTTPClient, sys.App(t, "order").URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for name := range samples {
		if !strings.HasPrefix(name, "daprshop_http_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(name, `method="`)
		method, _, _ := strings.Cut(rest, `"`)
		methods = append(methods, method)
	}
	return methods
}

// lines returns n order lines of distinct SKUs, as JSON.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-L%d","quantity":1}`, i)
	}
	return b.String()
}
