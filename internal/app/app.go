// Package app is how every daprshop service starts and stops: SIGINT and
// SIGTERM become a cancelled context, logs are JSON on stdout, traces go
// where OTEL_EXPORTER_OTLP_ENDPOINT says, one gRPC connection reaches the
// sidecar, and all of it is released in reverse order once the service has
// drained.
package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	sdk "github.com/dapr/go-sdk/client"

	"github.com/daprshop/daprshop/internal/config"
	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/internal/telemetry"
)

// Runtime is what Run hands a service to build itself with.
type Runtime struct {
	// Logger logs JSON, with the service's name and the trace of the
	// request being served.
	Logger *slog.Logger
	// Dapr is the client of the service's sidecar.
	Dapr sdk.Client
}

// Run runs the service name, configured by base: it prepares the Runtime,
// calls serve with a context cancelled on SIGINT or SIGTERM, and once serve
// returns (after draining its requests) closes the sidecar connection and
// flushes the traces. serve's error is Run's.
func Run(ctx context.Context, name string, base config.Base, getenv func(string) string, stdout io.Writer,
	serve func(ctx context.Context, rt Runtime) error) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: base.LogLevel}))).With("app", name)
	if missing := base.MissingTokens(); len(missing) > 0 {
		logger.Warn("INSECURE: running without "+strings.Join(missing, " and ")+", for development only: never in production",
			"setting", config.EnvInsecureNoTokens)
	}
	stopTracing, err := telemetry.StartTracing(ctx, logger, name, getenv)
	if err != nil {
		return err
	}
	defer stopTracing()

	client, err := daprclient.New(base.DaprGRPCAddr, base.DaprAPIToken)
	if err != nil {
		return err
	}
	defer client.Close()

	return serve(ctx, Runtime{Logger: logger, Dapr: client})
}
