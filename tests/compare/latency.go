package compare

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/daprshop/daprshop/tests/report"
)

// LatencyThresholds say when per-request latencies of repeated runs make a
// regression: both a difference that is real (the test's p-value) and one
// that matters (the p90 difference).
type LatencyThresholds struct {
	// Alpha: the one-sided Mann-Whitney p-value below which the candidate
	// is slower than chance explains.
	Alpha float64
	// MinP90DiffMs: a smaller rise of the p90 is not reported, however
	// significant: thousands of samples make a 0.1 ms drift significant.
	MinP90DiffMs float64
}

// DefaultLatencyThresholds are sized for Dapr's own release gate, which
// fails a build adding more than 2 ms to the p90 of service invocation:
// half of that is flagged, and only at p < 0.001.
var DefaultLatencyThresholds = LatencyThresholds{Alpha: 0.001, MinP90DiffMs: 1}

// LatencyTest is the comparison of one scenario's per-request latencies,
// pooled over interleaved runs of baseline and candidate.
type LatencyTest struct {
	Scenario string `json:"scenario"`
	// Runs of each side, and requests pooled over them.
	BaseRuns          int `json:"baseRuns"`
	CandidateRuns     int `json:"candidateRuns"`
	BaseRequests      int `json:"baseRequests"`
	CandidateRequests int `json:"candidateRequests"`
	// P90 of each side's pooled requests, and of every run on its own.
	BaseP90Ms         float64   `json:"baseP90Ms"`
	CandidateP90Ms    float64   `json:"candidateP90Ms"`
	BaseRunP90Ms      []float64 `json:"baseRunP90Ms"`
	CandidateRunP90Ms []float64 `json:"candidateRunP90Ms"`
	// PValue of the one-sided Mann-Whitney U test that the candidate's
	// latencies are larger.
	PValue     float64 `json:"pValue"`
	Regression bool    `json:"regression"`
}

// CompareLatency tests whether the candidate's per-request latencies
// (in milliseconds, one slice per run) are larger than the baseline's.
func CompareLatency(scenario string, base, candidate [][]float64, th LatencyThresholds) LatencyTest {
	b, c := slices.Concat(base...), slices.Concat(candidate...)
	lt := LatencyTest{Scenario: scenario, BaseRuns: len(base), CandidateRuns: len(candidate),
		BaseRequests: len(b), CandidateRequests: len(c), BaseP90Ms: p90(b), CandidateP90Ms: p90(c), PValue: 1}
	for _, run := range base {
		lt.BaseRunP90Ms = append(lt.BaseRunP90Ms, p90(run))
	}
	for _, run := range candidate {
		lt.CandidateRunP90Ms = append(lt.CandidateRunP90Ms, p90(run))
	}
	if len(b) == 0 || len(c) == 0 {
		return lt
	}
	lt.PValue = mannWhitneyGreater(b, c)
	lt.Regression = lt.PValue < th.Alpha && lt.CandidateP90Ms-lt.BaseP90Ms > th.MinP90DiffMs
	return lt
}

// change is the test as one line of the comparison.
func (lt LatencyTest) change() Change {
	return Change{
		Scenario:   lt.Scenario,
		What:       fmt.Sprintf("p90 ms over %d+%d interleaved runs (Mann-Whitney, one-sided)", lt.BaseRuns, lt.CandidateRuns),
		Base:       fmt.Sprintf("%.2f (n=%d)", lt.BaseP90Ms, lt.BaseRequests),
		Candidate:  fmt.Sprintf("%.2f (n=%d, p=%.2g)", lt.CandidateP90Ms, lt.CandidateRequests, lt.PValue),
		Ratio:      ratio(lt.CandidateP90Ms, lt.BaseP90Ms),
		Regression: lt.Regression,
	}
}

// p90 is the 90th percentile of latencies in milliseconds, as the report
// computes every percentile.
func p90(ms []float64) float64 {
	ds := make([]time.Duration, len(ms))
	for i, x := range ms {
		ds[i] = time.Duration(x * float64(time.Millisecond))
	}
	return report.Percentiles(ds).P90
}

// mannWhitneyGreater is the p-value of the one-sided Mann-Whitney U test
// that values in y tend to be larger than values in x, by the normal
// approximation with the correction for ties (the samples here number in
// the thousands, where the approximation is exact enough).
func mannWhitneyGreater(x, y []float64) float64 {
	type obs struct {
		v   float64
		ofY bool
	}
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v, false})
	}
	for _, v := range y {
		all = append(all, obs{v, true})
	}
	slices.SortFunc(all, func(a, b obs) int { return cmp.Compare(a.v, b.v) })
	n1, n2 := float64(len(x)), float64(len(y))
	n := n1 + n2
	var rankY, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if all[k].ofY {
				rankY += rank
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	u := rankY - n2*(n2+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 / 12 * (n + 1 - ties/(n*(n-1))))
	if sd == 0 {
		return 1
	}
	z := (u - mean - 0.5) / sd // continuity correction
	return 0.5 * math.Erfc(z/math.Sqrt2)
}
