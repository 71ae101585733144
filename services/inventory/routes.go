package main

import (
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/health"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/inventory/internal/inventory"
)

// newServer returns the inventory service's HTTP API.
func newServer(logger *slog.Logger, cfg Config, svc *inventory.Service, seeded health.Check, m *telemetry.Metrics) http.Handler {
	r := web.NewEngine(logger)
	h := handlers{svc: svc}

	health.Register(r, health.Sidecar(&http.Client{}, cfg.DaprHTTPAddr), seeded)
	m.Instrument(r)

	// Anyone with a token may read the stock; an operator restocks.
	api := r.Group("/", web.Authentication(cfg.AuthIssuer, cfg.AuthAudience, m.IssuerFetches))
	api.GET("/items", h.listItems)
	api.GET("/items/:sku", h.getItem)
	api.POST("/items/:sku/restock", web.RequireOperator(), h.restock)

	// Methods the order service invokes through Dapr, keyed by order id.
	viaDapr := r.Group("/reservations", web.RequireAppToken(cfg.AppAPIToken))
	viaDapr.POST("/:orderId", h.reserve)
	viaDapr.POST("/:orderId/release", h.release)
	return r
}
