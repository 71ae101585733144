package suite

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"

	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/tests/harness/otlp"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/report"
)

// TracedApps are the apps every order's trace must reach: the order is
// placed (order), its stock reserved by invocation (inventory) and its event
// delivered through pub/sub (notification).
var TracedApps = []string{"order", "inventory", "notification"}

// TraceCompleteTimeout bounds how long an order's spans may take to reach
// the backend: daprd exports in batches every 5 s, the apps every second.
const TraceCompleteTimeout = 30 * time.Second

// TraceContext is a trace a client starts: a fresh trace id, the client's
// own span id, and whether the trace is sampled. The apps and the sidecars
// follow the client's choice (their samplers are parent-based), so a
// client that samples one order in a hundred has one traced in a hundred.
type TraceContext struct {
	TraceID, SpanID string // hex
	Sampled         bool
}

// NewTraceContext starts a fresh trace.
func NewTraceContext(sampled bool) TraceContext {
	return TraceContext{TraceID: randomHex(16), SpanID: randomHex(8), Sampled: sampled}
}

// Traceparent is the W3C traceparent header that carries tc.
func (tc TraceContext) Traceparent() string {
	flags := "00"
	if tc.Sampled {
		flags = "01"
	}
	return "00-" + tc.TraceID + "-" + tc.SpanID + "-" + flags
}

// TracedOrder is an order placed under a client span of its own (SpanID,
// which is not in the backend).
type TracedOrder struct {
	OrderID string
	TraceContext
}

// PlaceTracedOrder places an order in a fresh sampled trace.
func (s *Shop) PlaceTracedOrder(t *testing.T, customer string) TracedOrder {
	t.Helper()
	o := TracedOrder{TraceContext: NewTraceContext(true)}
	status, id, err := s.TryPlaceOrderIn(o.TraceContext, "", customer, "SKU-1", 1)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST /orders: got %d (%v), want 201", status, err)
	}
	o.OrderID = id
	return o
}

// CheckTracesComplete checks, as one invariant each, that every one of
// orders has a complete trace on the backend (AwaitCompleteTrace). An
// invariant is named by the order's place, the same in every run (a
// comparison of two runs matches invariants by name); the order's id is in
// what it observed.
func CheckTracesComplete(sc *report.ScenarioRecorder, backend *otlp.Receiver, orders []TracedOrder) {
	for i, o := range orders {
		problems := AwaitCompleteTrace(backend, o, TraceCompleteTimeout)
		sc.Check(fmt.Sprintf("trace of order %d of %d complete", i+1, len(orders)), len(problems) == 0,
			"spans of every app and sidecar, no orphan", "order "+o.OrderID+": "+cmp.Or(strings.Join(problems, "; "), "complete"))
	}
}

// AwaitCompleteTrace polls the backend until o's trace is complete, or
// timeout passes, and returns what is still wrong with it.
func AwaitCompleteTrace(backend *otlp.Receiver, o TracedOrder, timeout time.Duration) []string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	problems, _ := proc.Await(ctx, func(context.Context) ([]string, bool) {
		problems := traceProblems(backend.Trace(o.TraceID), o.SpanID)
		return problems, len(problems) == 0
	})
	return problems
}

// traceProblems says what keeps spans from being one complete order trace:
// an app or a sidecar of TracedApps with no span in it, or a span whose
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
	for _, app := range TracedApps {
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

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand panics rather than return short
	return hex.EncodeToString(b)
}

// LogTraces lists every trace the backend holds, span by span, for a
// reader to see where a trace broke.
func LogTraces(t *testing.T, backend *otlp.Receiver) {
	for _, id := range backend.Traces() {
		var b strings.Builder
		for _, s := range backend.Trace(id) {
			fmt.Fprintf(&b, "\n  %s %s [%s] %q span %s parent %s", s.Service, s.Scope, s.Kind, s.Name, s.SpanID, s.ParentID)
		}
		t.Logf("trace %s:%s", id, b.String())
	}
}
