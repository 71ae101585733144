package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/daprshop/daprshop/internal/telemetry"
)

// newEngine returns an instrumented engine with one route, /orders/:id,
// whose handler logs with the request's context into logs.
func newEngine(t *testing.T, logs *bytes.Buffer) (*gin.Engine, *telemetry.Metrics, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, nil)))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
	m := telemetry.NewMetrics()
	m.Instrument(r)
	r.GET("/orders/:id", func(c *gin.Context) {
		logger.InfoContext(c.Request.Context(), "reading order")
		c.Status(http.StatusNotFound)
	})
	return r, m, exp
}

func serve(r http.Handler, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func TestRequestsAreCountedByRouteTemplate(t *testing.T) {
	r, _, _ := newEngine(t, &bytes.Buffer{})
	serve(r, "/orders/a", nil)
	serve(r, "/orders/b", nil)
	serve(r, "/healthz", nil)

	body := serve(r, "/metrics", nil).Body.String()
	want := `daprshop_http_requests_total{code="404",method="GET",route="/orders/:id"} 2`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s; got:\n%s", want, body)
	}
	if strings.Contains(body, `route="/healthz"`) {
		t.Errorf("/metrics counts the probe /healthz, registered before Instrument")
	}
	if !strings.Contains(body, `daprshop_http_request_duration_seconds_count{method="GET",route="/orders/:id"} 2`) {
		t.Errorf("/metrics lacks the duration histogram of /orders/:id")
	}
}

func TestTraceparentIsContinuedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	r, _, exp := newEngine(t, &logs)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parentID = "00f067aa0ba902b7"
	serve(r, "/orders/a", http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}})

	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	if got := s.SpanContext.TraceID().String(); got != traceID {
		t.Errorf("span trace id = %s, want the traceparent's %s", got, traceID)
	}
	if got := s.Parent.SpanID().String(); got != parentID {
		t.Errorf("span parent = %s, want %s", got, parentID)
	}
	if s.Name != "GET /orders/:id" {
		t.Errorf("span name = %q, want %q", s.Name, "GET /orders/:id")
	}
	if s.InstrumentationScope.Name != telemetry.ScopeName {
		t.Errorf("span scope = %q, want %q", s.InstrumentationScope.Name, telemetry.ScopeName)
	}

	var rec map[string]any
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
		t.Fatalf("log record %q: %v", logs.String(), err)
	}
	if rec["trace_id"] != traceID || rec["span_id"] != s.SpanContext.SpanID().String() {
		t.Errorf("log record = %v, want trace_id %s and the span's id", rec, traceID)
	}
}

func TestProbesMakeNoSpans(t *testing.T) {
	r, _, exp := newEngine(t, &bytes.Buffer{})
	serve(r, "/metrics", nil)
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("a /metrics scrape made %d spans, want 0", n)
	}
}

// TestMadeUpMethodsAddNoSeries sends requests with a hundred made-up
// methods to paths that match nothing: they must all land in one series,
// or any client could grow the app's memory a series at a time.
func TestMadeUpMethodsAddNoSeries(t *testing.T) {
	r, _, _ := newEngine(t, &bytes.Buffer{})
	for i := range 100 {
		req := httptest.NewRequest(fmt.Sprintf("FOO%d", i), fmt.Sprintf("/nowhere/%d", i), nil)
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	body := serve(r, "/metrics", nil).Body.String()
	var series []string
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "daprshop_http_requests_total{") {
			series = append(series, strings.TrimSpace(line))
		}
	}
	want := `daprshop_http_requests_total{code="404",method="OTHER",route="unmatched"} 100`
	if len(series) != 1 || series[0] != want {
		t.Errorf("100 requests with made-up methods and paths: got series %q, want only %s", series, want)
	}
}
