// Package otlp is a trace backend small enough to run anywhere: a real
// OTLP/gRPC receiver, implemented on the official collector service
// definition (go.opentelemetry.io/proto/otlp), that keeps every span it is
// sent in memory, to be read back by trace. It is what daprd's
// Configuration (tracing.otel, protocol grpc) and the apps' OTLP exporters
// send to, in the e2e suite (tests/harness/otlp) and under make run's
// trace viewer (tools/traceview).
//
// Why not Jaeger or an OpenTelemetry Collector build: both build here from Go
// modules, but take minutes (Jaeger) or a separate module and binary
// (Collector), and then need a query API or a file exporter to read spans
// back. "Store spans, list them by trace" is what is needed, which the
// protocol's own service definition gives in a page of code.
package otlp

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is the part of a received span that is kept.
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
	srv     *grpc.Server
	done    chan struct{}
	mu      sync.Mutex
	byTrace map[string][]Span
}

// Serve serves a receiver on ln until Close.
func Serve(ln net.Listener) *Receiver {
	r := &Receiver{Addr: ln.Addr().String(), Endpoint: "http://" + ln.Addr().String(), byTrace: map[string][]Span{},
		srv: grpc.NewServer(), done: make(chan struct{})}
	collectortrace.RegisterTraceServiceServer(r.srv, r)
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln) // returns when Close stops the server
	}()
	return r
}

// Close stops serving, and returns once the server has.
func (r *Receiver) Close() {
	r.srv.Stop()
	<-r.done
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
