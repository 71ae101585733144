package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

// leastCalls is what one order's guarantees need of the Dapr API at the
// least, by sidecar and method as calls names them. docs/patterns.md ("What
// an order costs, call by call") says why each is needed and why none can
// go. The bench's orders have one line each, from customers told before (a
// customer's first notification creates its history's head with one
// SaveState more).
var leastCalls = map[string]float64{
	"daprd-order grpc Dapr/SaveState":                      1, // the Idempotency-Key claimed
	"daprd-order grpc Dapr/InvokeService":                  1, // inventory's reservation
	"daprd-order grpc Dapr/ExecuteStateTransaction":        1, // the order with its outbox event
	"daprd-inventory grpc Dapr/GetState":                   1, // the SKU's entry read,
	"daprd-inventory grpc Dapr/SaveState":                  1, // then written only if unchanged
	"daprd-notification grpc Dapr/GetBulkState":            2, // the lease with "delivered?"; record, head and lease
	"daprd-notification grpc Dapr/SaveState":               2, // the lease taken, and ended
	"daprd-notification grpc Dapr/ExecuteStateTransaction": 1, // the record with the history's head
}

// pricedBy names the operation of the sidecar overhead (overhead.Name)
// whose p50 through Dapr prices one call of a Dapr API method: a bulk get
// as a get and a transaction as a save, each one round trip to the store.
var pricedBy = map[string]string{
	"Dapr/GetState":                opStateGet,
	"Dapr/GetBulkState":            opStateGet,
	"Dapr/SaveState":               opStateSave,
	"Dapr/ExecuteStateTransaction": opStateSave,
	"Dapr/InvokeService":           opInvoke,
}

// apiCalls are the apps' Dapr API calls per order next to the least the
// guarantees need, counted and priced.
type apiCalls struct {
	Calls, Least float64
	// Millis and LeastMillis are the calls priced by pricedBy, in ms of
	// the sidecar's p50 per order; 0 when a price is missing.
	Millis, LeastMillis float64
	// Above names each kind of call made more often than the least, or
	// not needed at all, with both counts.
	Above []string
}

// aboveLeast is how much more often than the least a kind of call may be
// made per order before it counts as a call too many. Lost races make some
// calls again: inventory's ETag loop on a busy SKU, and two deliveries at
// once to one customer's history (0.06 SaveState an order more in one
// bench, ten customers at 50 orders a second). A call made on every order,
// or every other, is caught.
const aboveLeast = 0.25

// apiCallsOf picks the apps' Dapr API calls out of counts (each app's
// calls to its sidecar's API, not the sidecars' calls between them) and
// sets them beside leastCalls, priced with overheads.
func apiCallsOf(counts []callCount, overheads []overhead) apiCalls {
	price := map[string]float64{}
	for _, o := range overheads {
		price[o.Name] = o.Dapr.P50
	}
	made := map[string]float64{}
	for _, c := range counts {
		if _, method, _ := strings.Cut(c.Call, " grpc "); strings.HasPrefix(method, "Dapr/") && !strings.HasSuffix(method, "(failed)") {
			made[c.Call] = c.PerOrder
		}
	}
	kinds := maps.Clone(made)
	for call := range leastCalls {
		kinds[call] += 0
	}
	var a apiCalls
	for _, call := range slices.Sorted(maps.Keys(kinds)) {
		n, least := made[call], leastCalls[call]
		_, method, _ := strings.Cut(call, " grpc ")
		each := price[pricedBy[method]]
		a.Calls, a.Least = a.Calls+n, a.Least+least
		a.Millis, a.LeastMillis = a.Millis+n*each, a.LeastMillis+least*each
		if n > least+aboveLeast {
			a.Above = append(a.Above, fmt.Sprintf("%s: %.2f, the least %g", call, n, least))
		}
	}
	return a
}

func (a apiCalls) markdown() string {
	if a.Least == 0 {
		return ""
	}
	return fmt.Sprintf("\nThe apps' Dapr API calls per order: %.2f, the least the guarantees need %g (docs/patterns.md); "+
		"priced at the sidecar's p50 for each (a bulk get as a get, a transaction as a save): %.2f ms against %.2f ms, %.2f× the least.\n",
		a.Calls, a.Least, a.Millis, a.LeastMillis, a.Millis/a.LeastMillis)
}

// An order's calls are set beside the least by kind: a call made more
// often, or one not needed at all, is named; a failed call, and a call
// between sidecars, are not the apps' API calls.
func TestAPICallsAgainstTheLeast(t *testing.T) {
	overheads := []overhead{{Name: opStateGet}, {Name: opStateSave}, {Name: opInvoke}}
	overheads[0].Dapr.P50, overheads[1].Dapr.P50, overheads[2].Dapr.P50 = 0.5, 1, 2
	var counts []callCount
	for call, n := range leastCalls {
		counts = append(counts, callCount{call, n})
	}
	counts = append(counts, callCount{"daprd-order grpc ServiceInvocation/CallLocal", 1}, callCount{"daprd-order grpc Dapr/GetState (failed)", 0.1})
	a := apiCallsOf(counts, overheads)
	if a.Calls != 10 || a.Least != 10 || len(a.Above) != 0 || a.Millis != a.LeastMillis || a.Millis != 9.5 {
		t.Errorf("the least itself: got %+v, want 10 calls, the least, 9.5 ms (3 gets, 6 saves and transactions, 1 invocation)", a)
	}
	set := func(call string, n float64) {
		counts[slices.IndexFunc(counts, func(c callCount) bool { return c.Call == call })].PerOrder = n
	}
	set("daprd-notification grpc Dapr/SaveState", 3)
	set("daprd-inventory grpc Dapr/GetState", 1.2)
	counts = append(counts, callCount{"daprd-order grpc Dapr/GetState", 1})
	a = apiCallsOf(counts, overheads)
	want := []string{"daprd-notification grpc Dapr/SaveState: 3.00, the least 2", "daprd-order grpc Dapr/GetState: 1.00, the least 0"}
	if !slices.Equal(a.Above, want) || math.Abs(a.Calls-12.2) > 1e-9 {
		t.Errorf("two calls more and lost races: got %v over %.2f calls, want %v over 12.20", a.Above, a.Calls, want)
	}
}
