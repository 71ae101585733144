package report

import (
	"cmp"
	"slices"
	"time"
)

// Second is one second of a scenario's requests, counted by when they
// ended: what throughput, errors and latency did over time.
type Second struct {
	// At is the second since the scenario started (0 is the first).
	At       int     `json:"at"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	P99Ms    float64 `json:"p99Ms"`
}

// FaultWindow is when a fault was injected, in seconds since the scenario
// started, until the system had recovered (or the test gave up).
type FaultWindow struct {
	Name         string  `json:"name"`
	StartSeconds float64 `json:"startSeconds"`
	EndSeconds   float64 `json:"endSeconds"`
}

// sample is one request, for the timeline.
type sample struct {
	end      time.Time
	duration time.Duration
	failed   bool
}

// Fault records that the fault name starts now; the returned function
// records that it is over.
// Both are phases of the scenario too.
func (s *ScenarioRecorder) Fault(name string) (end func()) {
	s.Phase("fault injected")
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.faults)
	at := time.Since(s.started).Seconds()
	s.faults = append(s.faults, FaultWindow{Name: name, StartSeconds: at, EndSeconds: at})
	return func() {
		s.mu.Lock()
		s.faults[i].EndSeconds = time.Since(s.started).Seconds()
		s.mu.Unlock()
		s.Phase("fault over, load goes on")
	}
}

// timeline buckets samples into the seconds since started; seconds without
// requests are there too, with zeros, so that a stall shows as one.
func timeline(started time.Time, samples []sample) []Second {
	if len(samples) == 0 {
		return nil
	}
	last := slices.MaxFunc(samples, func(a, b sample) int { return a.end.Compare(b.end) })
	out := make([]Second, int(last.end.Sub(started)/time.Second)+1)
	durations := make([][]time.Duration, len(out))
	for i := range out {
		out[i].At = i
	}
	for _, smp := range samples {
		i := max(0, int(smp.end.Sub(started)/time.Second))
		out[i].Requests++
		if smp.failed {
			out[i].Errors++
		}
		durations[i] = append(durations[i], smp.duration)
	}
	for i, ds := range durations {
		if len(ds) > 0 {
			slices.SortFunc(ds, cmp.Compare)
			out[i].P99Ms = Percentiles(ds).P99
		}
	}
	// Drop the quiet lead-in (setup before the first request).
	first := slices.IndexFunc(out, func(s Second) bool { return s.Requests > 0 })
	return out[first:]
}
