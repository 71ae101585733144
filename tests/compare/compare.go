// Package compare diffs two e2e reports, a baseline (say daprd v1.16.0) and
// a candidate (v1.16.5), and flags what got worse beyond the noise.
package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/daprshop/daprshop/tests/report"
)

// Thresholds say how much worse a measurement may get before it counts as a
// regression. They sit above the spread of repeated runs of one daprd on
// one machine, so that a version compared with itself reports nothing.
type Thresholds struct {
	// LatencyRatio: candidate p50 or p99 over baseline's, for scenarios
	// with at least MinRequests requests.
	LatencyRatio float64
	// LatencyFloorMs: smaller absolute differences are ignored, however
	// large the ratio (1 ms against 2 ms is not news).
	LatencyFloorMs float64
	// ThroughputRatio: candidate requests per second over baseline's,
	// below which throughput regressed.
	ThroughputRatio float64
	// RSSRatio: a sidecar's memory, candidate over baseline.
	RSSRatio    float64
	MinRequests int
}

// DefaultThresholds were chosen from two runs of the pinned daprd (v1.16.5)
// on a 2-core machine, compared with each other: in the load scenarios p99
// moved by up to 1.53x and p50 by up to 1.24x, throughput by 2% at most (the
// load runs at a fixed arrival rate), sidecar RSS by under 5%. Each
// threshold leaves room above that; v1.16.0 against v1.16.5 stayed inside
// all of them.
var DefaultThresholds = Thresholds{
	LatencyRatio:    2.0,
	LatencyFloorMs:  5,
	ThroughputRatio: 0.9,
	RSSRatio:        1.25,
	MinRequests:     100,
}

// Result is the comparison.
type Result struct {
	Base      string   `json:"base"`
	Candidate string   `json:"candidate"`
	Regressed bool     `json:"regressed"`
	Changes   []Change `json:"changes"`
	// LatencyTests compare per-request latencies of repeated runs of each
	// side (AddLatency); each is also one of Changes.
	LatencyTests []LatencyTest `json:"latencyTests,omitempty"`
}

// AddLatency adds a latency test to the comparison.
func (r *Result) AddLatency(lt LatencyTest) {
	r.LatencyTests = append(r.LatencyTests, lt)
	r.Changes = append(r.Changes, lt.change())
	r.Regressed = r.Regressed || lt.Regression
}

// Write writes the comparison into dir as compare.json, compare.md and
// compare.html.
func Write(dir string, r Result, base, candidate report.Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	page, err := HTML(r, base, candidate)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		"compare.json": append(data, '\n'),
		"compare.md":   []byte(Markdown(r)),
		"compare.html": []byte(page),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Change is one measurement or invariant compared.
type Change struct {
	Scenario   string  `json:"scenario"`
	What       string  `json:"what"`
	Base       string  `json:"base"`
	Candidate  string  `json:"candidate"`
	Ratio      float64 `json:"ratio,omitempty"`
	Regression bool    `json:"regression"`
}

// Compare diffs candidate against base.
func Compare(base, candidate report.Report, th Thresholds) Result {
	res := Result{Base: base.Environment.DaprdVersion, Candidate: candidate.Environment.DaprdVersion, Changes: []Change{}}
	baseByName := map[string]report.Scenario{}
	for _, s := range base.Scenarios {
		baseByName[s.Name] = s
	}
	add := func(c Change) {
		res.Changes = append(res.Changes, c)
		res.Regressed = res.Regressed || c.Regression
	}
	for _, cs := range candidate.Scenarios {
		bs, ok := baseByName[cs.Name]
		if !ok {
			continue
		}
		baseInv := map[string]bool{}
		for _, inv := range bs.Invariants {
			baseInv[inv.Name] = inv.Passed
		}
		for _, inv := range cs.Invariants {
			if passedBefore, seen := baseInv[inv.Name]; !inv.Passed && (passedBefore || !seen) {
				add(Change{Scenario: cs.Name, What: "invariant " + inv.Name, Base: "held", Candidate: "FAILED: " + inv.Observed, Regression: true})
			}
		}
		if cs.Requests < th.MinRequests || bs.Requests < th.MinRequests {
			continue
		}
		for _, m := range []struct {
			what       string
			base, cand float64
		}{{"latency p50 ms", bs.Latency.P50, cs.Latency.P50}, {"latency p99 ms", bs.Latency.P99, cs.Latency.P99}} {
			r := ratio(m.cand, m.base)
			add(Change{Scenario: cs.Name, What: m.what, Base: fmt.Sprintf("%.1f", m.base), Candidate: fmt.Sprintf("%.1f", m.cand), Ratio: r,
				Regression: r > th.LatencyRatio && m.cand-m.base > th.LatencyFloorMs})
		}
		r := ratio(cs.Throughput, bs.Throughput)
		add(Change{Scenario: cs.Name, What: "throughput req/s", Base: fmt.Sprintf("%.1f", bs.Throughput), Candidate: fmt.Sprintf("%.1f", cs.Throughput),
			Ratio: r, Regression: r < th.ThroughputRatio})
		baseRSS := map[string]float64{}
		for _, p := range bs.Resources {
			baseRSS[p.Process] = p.RSSMB
		}
		for _, p := range cs.Resources {
			b, ok := baseRSS[p.Process]
			if !ok || !strings.HasPrefix(p.Process, "daprd-") {
				continue
			}
			r := ratio(p.RSSMB, b)
			add(Change{Scenario: cs.Name, What: p.Process + " RSS MB", Base: fmt.Sprintf("%.1f", b), Candidate: fmt.Sprintf("%.1f", p.RSSMB),
				Ratio: r, Regression: r > th.RSSRatio})
		}
	}
	return res
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Markdown is the comparison for people: the verdict, the regressions, then
// every measurement compared.
func Markdown(r Result) string {
	var b strings.Builder
	verdict := "no regression"
	if r.Regressed {
		verdict = "REGRESSED"
	}
	fmt.Fprintf(&b, "# daprd %s vs %s: %s\n\n", r.Candidate, r.Base, verdict)
	regressions := slices.DeleteFunc(slices.Clone(r.Changes), func(c Change) bool { return !c.Regression })
	if len(regressions) > 0 {
		b.WriteString("## Regressions\n\n")
		for _, c := range regressions {
			fmt.Fprintf(&b, "- %s · %s: %s → %s\n", c.Scenario, c.What, c.Base, c.Candidate)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Measurements\n\n| scenario | what | " + r.Base + " | " + r.Candidate + " | ratio |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, c := range r.Changes {
		mark := ""
		if c.Regression {
			mark = " ❌"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f%s |\n", c.Scenario, c.What, c.Base, c.Candidate, c.Ratio, mark)
	}
	return b.String()
}
