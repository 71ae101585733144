package compare

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/daprshop/daprshop/tests/report"
)

// LatencyThresholds say when per-request latencies of two sides make a
// regression: a difference that is real (the test's p-value) and one that
// matters, which depends on how the requests were sent.
type LatencyThresholds struct {
	// Alpha: the one-sided Mann-Whitney p-value below which the candidate
	// is slower than chance explains.
	Alpha float64
	// For requests sent one at a time, a rise of the median by more than
	// MinP50DiffMs, or of the p90 by more than MinP90DiffMs, counts; a
	// smaller one does not, however significant (thousands of samples make
	// a 0.1 ms drift significant). The p90 has the larger floor: in a
	// self-comparison over 6+6 runs the state transactions' p90 moved by
	// 1.18 ms (single runs: 1.8 to 6.7 ms), their median by 0.31. The
	// p90 is each run's, their median taken: one run's tail (19.8 ms in
	// the suite's own run, beside the cluster's, against 1.6 to 3.7 in the
	// five alone) moved the pooled p90 of the same daprd by 2.9 ms.
	MinP50DiffMs float64
	MinP90DiffMs float64
	// MinRuns: requests sent one at a time are judged only when each side
	// ran them at least this many times (rc-check's rounds): one run of
	// the same daprd against another moved the state transactions' p90
	// by 4.3 ms and the deliveries' median by 1.4 ms.
	MinRuns int
	// Under a load at a fixed rate the tail is queueing, which moves from
	// run to run by more than any one operation could (a p90 by 1.47
	// times between two runs of one daprd): what counts there is the
	// median, risen by more than LoadP50Ratio times and by more than
	// LoadMinP50DiffMs.
	LoadP50Ratio     float64
	LoadMinP50DiffMs float64
	// A load run fewer than MinRuns times a side (in rc-check every one,
	// the soak included, runs once) counts when its median rose past
	// FewRunsLoadP50Ratio and its p90 past FewRunsLoadP90Ratio: a load
	// slowed throughout. One run's median against one other's of the
	// same daprd moved by up to 1.76 times when the cluster's suite ran
	// beside them (1.48 at p = 2e-20 in "broker delivers every order
	// event twice"), and by 2.02 and 2.73 in "pub/sub broker full" and
	// "Redis killed and restarted", whose medians fall between the
	// requests served at once and those waiting out the fault, while
	// their p90s, the fault's own length, moved by 1.07 and 1.25.
	FewRunsLoadP50Ratio float64
	FewRunsLoadP90Ratio float64
	// EveryLoadP50Ratio judges a platform's loads together, when it ran
	// MinLoads or more: a candidate that slows every order slows each
	// load about as much, which one run's noise does not (it moves each
	// its own way: the medians' ratios of the same daprd ran from 0.71 to
	// 1.76, with their median at 1.02 among the self-hosted loads, 0.97
	// among the cluster's). The median of the ratios past it counts.
	EveryLoadP50Ratio float64
	MinLoads          int
}

// Sending is how a scenario sent the requests whose latencies are
// compared, which decides what of them counts.
type Sending string

const (
	// OneAtATime: each after the one before; the median and the p90 are
	// judged.
	OneAtATime Sending = "one at a time"
	// FixedRate: a load at a fixed rate; the median is judged.
	FixedRate Sending = "at a fixed rate"
	// Otherwise (a burst, an attack, requests beside a retry storm): the
	// latencies are the setup's, shown and not judged; two runs of one
	// daprd moved such a median by 1.95 times.
	Otherwise Sending = "otherwise"
)

// sending is how scenario s sent its requests.
func sending(s report.Scenario) Sending {
	switch {
	case s.OneAtATime:
		return OneAtATime
	case s.OpenLoop:
		return FixedRate
	}
	return Otherwise
}

