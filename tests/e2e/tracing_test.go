package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/otlp"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// traceAbsentWait is how long a test waits before it concludes that spans
// are not coming: three of daprd's export intervals.
const traceAbsentWait = 15 * time.Second

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
	traces := make([]suite.TracedOrder, orders)
	for i := range traces {
		traces[i] = sys.PlaceTracedOrder(t, "c-traced")
	}
	for range orders {
		suite.Receive(t, msgs) // the pub/sub leg has run; its spans follow
	}
	suite.CheckTracesComplete(sc, backend, traces)
	t.Logf("backend received %d spans", backend.SpanCount())
	if t.Failed() {
		suite.LogTraces(t, backend)
	}
}

// TestTraceCheckFailsWithoutSidecarTracing shows the completeness check can
// fail: with tracing switched off in the sidecars' Configuration, the apps
// still send their spans, but an order's trace misses every sidecar.
func TestTraceCheckFailsWithoutSidecarTracing(t *testing.T) {
	backend := otlp.Start(t)
	sys := suite.Start(t, nil, system.Options{TraceEndpoint: backend.Addr, SidecarTracingOff: true})

	msgs := sys.Subscribe(t, "c-untraced")
	o := sys.PlaceTracedOrder(t, "c-untraced")
	suite.Receive(t, msgs)
	problems := suite.AwaitCompleteTrace(backend, o, traceAbsentWait)
	for _, app := range suite.TracedApps {
		want := "no span of daprd " + app
		if !slices.Contains(problems, want) {
			t.Errorf("trace check found %q, want it to report %q", problems, want)
		}
	}
	for _, app := range suite.TracedApps {
		if slices.Contains(problems, "no span of app "+app) {
			t.Errorf("trace check found %q: the apps still trace, want only the sidecars missing", problems)
		}
	}
}
