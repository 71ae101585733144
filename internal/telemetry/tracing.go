package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/daprshop/daprshop/internal/web"
)

// ScopeName is the instrumentation scope of every span the apps make
// themselves; the sidecars' spans carry another, which is how a reader (or
// the e2e suite) tells an app's span from its sidecar's: both name the
// service by its Dapr app id.
const ScopeName = "github.com/daprshop/daprshop/internal/telemetry"

// EnvOTLPEndpoint names the OTLP/gRPC endpoint spans are exported to, e.g.
// http://127.0.0.1:4317 (the standard OpenTelemetry variable). Unset, the
// service exports nothing but still propagates traceparent, so its
// sidecar's spans stay joined to the caller's trace.
const EnvOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"

// StartTracing installs the global W3C trace-context propagator and, when
// getenv names an OTLP endpoint, a tracer provider exporting the spans of
// service there. The returned function exports what is left, waiting at
// most flushTimeout, and stops the exporter.
func StartTracing(ctx context.Context, logger *slog.Logger, service string, getenv func(string) string) (stop func(), err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	endpoint := getenv(EnvOTLPEndpoint)
	if endpoint == "" {
		return func() {}, nil
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		// Follow the caller's sampling decision (a sidecar's, or the
		// client's traceparent); sample everything that starts here.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		// A short batch delay, so that a trace is complete in the backend
		// about as soon as the sidecars' spans are.
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(tp)
	logger.Info("exporting traces", slog.String("endpoint", endpoint))
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx)); err != nil {
			logger.Warn("flushing traces", slog.Any("error", err))
		}
	}, nil
}

// flushTimeout bounds the export of the last spans at shutdown: a trace
// backend that is gone must not hold the process up.
const flushTimeout = 3 * time.Second

// TraceMiddleware continues the trace of the request's traceparent header
// (what daprd sends with an invocation or a pub/sub delivery) with a server
// span named after the route, and puts it in the request's context, where
// outgoing Dapr calls and log records find it.
func TraceMiddleware() gin.HandlerFunc {
	tracer := otel.Tracer(ScopeName)
	return func(c *gin.Context) {
		if web.IsProbe(c.Request.URL.Path) {
			// The platform's probes and scrapes are no part of any
			// trace; a span each would bury the orders.
			c.Next()
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		ctx, span := tracer.Start(ctx, c.Request.Method+" "+route,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				semconv.HTTPRequestMethodKey.String(c.Request.Method),
				semconv.HTTPRoute(route),
			))
		defer span.End()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		status := c.Writer.Status()
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, c.Errors.String())
		}
		if len(c.Errors) > 0 {
			span.SetAttributes(attribute.String("error.message", c.Errors.String()))
		}
	}
}
