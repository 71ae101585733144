package main

import (
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/health"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// newServer returns the order service's public HTTP API.
func newServer(logger *slog.Logger, cfg Config, svc *order.Service, m *telemetry.Metrics) http.Handler {
	r := web.NewEngine(logger)
	h := handlers{svc: svc}

	health.Register(r, health.Sidecar(&http.Client{}, cfg.DaprHTTPAddr))
	m.Instrument(r)

	// Every route of the API is a customer's, who presents a token.
	api := r.Group("/", web.Authentication(cfg.AuthIssuer, cfg.AuthAudience, m.IssuerFetches))
	api.POST("/orders", h.placeOrder)
	api.GET("/orders/:id", h.getOrder)
	api.POST("/orders/:id/cancel", h.cancelOrder)
	return r
}
