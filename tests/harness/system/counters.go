package system

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// counterPrefixes are the counters worth keeping with a scenario: the
// apps' business counters, and what daprd did for them (resiliency policies
// that fired, pub/sub messages by outcome, state and invocation calls by
// outcome), which explain a finding, say the retries seen during a fault.
var counterPrefixes = []string{
	"daprshop_order_", "daprshop_inventory_", "daprshop_notification_",
	"dapr_resiliency_count", "dapr_resiliency_activations_total",
	"dapr_component_pubsub_ingress_count", "dapr_component_pubsub_egress_count",
	"dapr_component_state_count", "dapr_runtime_service_invocation_res_recv_total",
}

// Counters reads the non-zero counters of counterPrefixes from every app's
// and sidecar's /metrics, keyed "process sample", e.g.
// `order daprshop_order_orders_total{status="confirmed"}`. A process that
// does not answer is left out: a fault test may have stopped it.
func (s *System) Counters() map[string]float64 {
	out := map[string]float64{}
	client := &http.Client{Timeout: 2 * time.Second}
	for id, a := range s.Apps {
		scrape(client, a.URL+"/metrics", id, out)
		scrape(client, a.MetricsURL, "daprd-"+id, out)
	}
	return out
}

func scrape(client *http.Client, url, process string, out map[string]float64) {
	samples, err := Samples(client, url)
	if err != nil {
		return
	}
	for sample, v := range samples {
		if v != 0 && hasAnyPrefix(sample, counterPrefixes) {
			out[process+" "+sample] += v
		}
	}
}

// Samples reads the Prometheus text exposition at url: every sample's
// value, keyed as the exposition writes the sample, name and labels, e.g.
// `daprshop_order_orders_total{status="confirmed"}`.
func Samples(client *http.Client, url string) (map[string]float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("%s: not a sample: %q", url, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", url, line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// timedFamilies are daprd's metric families that count each operation
// (family_count) and time it (family_latencies, a histogram) under the same
// labels.
var timedFamilies = []string{
	"dapr_component_state", "dapr_component_pubsub_ingress", "dapr_component_pubsub_egress",
}

// UntimedOperations compares, in one scrape of a sidecar's /metrics, each
// timed family's operations counted with those its latency histogram
// holds, series by series, and returns every series where they differ, as
// "series: counted N, timed M", and how many series it compared. A histogram that misses operations hides
// them from every latency percentile: daprd up to 1.18.1 dropped those
// under a millisecond (dapr/dapr#10214).
func UntimedOperations(samples map[string]float64) (gaps []string, series int) {
	for sample, counted := range samples {
		for _, family := range timedFamilies {
			labels, ok := strings.CutPrefix(sample, family+"_count")
			if !ok || (labels != "" && labels[0] != '{') {
				continue
			}
			series++
			if timed := samples[family+"_latencies_count"+labels]; timed != counted {
				gaps = append(gaps, fmt.Sprintf("%s%s: counted %g, timed %g", family, labels, counted, timed))
			}
		}
	}
	slices.Sort(gaps)
	return gaps, series
}
