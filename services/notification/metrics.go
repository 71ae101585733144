package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daprshop/daprshop/internal/telemetry"
)

// metrics are the notification service's business counters, served on
// /metrics beside the HTTP metrics every service has.
type metrics struct {
	*telemetry.Metrics
	// events counts order events by outcome: delivered (one notification
	// per event), duplicate (a redelivery deduplicated), outdated (the
	// customer was told of a later change of the order first), retry,
	// dropped.
	events *prometheus.CounterVec
	// deadLetters counts events received from the dead-letter topic.
	deadLetters prometheus.Counter
	// etagRetries counts index appends (histories, dead letters) that lost
	// an ETag race.
	etagRetries prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{Metrics: telemetry.NewMetrics()}
	m.events = m.CounterVec("daprshop_notification_events_total",
		"Order events handled, by outcome: delivered, duplicate, outdated, retry, dropped.", "outcome")
	m.deadLetters = m.Counter("daprshop_notification_dead_letters_total",
		"Events received from the dead-letter topic.")
	m.etagRetries = m.Counter("daprshop_notification_etag_retries_total",
		"State writes that lost an ETag race and were retried on fresh data.")
	return m
}
