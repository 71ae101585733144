package compare

import (
	"math"
	"math/rand/v2"
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
		{"faster", runs(rng, 5, 2000, 1.2, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CompareLatency("invocation", base, tc.candidate, DefaultLatencyThresholds)
			if got.Regression != tc.want {
				t.Errorf("regression = %v (p90 %.2f → %.2f ms, p=%.3g), want %v", got.Regression, got.BaseP90Ms, got.CandidateP90Ms, got.PValue, tc.want)
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
