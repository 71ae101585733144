package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daprshop/daprshop/internal/telemetry"
)

// newMetrics returns the inventory service's registry and the counter of
// stock writes that lost an ETag race: the cost of contention on one SKU.
func newMetrics() (*telemetry.Metrics, prometheus.Counter) {
	m := telemetry.NewMetrics()
	return m, m.Counter("daprshop_inventory_etag_retries_total",
		"Stock writes that lost an ETag race and were retried on fresh data.")
}
