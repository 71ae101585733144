package system

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// daprCounters are the daprd counters the report keeps for each sidecar,
// each summed by the one label that says what happened: together they
// explain what a fault did inside Dapr (retries and timeouts the resiliency
// policy applied, events redelivered or dropped, calls that failed).
var daprCounters = map[string]string{
	"dapr_resiliency_activations_total":              "policy",
	"dapr_component_pubsub_ingress_count":            "process_status",
	"dapr_component_pubsub_egress_count":             "success",
	"dapr_component_state_count":                     "success",
	"dapr_runtime_service_invocation_res_recv_total": "status",
}

// DaprMetrics reads a sidecar's Prometheus endpoint and returns the
// daprCounters, keyed like `dapr_component_state_count{success="false"}`.
func DaprMetrics(url string) (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	out := map[string]float64{}
	for _, name := range slices.Sorted(maps.Keys(daprCounters)) {
		family, ok := families[name]
		if !ok {
			continue // not used yet by this sidecar
		}
		label := daprCounters[name]
		for _, m := range family.GetMetric() {
			value := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					value = l.GetValue()
				}
			}
			key := fmt.Sprintf("%s{%s=%q}", name, label, value)
			out[key] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}
