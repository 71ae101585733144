package e2e

import (
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
	before := suite.Snapshot(t, sys.Store)

	suite.RefuseAll(t, sc, sys, []suite.Refusal{
		{Name: "malformed json", Method: "POST", Path: "/orders", ContentType: suite.ContentTypeJSON, Body: `{"customerId":`, WantStatus: 400, WantCode: "malformed_json"},
		{Name: "missing customer", Method: "POST", Path: "/orders", ContentType: suite.ContentTypeJSON, Body: `{"items":[{"sku":"SKU-1","quantity":1}]}`, WantStatus: 400, WantCode: "invalid_request"},
		{Name: "unknown sku", Method: "POST", Path: "/orders", ContentType: suite.ContentTypeJSON, Body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"NO-SUCH-SKU","quantity":1}]}`, WantStatus: 422, WantCode: "unknown_sku"},
		{Name: "unknown sku after a known one", Method: "POST", Path: "/orders", ContentType: suite.ContentTypeJSON, Body: `{"customerId":"c-1","items":[{"sku":"SKU-1","quantity":1},{"sku":"ZZ-NO-SUCH-SKU","quantity":1}]}`, WantStatus: 422, WantCode: "unknown_sku"},
		{Name: "restock of nothing", Method: "POST", Path: "/items/SKU-1/restock", ContentType: suite.ContentTypeJSON, Body: `{"quantity":0}`, WantStatus: 400, WantCode: "invalid_request"},
		{Name: "odd order id", Method: "GET", Path: "/orders/%2e%2e%2fetc", WantStatus: 404, WantCode: "not_found"},
		{Name: "unknown order", Method: "GET", Path: "/orders/no-such-order", WantStatus: 404, WantCode: "not_found"},
		{Name: "cancel of an unknown order", Method: "POST", Path: "/orders/no-such-order/cancel", WantStatus: 404, WantCode: "not_found"},
	})
	suite.CheckUnchanged(t, sc, sys, before)
}
