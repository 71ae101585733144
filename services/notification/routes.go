package main

import (
	"log/slog"
	"net/http"

	"github.com/daprshop/daprshop/internal/health"
	"github.com/daprshop/daprshop/internal/web"
	"github.com/daprshop/daprshop/services/notification/internal/notification"
)

// newServer returns the notification service's HTTP API: the history and
// dead-letter queries, and the routes Dapr delivers events to (declared by
// the Subscriptions in components/). passes issues customers their NATS
// credentials (nil where NATS takes none); natsReady tells /readyz whether
// notifications can go out.
func newServer(logger *slog.Logger, cfg Config, svc *notification.Service, passes passIssuer, natsReady health.Check, m *metrics) http.Handler {
	r := web.NewEngine(logger)
	h := handlers{svc: svc, passes: passes, logger: logger, metrics: m}

	health.Register(r, health.Sidecar(&http.Client{}, cfg.DaprHTTPAddr), natsReady)
	m.Instrument(r)

	// A customer reads their own notifications; an operator handles the
	// dead letters.
	api := r.Group("/", web.Authentication(cfg.AuthIssuer, cfg.AuthAudience, m.IssuerFetches))
	api.GET("/notifications", h.listNotifications)
	api.POST("/notifications/credentials", h.issueCredentials)
	operator := api.Group("/deadletters", web.RequireOperator())
	operator.GET("", h.listDeadLetters)
	operator.POST("/:id/redrive", h.redrive)
	viaDapr := r.Group("/events", web.RequireAppToken(cfg.AppAPIToken))
	viaDapr.POST("/orders", h.orderEvent)
	viaDapr.POST("/deadletters", h.deadLetter)
	return r
}
