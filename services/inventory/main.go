// Command inventory serves the stock of every SKU: the reserve and release
// methods the order service invokes through Dapr, and an operator API.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/httpserver"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/services/inventory/internal/dapr"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))).With("app", "inventory")
	stopTracing, err := telemetry.StartTracing(ctx, logger, "inventory", getenv)
	if err != nil {
		return err
	}
	defer stopTracing()

	client, err := daprclient.New(cfg.DaprGRPCAddr, cfg.DaprAPIToken)
	if err != nil {
		return err
	}
	defer client.Close()

	m, etagRetries := newMetrics()
	svc := inventory.NewService(dapr.NewItemStore(daprstate.Store{Client: client, Name: cfg.StateStore, ETagRetries: etagRetries}))
	var seed seeder
	go seed.run(ctx, logger, svc, cfg.Seed)

	return httpserver.Run(ctx, logger, cfg.Server(), newServer(logger, cfg, svc, seed.Ready, m))
}
