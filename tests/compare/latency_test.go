package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/report"
)

// runs draws rounds runs of n latencies each: a lognormal body around
// medianMs, as invocation latencies have, shifted by shiftMs.
func runs(rng *rand.Rand, rounds, n int, medianMs, shiftMs float64) [][]float64 {
	out := make([][]float64, rounds)
	for r := range out {
		for range n {
			out[r] = append(out[r], medianMs*math.Exp(0.35*rng.NormFloat64())+shiftMs)
		}
	}
	return out
}

func TestCompareLatency(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := runs(rng, 5, 2000, 1.7, 0)
	for _, tc := range []struct {
		name      string
		candidate [][]float64
		want      bool
	}{
		{"same daprd", runs(rng, 5, 2000, 1.7, 0), false},
		{"2 ms added to every call", runs(rng, 5, 2000, 1.7, 2), true},
		{"0.3 ms added: significant, but under the 1 ms that matters", runs(rng, 5, 2000, 1.7, 0.3), false},
		{"a tenth of the calls 10 ms slower: the p90 rises", func() [][]float64 {
			r := runs(rng, 5, 2000, 1.7, 0)
			for _, run := range r {
				for i := 0; i < len(run); i += 10 {
					run[i] += 10
				}
			}
			return r
		}(), true},
		{"faster", runs(rng, 5, 2000, 1.2, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CompareLatency("invocation", OneAtATime, base, tc.candidate, DefaultLatencyThresholds)
			if got.Regression != tc.want {
				t.Errorf("regression = %v (p90 %.2f → %.2f ms, p=%.3g), want %v", got.Regression, got.BaseP90Ms, got.CandidateP90Ms, got.PValue, tc.want)
			}
			if got := CompareLatency("invocation", OneAtATime, base[:2], tc.candidate[:2], DefaultLatencyThresholds); got.Regression {
				t.Errorf("judged on 2 runs a side, fewer than MinRuns: regression at p=%.3g", got.PValue)
			}
		})
	}
}

// TestCompareLatencyUnderLoad: under a load at a fixed rate the median is
// judged, not the tail, which queueing moves from run to run, and past a
// wider ratio when a side ran it fewer than 3 times; requests sent
// otherwise are not judged.
func TestCompareLatencyUnderLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := runs(rng, 3, 450, 9, 0)
	// The tail of each run stretched by half, as a burst's queue does.
	queued := runs(rng, 3, 450, 9, 0)
	for _, run := range queued {
		slices.Sort(run)
		for i := len(run) * 8 / 10; i < len(run); i++ {
			run[i] *= 1.5
		}
	}
	for _, tc := range []struct {
		name      string
		candidate [][]float64
		// want: a regression over 3 runs a side; wantOnce: over one.
		want, wantOnce bool
	}{
		{"same daprd", runs(rng, 3, 450, 9, 0), false, false},
		{"the tail 1.5 times longer, the median the same", queued, false, false},
		{"every request 1.6 times slower: once, within two runs' spread", runs(rng, 3, 450, 9*1.6, 0), true, false},
		{"every request 2.2 times slower", runs(rng, 3, 450, 9*2.2, 0), true, true},
		{"1.2 times slower: within two runs' spread", runs(rng, 3, 450, 9*1.2, 0), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareLatency("sustained mixed load", FixedRate, base[:1], tc.candidate[:1], DefaultLatencyThresholds); got.Regression != tc.wantOnce {
				t.Errorf("one run a side: regression = %v (p50 %.2f → %.2f ms, p=%.3g), want %v", got.Regression,
					got.BaseP50Ms, got.CandidateP50Ms, got.PValue, tc.wantOnce)
			}
			got := CompareLatency("sustained mixed load", FixedRate, base, tc.candidate, DefaultLatencyThresholds)
			if got.Regression != tc.want {
				t.Errorf("regression = %v (p50 %.2f → %.2f ms, p90 %.2f → %.2f, p=%.3g), want %v", got.Regression,
					got.BaseP50Ms, got.CandidateP50Ms, got.BaseP90Ms, got.CandidateP90Ms, got.PValue, tc.want)
			}
			if got := CompareLatency("a burst", Otherwise, base, tc.candidate, DefaultLatencyThresholds); got.Regression {
				t.Errorf("a burst's requests judged: regression at p=%.3g", got.PValue)
			}
		})
	}
}

// TestEveryLoadSlower: loads each run once are judged together, so that
// a candidate slowing every order by less than one run's noise allows
// is flagged, and one run's noise, which moves each load its own way,
// is not.
func TestEveryLoadSlower(t *testing.T) {
	// The medians' ratios of one daprd against itself, in rc-check's
	// self-hosted suite run beside the cluster's (2026-12-07).
	noise := []float64{1.48, 0.71, 1.27, 1.02, 0.75, 1.07, 1.67, 0.93, 0.90}
	loads := func(slowdown float64, ratios []float64) []LatencyTest {
		var tests []LatencyTest
		for i, r := range ratios {
			tests = append(tests, LatencyTest{Scenario: fmt.Sprintf("load %d", i), Sent: FixedRate, BaseRequests: 500, CandidateRequests: 500,
				BaseP50Ms: 10, CandidateP50Ms: 10 * r * slowdown})
		}
		return tests
	}
	for _, tc := range []struct {
		name   string
		tests  []LatencyTest
		judged bool
		want   bool
	}{
		{"one daprd against itself", loads(1, noise), true, false},
		{"every order 1.6 times slower", loads(1.6, noise), true, true},
		{"1.2 times slower", loads(1.2, noise), true, false},
		{"four loads: too few", loads(1.6, noise[:4]), false, false},
		{"requests one at a time are not loads", func() []LatencyTest {
			tests := loads(1.6, noise)
			for i := range tests {
				tests[i].Sent = OneAtATime
			}
			return tests
		}(), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, judged := everyLoadSlower(tc.tests, DefaultLatencyThresholds)
			if judged != tc.judged || c.Regression != tc.want {
				t.Errorf("judged %v, regression %v (%s), want %v, %v", judged, c.Regression, c.Candidate, tc.judged, tc.want)
			}
			if tc.want && !strings.Contains(c.Candidate, "slowed most: load 6") {
				t.Errorf("does not name the load slowed most (load 6): %s", c.Candidate)
			}
		})
	}
}

