// Package daprclient connects a service to its Dapr sidecar.
package daprclient

import (
	"context"
	"fmt"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
)

// New returns a Go SDK client for the sidecar's gRPC API at addr. Unlike the
// SDK's own constructors it does not block until the sidecar answers: the app
// and its sidecar start together, and the app reports the sidecar's state on
// /readyz instead of failing at start. Give every call a deadline: calls wait
// for the sidecar to be reachable. A non-empty apiToken is sent with
// every call as the dapr-api-token header.
func New(addr, apiToken string) (dapr.Client, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A call made while the sidecar is (re)starting waits for it, up to
		// the call's deadline, instead of failing at once.
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		// Reconnect quickly after a sidecar restart; gRPC's default backoff
		// grows to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
		// A client span for every call, whose context travels as W3C
		// traceparent metadata, which daprd reads on its gRPC API: the
		// sidecar's span for the call (an invocation, a state operation,
		// a publish) joins the app's trace as the client span's child,
		// and the trace shows how long the app waited on its sidecar.
		// The apps' metrics are Prometheus's, so otelgrpc records none:
		// its per-message histograms cost CPU on every call even when
		// nothing exports them.
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithMeterProvider(noop.NewMeterProvider()))),
	}
	if apiToken != "" {
		opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", apiToken)
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dapr client for %s: %w", addr, err)
	}
	return dapr.NewClientWithConnection(conn), nil
}
