// Command order is daprshop's public edge: it takes orders, reserves their
// stock in the inventory service through Dapr, and stores each order with
// the event that announces it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/daprshop/daprshop/internal/app"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/httpserver"
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
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return app.Run(ctx, "order", cfg.Base, getenv, stdout, func(ctx context.Context, rt app.Runtime) error {
		m, om := newMetrics()
		store := daprstate.Store{Client: rt.Dapr, Name: cfg.StateStore, ETagRetries: om.etagRetries}
		svc := order.NewService(
			dapr.NewInventory(rt.Dapr, cfg.InventoryAppID),
			dapr.NewOrderStore(store, om.orders, cfg.RejectedOrderRetention, cfg.CreateETag),
			dapr.NewIdempotencyKeys(store),
			uuid.NewString,
			time.Now,
			cfg.CancellationWindow,
		)
		return httpserver.Run(ctx, rt.Logger, cfg.Server(), newServer(rt.Logger, cfg, svc, m))
	})
}
