package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the notification service's business counters, served on
// /metrics.
type metrics struct {
	registry *prometheus.Registry
	// events counts order events by outcome: delivered, duplicate (a
	// redelivery deduplicated), retry, dropped.
	events *prometheus.CounterVec
	// deadLetters counts events received from the dead-letter topic.
	deadLetters prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daprshop_notification_events_total",
			Help: "Order events handled, by outcome: delivered, duplicate, retry, dropped.",
		}, []string{"outcome"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "daprshop_notification_dead_letters_total",
			Help: "Events received from the dead-letter topic.",
		}),
	}
	m.registry.MustRegister(m.events, m.deadLetters,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
