// Package otlp is the trace backend of the e2e suite: a real OTLP/gRPC
// receiver, implemented on the official collector service definition
// (go.opentelemetry.io/proto/otlp), that keeps every span it is sent in
// memory for the test to query. It is what daprd's Configuration
// (tracing.otel, protocol grpc) and the apps' OTLP exporters send to.
//
// Why not Jaeger or an OpenTelemetry Collector build: both build here from Go
// modules, but take minutes (Jaeger) or a separate module and binary
// (Collector), and then need a query API or a file exporter to read spans
// back. The suite needs only "store spans, list them by trace", which the
// protocol's own service definition gives in a page of code, run inside the
// test process, on a free port of the test's network namespace.
package otlp

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is the part of a received span the suite reads.
type Span struct {
	TraceID, SpanID, ParentID string // hex; ParentID "" for a root
	Name                      string
	Kind                      tracepb.Span_SpanKind
	// Service is the resource's service.name: the Dapr app id, for an app
	// and for its sidecar alike.
	Service string
	// Scope is the instrumentation scope that made the span, which tells
	// an app's spans from its sidecar's.
	Scope string
	// Start and End are when the span began and ended.
	Start, End time.Time
}

// Duration is how long the span lasted.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Receiver is a running OTLP/gRPC trace receiver.
type Receiver struct {
	// Addr is host:port, what daprd's endpointAddress takes; Endpoint is
	// the URL form, for OTEL_EXPORTER_OTLP_ENDPOINT.
	Addr, Endpoint string

	collectortrace.UnimplementedTraceServiceServer
	mu      sync.Mutex
	byTrace map[string][]Span
}

// Start serves a receiver on a free loopback port until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	return StartOn(t, "127.0.0.1")
}

// StartOn serves a receiver on a free port of the address host (one of the
// test's own network namespace: a cluster node's, say) until the test ends.
func StartOn(t testing.TB, host string) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("otlp receiver: %v", err)
	}
	r := &Receiver{Addr: ln.Addr().String(), Endpoint: "http://" + ln.Addr().String(), byTrace: map[string][]Span{}}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns when Stop closes the listener
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r
}

// Export implements the OTLP trace service: it keeps every span.
func (r *Receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := attr(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			scope := ss.GetScope().GetName()
			for _, s := range ss.GetSpans() {
				span := Span{
					TraceID:  hex.EncodeToString(s.GetTraceId()),
					SpanID:   hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()),
					Name:     s.GetName(),
					Kind:     s.GetKind(),
					Service:  service,
					Scope:    scope,
					Start:    time.Unix(0, int64(s.GetStartTimeUnixNano())),
					End:      time.Unix(0, int64(s.GetEndTimeUnixNano())),
				}
				r.byTrace[span.TraceID] = append(r.byTrace[span.TraceID], span)
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// Trace returns the spans received so far for traceID (hex).
func (r *Receiver) Trace(traceID string) []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.byTrace[traceID]...)
}

// Traces returns the ids of every trace received.
func (r *Receiver) Traces() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.byTrace))
	for id := range r.byTrace {
		ids = append(ids, id)
	}
	return ids
}

// SpanCount returns how many spans were received in all.
func (r *Receiver) SpanCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, spans := range r.byTrace {
		n += len(spans)
	}
	return n
}

func attr(attrs []*commonpb.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}
