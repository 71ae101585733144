// Command inventory serves the stock of every SKU: the reserve and release
// methods the order service invokes through Dapr, and an operator API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/daprshop/daprshop/internal/app"
	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/httpserver"
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
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return app.Run(ctx, "inventory", cfg.Base, getenv, stdout, func(ctx context.Context, rt app.Runtime) error {
		m, etagRetries := newMetrics()
		svc := inventory.NewService(dapr.NewItemStore(daprstate.Store{Client: rt.Dapr, Name: cfg.StateStore, ETagRetries: etagRetries}), cfg.Fulfilment())
		var seed seeder
		go seed.run(ctx, rt.Logger, svc, cfg.Seed)
		return httpserver.Run(ctx, rt.Logger, cfg.Server(), newServer(rt.Logger, cfg, svc, seed.Ready, m))
	})
}
