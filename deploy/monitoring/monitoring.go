// Package monitoring holds what a platform team deploys to watch daprshop:
// the alerts (daprshop-alerts.yaml, for Prometheus) and the dashboard
// (daprshop-dashboard.json, for Grafana), and says which metrics they name,
// so that a test against a running system can check each is exported.
package monitoring

import (
	"embed"
	"regexp"
	"slices"
)

// Files are the alerts, their promtool tests, and the dashboard.
//
//go:embed daprshop-alerts.yaml daprshop-alerts.test.yaml daprshop-dashboard.json
var Files embed.FS

// metricName matches the name of a metric of daprshop's (daprshop_) or of
// a Dapr sidecar's (dapr_), wherever an expression names one.
var metricName = regexp.MustCompile(`\b(?:daprshop|dapr)_[a-z0-9_]+\b`)

// MetricNames returns every metric the alerts and the dashboard name,
// sorted, each once: a histogram's series as named (its _bucket).
func MetricNames() ([]string, error) {
	var names []string
	for _, f := range []string{"daprshop-alerts.yaml", "daprshop-dashboard.json"} {
		data, err := Files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range metricName.FindAll(data, -1) {
			names = append(names, string(m))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
