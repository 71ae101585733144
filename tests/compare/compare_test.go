package compare

import (
	"testing"

	"github.com/daprshop/daprshop/tests/report"
)

func run(version string, p50, p99, rps, rss float64, invariantHolds bool) report.Report {
	return report.Report{
		Environment: report.Environment{DaprdVersion: version},
		Scenarios: []report.Scenario{{
			Name:       "load",
			Invariants: []report.Invariant{{Name: "no oversell", Passed: invariantHolds, Observed: "24 confirmed"}},
			Latency:    report.Latency{P50: p50, P99: p99},
			Throughput: rps,
			Requests:   400,
			Resources:  []report.Resource{{Process: "daprd-order", RSSMB: rss}},
		}},
	}
}

func TestCompare(t *testing.T) {
	base := run("1.16.0", 6, 14, 20, 100, true)
	tests := []struct {
		name      string
		candidate report.Report
		want      bool
	}{
		{"itself", base, false},
		{"within noise", run("1.16.5", 7, 20, 19.5, 110, true), false},
		{"invariant newly fails", run("1.16.5", 6, 14, 20, 100, false), true},
		{"p99 doubled and more", run("1.16.5", 6, 40, 20, 100, true), true},
		{"throughput fell", run("1.16.5", 6, 14, 15, 100, true), true},
		{"sidecar memory grew", run("1.16.5", 6, 14, 20, 140, true), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compare(base, tc.candidate, DefaultThresholds); got.Regressed != tc.want {
				t.Errorf("regressed: got %v, want %v\n%s", got.Regressed, tc.want, Markdown(got))
			}
		})
	}
}

func TestSmallLatenciesAreNotRegressions(t *testing.T) {
	base := run("1.16.0", 1, 2, 20, 100, true)
	if got := Compare(base, run("1.16.5", 2.5, 5, 20, 100, true), DefaultThresholds); got.Regressed {
		t.Errorf("1 ms to 2.5 ms flagged as a regression:\n%s", Markdown(got))
	}
}