// DefaultLatencyThresholds are sized for Dapr's own release gate, which
// fails a build adding more than 2 ms to the p90 of service invocation:
// 2 ms added to every call moves the median by 2, twice its floor, and
// only p < 0.001 counts. Under load, two runs of one daprd moved a
// scenario's median by up to 1.24 times: 1.4 leaves room and flags a
// candidate 1.6 times slower; but a median of 1.1 ms rose by 1.42 times
// (p = 0.0004) in a self-comparison, hence the 2 ms.
var DefaultLatencyThresholds = LatencyThresholds{Alpha: 0.001, MinP50DiffMs: 1, MinP90DiffMs: 2, MinRuns: 3, LoadP50Ratio: 1.4, LoadMinP50DiffMs: 2,
	FewRunsLoadP50Ratio: 2, FewRunsLoadP90Ratio: 1.5, EveryLoadP50Ratio: 1.3, MinLoads: 5}

// LatencyTest is the comparison of one scenario's per-request latencies,
// pooled over every run of baseline and candidate.
type LatencyTest struct {
	Scenario string  `json:"scenario"`
	Sent     Sending `json:"sent"`
	// Runs of each side, and requests pooled over them.
	BaseRuns          int `json:"baseRuns"`
	CandidateRuns     int `json:"candidateRuns"`
	BaseRequests      int `json:"baseRequests"`
	CandidateRequests int `json:"candidateRequests"`
	// P50 and P90 of each side's pooled requests, and the P90 of every run
	// on its own.
	BaseP50Ms         float64   `json:"baseP50Ms"`
	CandidateP50Ms    float64   `json:"candidateP50Ms"`
	BaseP90Ms         float64   `json:"baseP90Ms"`
	CandidateP90Ms    float64   `json:"candidateP90Ms"`
	BaseRunP90Ms      []float64 `json:"baseRunP90Ms"`
	CandidateRunP90Ms []float64 `json:"candidateRunP90Ms"`
	// PValue of the one-sided Mann-Whitney U test that the candidate's
	// latencies are larger.
	PValue     float64 `json:"pValue"`
	Regression bool    `json:"regression"`
	// NotJudged says why the test was not judged ("" when it was): a
	// known issue of Dapr's struck the scenario on either side, and what
	// it measured there tells of that issue, not of the candidate.
	NotJudged string `json:"notJudged,omitempty"`
}

// CompareLatency tests whether the candidate's per-request latencies
// (in milliseconds, one slice per run), sent as sent says, are larger than
// the baseline's.
func CompareLatency(scenario string, sent Sending, base, candidate [][]float64, th LatencyThresholds) LatencyTest {
	b, c := slices.Concat(base...), slices.Concat(candidate...)
	lt := LatencyTest{Scenario: scenario, Sent: sent, BaseRuns: len(base), CandidateRuns: len(candidate),
		BaseRequests: len(b), CandidateRequests: len(c), PValue: 1}
	lt.BaseP50Ms, lt.BaseP90Ms = percentiles(b)
	lt.CandidateP50Ms, lt.CandidateP90Ms = percentiles(c)
	for _, run := range base {
		_, p90 := percentiles(run)
		lt.BaseRunP90Ms = append(lt.BaseRunP90Ms, p90)
	}
	for _, run := range candidate {
		_, p90 := percentiles(run)
		lt.CandidateRunP90Ms = append(lt.CandidateRunP90Ms, p90)
	}
	if len(b) == 0 || len(c) == 0 {
		return lt
	}
	lt.PValue = mannWhitneyGreater(b, c)
	var matters bool
	switch sent {
	case OneAtATime:
		matters = min(len(base), len(candidate)) >= th.MinRuns &&
			(lt.CandidateP50Ms-lt.BaseP50Ms > th.MinP50DiffMs || median(lt.CandidateRunP90Ms)-median(lt.BaseRunP90Ms) > th.MinP90DiffMs)
	case FixedRate:
		matters = lt.CandidateP50Ms-lt.BaseP50Ms > th.LoadMinP50DiffMs
		if min(len(base), len(candidate)) < th.MinRuns {
			matters = matters && lt.CandidateP50Ms > th.FewRunsLoadP50Ratio*lt.BaseP50Ms && lt.CandidateP90Ms > th.FewRunsLoadP90Ratio*lt.BaseP90Ms
		} else {
			matters = matters && lt.CandidateP50Ms > th.LoadP50Ratio*lt.BaseP50Ms
		}
	}
	lt.Regression = lt.PValue < th.Alpha && matters
	return lt
}

