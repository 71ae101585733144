// Command order is daprshop's public edge: it takes orders, reserves their
// stock in the inventory service through Dapr, and stores each order with
// the event that announces it.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/daprclient"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/httpserver"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/services/order/internal/dapr"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "order:", err)
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
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))).With("app", "order")
	stopTracing, err := telemetry.StartTracing(ctx, logger, "order", getenv)
	if err != nil {
		return err
	}
	defer stopTracing()

	client, err := daprclient.New(cfg.DaprGRPCAddr, cfg.DaprAPIToken)
	if err != nil {
		return err
	}
	defer client.Close()

	m, om := newMetrics()
	store := daprstate.Store{Client: client, Name: cfg.StateStore, ETagRetries: om.etagRetries}
	svc := order.NewService(
		dapr.NewInventory(client, cfg.InventoryAppID),
		dapr.NewOrderStore(store, om.orders),
		dapr.NewIdempotencyKeys(store),
		uuid.NewString,
		time.Now,
	)
	return httpserver.Run(ctx, logger, cfg.Server(), newServer(logger, cfg, svc, m))
}
