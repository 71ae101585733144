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

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
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
	}
	interceptors := []grpc.UnaryClientInterceptor{propagateTrace}
	if apiToken != "" {
		interceptors = append(interceptors, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", apiToken)
			return invoker(ctx, method, req, reply, cc, callOpts...)
		})
	}
	opts = append(opts, grpc.WithChainUnaryInterceptor(interceptors...))
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dapr client for %s: %w", addr, err)
	}
	return dapr.NewClientWithConnection(conn), nil
}

// propagateTrace sends the span in ctx as W3C traceparent metadata, which
// daprd reads on its gRPC API: the sidecar's span for the call (an
// invocation, a state operation, a publish) joins the app's trace.
func propagateTrace(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	otel.GetTextMapPropagator().Inject(ctx, metadataCarrier(md))
	return invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, callOpts...)
}

// metadataCarrier lets the propagator write gRPC metadata.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var _ propagation.TextMapCarrier = metadataCarrier{}