// change is the test as one line of the comparison.
func (lt LatencyTest) change() Change {
	return Change{
		Scenario:   lt.Scenario,
		What:       fmt.Sprintf("p50 / p90 ms of requests sent %s, over %d+%d runs (Mann-Whitney, one-sided)", lt.Sent, lt.BaseRuns, lt.CandidateRuns),
		Base:       fmt.Sprintf("%.2f / %.2f (n=%d)", lt.BaseP50Ms, lt.BaseP90Ms, lt.BaseRequests),
		Candidate:  fmt.Sprintf("%.2f / %.2f (n=%d, p=%.2g)", lt.CandidateP50Ms, lt.CandidateP90Ms, lt.CandidateRequests, lt.PValue) + notJudged(lt.NotJudged),
		Ratio:      ratio(lt.CandidateP50Ms, lt.BaseP50Ms),
		Regression: lt.Regression,
	}
}

// notJudged is what a measurement that was not judged says after its
// value, because why.
func notJudged(why string) string {
	if why == "" {
		return ""
	}
	return " (not judged: " + why + ")"
}

// everyLoadSlower judges the loads at a fixed rate among tests together:
// the median of their medians' ratios, candidate over baseline, past
// th.EveryLoadP50Ratio is a regression, which names the loads slowed
// most. ok is false when fewer than th.MinLoads loads ran.
func everyLoadSlower(tests []LatencyTest, th LatencyThresholds) (c Change, ok bool) {
	type load struct {
		scenario string
		ratio    float64
	}
	var loads []load
	for _, lt := range tests {
		if lt.Sent == FixedRate && lt.BaseRequests > 0 && lt.CandidateRequests > 0 && lt.NotJudged == "" {
			loads = append(loads, load{lt.Scenario, ratio(lt.CandidateP50Ms, lt.BaseP50Ms)})
		}
	}
	if len(loads) < th.MinLoads {
		return Change{}, false
	}
	slices.SortFunc(loads, func(a, b load) int { return cmp.Compare(b.ratio, a.ratio) })
	ratios := make([]float64, len(loads))
	for i, l := range loads {
		ratios[i] = l.ratio
	}
	mid := median(ratios)
	slowest := make([]string, 0, 3)
	for _, l := range loads[:min(3, len(loads))] {
		slowest = append(slowest, fmt.Sprintf("%s %.2f", l.scenario, l.ratio))
	}
	return Change{
		Scenario:   fmt.Sprintf("every load at a fixed rate (%d)", len(loads)),
		What:       "median of the loads' p50 ratios, candidate over baseline",
		Base:       "1.00",
		Candidate:  fmt.Sprintf("%.2f; slowed most: %s", mid, strings.Join(slowest, ", ")),
		Ratio:      mid,
		Regression: mid > th.EveryLoadP50Ratio,
	}, true
}

// percentiles are the p50 and p90 of latencies in milliseconds, as the
// report computes every percentile.
func percentiles(ms []float64) (p50, p90 float64) {
	ds := make([]time.Duration, len(ms))
	for i, x := range ms {
		ds[i] = time.Duration(x * float64(time.Millisecond))
	}
	p := report.Percentiles(ds)
	return p.P50, p.P90
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

// median is the median of xs, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(xs))
	n := len(sorted)
	return (sorted[(n-1)/2] + sorted[n/2]) / 2
}
