// Package telemetry is how every daprshop service exposes what it does:
// Prometheus metrics (RED per route plus the service's own counters, on one
// registry served at /metrics), OpenTelemetry traces propagated with W3C
// traceparent, and slog records that carry the trace they belong to.
package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is a service's Prometheus registry with the HTTP RED metrics
// every service has. Services register their business counters on
// Registry.
type Metrics struct {
	Registry *prometheus.Registry
	// IssuerFetches counts the fetches of the token issuer's discovery
	// document and keys (web.Authentication): bounded whatever clients
	// send, so a rise is the issuer rotating keys or being unreachable.
	IssuerFetches prometheus.Counter
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
}

// NewMetrics returns a registry holding the Go runtime and process
// collectors and the HTTP metrics of the service's routes.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		IssuerFetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "daprshop_auth_issuer_fetches_total",
			Help: "Fetches of the token issuer's discovery document and signing keys.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daprshop_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "daprshop_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route and method.",
			// From a cached answer (sub-millisecond) to a request that
			// waited out the sidecar's retries (seconds).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
	}
	m.Registry.MustRegister(m.IssuerFetches, m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Instrument makes r trace, count and time every request to the routes
// registered after it, and serves the registry at GET /metrics. Register
// the probes before it: the platform's polling is no one's traffic.
func (m *Metrics) Instrument(r *gin.Engine) {
	// The span first, so that it covers the rest.
	r.Use(TraceMiddleware(), m.Middleware())
	r.GET("/metrics", gin.WrapH(m.Handler()))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Counter registers a counter on the registry and returns it.
func (m *Metrics) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.Registry.MustRegister(c)
	return c
}

// CounterVec registers a counter with labels on the registry and returns it.
func (m *Metrics) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(c)
	return c
}

// Middleware counts and times every request by its route template (never
// the raw path, which would make one series per order id) and its method.
// Requests that match no route are counted under route "unmatched", and a
// method outside HTTP's standard ones as "OTHER": labels come from a fixed
// set, so no client can add series to the app's memory by sending new
// paths or made-up methods.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := standardMethod(c.Request.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// standardMethod is method when it is one of HTTP's standard methods, and
// "OTHER" for anything else a client sends.
func standardMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "OTHER"
}
