package compare

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
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
// judged, not the tail, which queueing moves from run to run; requests
// sent otherwise are not judged.
func TestCompareLatencyUnderLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := runs(rng, 1, 450, 9, 0)
	// The tail of one run stretched by half, as a burst's queue does.
	queued := runs(rng, 1, 450, 9, 0)
	slices.Sort(queued[0])
	for i := len(queued[0]) * 8 / 10; i < len(queued[0]); i++ {
		queued[0][i] *= 1.5
	}
	for _, tc := range []struct {
		name      string
		candidate [][]float64
		want      bool
	}{
		{"same daprd", runs(rng, 1, 450, 9, 0), false},
		{"the tail 1.5 times longer, the median the same", queued, false},
		{"every request 1.6 times slower", runs(rng, 1, 450, 9*1.6, 0), true},
		{"1.2 times slower: within two runs' spread", runs(rng, 1, 450, 9*1.2, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
