package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daprshop/daprshop/internal/daprstate"
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// orderMetrics are the counters the order service's store keeps.
type orderMetrics struct {
	// orders counts orders by the status they reached.
	orders map[order.Status]daprstate.Counter
	// etagRetries counts order updates that lost an ETag race.
	etagRetries prometheus.Counter
}

// newMetrics returns the order service's registry and the counters its
// store keeps.
func newMetrics() (*telemetry.Metrics, orderMetrics) {
	m := telemetry.NewMetrics()
	orders := m.CounterVec("daprshop_order_orders_total",
		"Orders stored with their event, by the status they reached: confirmed, rejected, cancelled.", "status")
	om := orderMetrics{
		orders: map[order.Status]daprstate.Counter{},
		etagRetries: m.Counter("daprshop_order_etag_retries_total",
			"Order updates that lost an ETag race and were retried on fresh data."),
	}
	for _, s := range []order.Status{order.StatusConfirmed, order.StatusRejected, order.StatusCancelled} {
		// Made up front, so that every status is listed from the start,
		// at 0.
		om.orders[s] = orders.WithLabelValues(string(s))
	}
	return m, om
}
