package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"

	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/tests/harness/otlp"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// tracedApps are the apps every order's trace must reach: the order is
// placed (order), its stock reserved by invocation (inventory) and its event
// delivered through pub/sub (notification).
var tracedApps = []string{"order", "inventory", "notification"}

// Waits for spans to reach the backend: daprd exports in batches every 5 s,
// the apps every second.
const (
	traceCompleteTimeout = 30 * time.Second
	// traceAbsentWait is how long a test waits before it concludes that
	// spans are not coming: three of daprd's export intervals.
	traceAbsentWait = 15 * time.Second
)

// TestEveryOrderTraceIsComplete places orders with a sampled W3C
// traceparent, as a traced client would, and checks in the trace backend
// that each order's trace holds spans of every app and of every app's
// sidecar, and that no span's parent is missing: the trace context crossed
// service invocation, the outbox, pub/sub and the apps' own Dapr calls.
func TestEveryOrderTraceIsComplete(t *testing.T) {
	sc := run.Scenario(t, "traces complete")
	backend := otlp.Start(t)
	sys := suite.Start(t, sc, system.Options{TraceEndpoint: backend.Addr})

	const orders = 5
	msgs := sys.Subscribe(t, "c-traced")
	traces := make([]tracedOrder, orders)
	for i := range traces {
		traces[i] = placeTracedOrder(t, sys, "c-traced")
	}
	for range orders {
		suite.Receive(t, msgs) // the pub/sub leg has run; its spans follow
	}
	for _, o := range traces {
		problems := awaitCompleteTrace(backend, o, traceCompleteTimeout)
		sc.Check("trace of order "+o.orderID+" complete", len(problems) == 0,
			"spans of every app and sidecar, no orphan", strings.Join(problems, "; "))
	}
	t.Logf("backend received %d spans", backend.SpanCount())
	if t.Failed() {
		logTraces(t, backend)
	}
}

// logTraces lists every trace the backend holds, span by span, for a
// reader to see where a trace broke.
func logTraces(t *testing.T, backend *otlp.Receiver) {
	for _, id := range backend.Traces() {
		var b strings.Builder
		for _, s := range backend.Trace(id) {
			fmt.Fprintf(&b, "\n  %s %s [%s] %q span %s parent %s", s.Service, s.Scope, s.Kind, s.Name, s.SpanID, s.ParentID)
		}
		t.Logf("trace %s:%s", id, b.String())
	}
}

// TestTraceCheckFailsWithoutSidecarTracing shows the completeness check can
// fail: with tracing switched off in the sidecars' Configuration, the apps
// still send their spans, but an order's trace misses every sidecar.
func TestTraceCheckFailsWithoutSidecarTracing(t *testing.T) {
	backend := otlp.Start(t)
	sys := suite.Start(t, nil, system.Options{TraceEndpoint: backend.Addr, SidecarTracingOff: true})

	msgs := sys.Subscribe(t, "c-untraced")
	o := placeTracedOrder(t, sys, "c-untraced")
	suite.Receive(t, msgs)
	problems := awaitCompleteTrace(backend, o, traceAbsentWait)
	for _, app := range tracedApps {
		want := "no span of daprd " + app
		if !slices.Contains(problems, want) {
			t.Errorf("trace check found %q, want it to report %q", problems, want)
		}
	}
	for _, app := range tracedApps {
		if slices.Contains(problems, "no span of app "+app) {
			t.Errorf("trace check found %q: the apps still trace, want only the sidecars missing", problems)
		}
	}
}

// tracedOrder is an order placed under a client span of its own.
type tracedOrder struct {
	orderID  string
	traceID  string
	parentID string // the client's span, which is not in the backend
}

// placeTracedOrder places an order whose request carries a fresh sampled
// traceparent.
func placeTracedOrder(t *testing.T, sys *suite.Shop, customer string) tracedOrder {
	t.Helper()
	o := tracedOrder{traceID: randomHex(t, 16), parentID: randomHex(t, 8)}
	req, err := http.NewRequest(http.MethodPost, sys.App(t, "order").URL+"/orders",
		strings.NewReader(fmt.Sprintf(`{"customerId":%q,"items":[{"sku":"SKU-1","quantity":1}]}`, customer)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+o.traceID+"-"+o.parentID+"-01")
	resp, err := sys.Do(req)
	if err != nil {
		t.Fatalf("POST /orders: %v", err)
	}
	defer resp.Body.Close()
	var body suite.Order
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: got %d (%v), want 201", resp.StatusCode, err)
	}
	o.orderID = body.ID
	return o
}

// awaitCompleteTrace polls the backend until o's trace is complete, or
// timeout passes, and returns what is still wrong with it.
func awaitCompleteTrace(backend *otlp.Receiver, o tracedOrder, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		problems := traceProblems(backend.Trace(o.traceID), o.parentID)
		if len(problems) == 0 || time.Now().After(deadline) {
			return problems
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// traceProblems says what keeps spans from being one complete order trace:
// an app or a sidecar of tracedApps with no span in it, or a span whose
// parent is neither in the trace nor the client's span (an orphan: a hop
// that lost the context, or a span never exported). The apps' spans carry
// the telemetry package's instrumentation scope, or otelgrpc's for their
// calls to the sidecar; a sidecar's, daprd's own. Both name the service by
// its app id.
func traceProblems(spans []otlp.Span, clientSpanID string) []string {
	ids := map[string]bool{clientSpanID: true}
	seen := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
		kind := "daprd"
		if s.Scope == telemetry.ScopeName || s.Scope == otelgrpc.ScopeName {
			kind = "app"
		}
		seen[kind+" "+s.Service] = true
	}
	var problems []string
	if len(spans) == 0 {
		return []string{"no spans at all"}
	}
	for _, app := range tracedApps {
		for _, kind := range []string{"app", "daprd"} {
			if !seen[kind+" "+app] {
				problems = append(problems, "no span of "+kind+" "+app)
			}
		}
	}
	for _, s := range spans {
		if !ids[s.ParentID] {
			problems = append(problems, fmt.Sprintf("orphan span %q of %s (scope %q): parent %q not in the trace", s.Name, s.Service, s.Scope, s.ParentID))
		}
	}
	return problems
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