func TestMannWhitneyGreater(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	y := []float64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if p := mannWhitneyGreater(x, y); p > 0.001 {
		t.Errorf("y all above x: p = %g, want < 0.001", p)
	}
	if p := mannWhitneyGreater(y, x); p < 0.99 {
		t.Errorf("y all below x: p = %g, want near 1", p)
	}
	if p := mannWhitneyGreater(x, x); p < 0.4 || p > 0.6 {
		t.Errorf("same samples: p = %g, want about 0.5", p)
	}
}

// TestCompareJudgesEveryLoad: Compare judges a side's loads together too.
func TestCompareJudgesEveryLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	suite := func(medianMs float64) report.Report {
		var r report.Report
		for i := range 6 {
			r.Scenarios = append(r.Scenarios, report.Scenario{Name: fmt.Sprintf("fault %d", i), OpenLoop: true, Requests: 400,
				LatencySamplesMs: runs(rng, 1, 400, medianMs, 0)[0]})
		}
		return r
	}
	base := Side{Suite: suite(9)}
	if got := Compare(base, Side{Suite: suite(9)}, DefaultThresholds); got.Regressed {
		t.Errorf("itself: regressed\n%s", Markdown(got))
	}
	got := Compare(base, Side{Suite: suite(9 * 1.6)}, DefaultThresholds)
	if !got.Regressed || !slices.ContainsFunc(got.Changes, func(c Change) bool { return c.Regression && strings.HasPrefix(c.Scenario, "every load") }) {
		t.Errorf("every load 1.6 times slower: not flagged as every load\n%s", Markdown(got))
	}
}

// TestOneRunsTailIsNotAShift: requests sent one at a time are judged by
// the median of each run's p90, so one run's long tail (the suite's own
// run, beside the cluster's: 19.8 ms against 1.6 to 3.7) is no
// regression, while 2.5 ms added to the tail of every run is.
func TestOneRunsTailIsNotAShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	base := runs(rng, 6, 1000, 1.1, 0)
	noisy := runs(rng, 6, 1000, 1.1, 0)
	for i := range noisy[0] {
		noisy[0][i] += 18 // a run while the machine was busy
	}
	if got := CompareLatency("Dapr latency: state transaction", OneAtATime, base, noisy, DefaultLatencyThresholds); got.Regression {
		t.Errorf("one run's tail: regression (pooled p90 %.2f → %.2f, runs' %v → %v)", got.BaseP90Ms, got.CandidateP90Ms, got.BaseRunP90Ms, got.CandidateRunP90Ms)
	}
	slower := runs(rng, 6, 1000, 1.1, 0)
	for _, run := range slower {
		slices.Sort(run)
		for i := len(run) * 7 / 10; i < len(run); i++ {
			run[i] += 2.5
		}
	}
	if got := CompareLatency("Dapr latency: state transaction", OneAtATime, base, slower, DefaultLatencyThresholds); !got.Regression {
		t.Errorf("every run's tail 2.5 ms longer: no regression (runs' p90 %v → %v)", got.BaseRunP90Ms, got.CandidateRunP90Ms)
	}
}

// TestAFaultsMedianBetweenItsModes: in a fault's load run once a side,
// the median falls between the requests served at once and those that
// wait out the fault, and moves with how many fell on each side of it
// (Redis killed and restarted: 12.3 → 33.7 ms, p90 1,045 → 1,303); with
// its p90 the same, that is not a regression.
func TestAFaultsMedianBetweenItsModes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	fault := func(fast, middle int) [][]float64 {
		var run []float64
		run = append(run, runs(rng, 1, fast, 10, 0)[0]...)
		run = append(run, runs(rng, 1, middle, 35, 0)[0]...)
		run = append(run, runs(rng, 1, 100-fast-middle, 1000, 0)[0]...)
		return [][]float64{run}
	}
	got := CompareLatency("fault: Redis killed and restarted", FixedRate, fault(70, 10), fault(40, 40), DefaultLatencyThresholds)
	if got.Regression {
		t.Errorf("a median between two modes: regression (p50 %.1f → %.1f, p90 %.1f → %.1f)", got.BaseP50Ms, got.CandidateP50Ms, got.BaseP90Ms, got.CandidateP90Ms)
	}
	if r := got.CandidateP50Ms / got.BaseP50Ms; r < 2 {
		t.Fatalf("the test's median moved only %.2f times: it tests nothing", r)
	}
}
