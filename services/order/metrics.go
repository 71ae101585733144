package main

import (
	"github.com/daprshop/daprshop/internal/telemetry"
	"github.com/daprshop/daprshop/services/order/internal/dapr"
	"github.com/daprshop/daprshop/services/order/internal/order"
)

// newMetrics returns the order service's registry and the counters its
// store keeps: orders by the status they reached, and ETag retries.
func newMetrics() (*telemetry.Metrics, dapr.Counters) {
	m := telemetry.NewMetrics()
	orders := m.CounterVec("daprshop_order_orders_total",
		"Orders stored with their event, by the status they reached: confirmed, rejected, cancelled.", "status")
	counters := dapr.Counters{
		Orders: map[order.Status]dapr.Counter{},
		ETagRetries: m.Counter("daprshop_order_etag_retries_total",
			"Order updates that lost an ETag race and were retried on fresh data."),
	}
	for _, s := range []order.Status{order.StatusConfirmed, order.StatusRejected, order.StatusCancelled} {
		// Made up front, so that every status is listed from the start,
		// at 0.
		counters.Orders[s] = orders.WithLabelValues(string(s))
	}
	return m, counters
}
