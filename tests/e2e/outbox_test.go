package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// TestOutboxNeverStoresAnOrderWithoutItsEvent stops pub/sub (on the Redis
// profile a Redis of its own here) while the state store stays up. A save-then-publish service
// would store the order, answer 201 and lose its event; with the outbox the
// sidecar cannot publish the event, so the transaction never runs: the order
// is refused whole, nothing is stored and its stock is back.
func TestOutboxNeverStoresAnOrderWithoutItsEvent(t *testing.T) {
	sc := run.Scenario(t, "outbox")
	sys := suite.Start(t, sc, system.Options{SeparatePubSubRedis: true})
	sys.Restock(t, "OUTBOX-1", 3)

	sys.BrokerProc.Stop()
	status, _ := sys.PlaceOrder(t, "", "c-outbox", "OUTBOX-1", 2)
	sc.Check("order refused while its event cannot be published", status >= 500, "a 5xx", fmt.Sprint(status))
	got := sys.StoredItem(t, "OUTBOX-1")
	sc.Check("stock back after the refused order", got.Available == 3 && got.Reserved == 0,
		"available 3 reserved 0", fmt.Sprintf("available %d reserved %d", got.Available, got.Reserved))
	var stored []string
	for _, o := range sys.StoredOrders(t) {
		if o.CustomerID == "c-outbox" {
			stored = append(stored, o.ID+" "+o.Status)
		}
	}
	sc.Check("no order stored without its event", len(stored) == 0, "no order of c-outbox in the state store", fmt.Sprintf("%v", stored))
	// The sanity check that makes the above meaningful: the order API
	// itself still works for reads.
	if status := sys.Call(t, http.MethodGet, sys.App(t, "order").URL+"/orders/unknown", "", nil); status != http.StatusNotFound {
		t.Errorf("GET /orders/unknown: got %d, want 404", status)
	}
}
