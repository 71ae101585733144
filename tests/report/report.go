// Package report collects what an e2e run checked and measured, and writes
// it for three readers: report.json for machines (schema below, versioned),
// report.md for a release manager, and junit.xml for CI systems.
//
// Schema (SchemaVersion 1). A change that removes or renames a field bumps
// the version; adding a field does not.
//
//	schemaVersion  int
//	startedAt, finishedAt  RFC 3339 times
//	passed         bool: every invariant of every scenario held
//	environment    {daprdVersion, daprdPath, goSDKVersion, goVersion,
//	                components: [{name, type, version}], redisVersion,
//	                natsVersion, machine: {os, arch, cpus, kernel, hostname}}
//	scenarios      [{name, durationSeconds, invariants: [{name, passed,
//	                expected, observed}], latency: {count, p50, p90, p99,
//	                max} in milliseconds, throughput (requests per second),
//	                requests, errors, resources: [{process, cpuSeconds,
//	                rssMB}] (cumulative since the process started, read
//	                when the scenario ended), phases: [{name, atSeconds}]
//	                (what the scenario did when, from its start), optional
//	                timeline: [{at, requests, errors, p99Ms}] per second
//	                since the scenario started, optional faults: [{name,
//	                startSeconds, endSeconds}], optional counters: {"process
//	                sample": value} read from the apps' and sidecars'
//	                /metrics when the scenario ended, optional
//	                latencySamplesMs: [float] the latency of every request
//	                measured (setup excluded), in the order made, for the
//	                scenarios that keep them, optional measurements:
//	                [{name, value, unit}] what the scenario measured beside
//	                its requests (the benchmark's CPU per order, say)}]
//	findings       [{severity, scenario, invariant, expected, observed}]
//	notes          optional Markdown the suite adds to report.md (the
//	               benchmark's tables)
package report

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// SchemaVersion is the version of the report.json format.
const SchemaVersion = 1

// Report is one e2e run.
type Report struct {
	SchemaVersion int         `json:"schemaVersion"`
	StartedAt     time.Time   `json:"startedAt"`
	FinishedAt    time.Time   `json:"finishedAt"`
	Passed        bool        `json:"passed"`
	Environment   Environment `json:"environment"`
	Scenarios     []Scenario  `json:"scenarios"`
	Findings      []Finding   `json:"findings"`
	// Notes is Markdown a suite adds to report.md after the invariants:
	// what its figures mean together (the benchmark's tables).
	Notes string `json:"notes,omitempty"`
	// Rates are how often each invariant failed, over the runs of a
	// scenario that ran more than once (E2E_COUNT): absent otherwise.
	Rates []Rate `json:"rates,omitempty"`
	// Unfinished says why the run ended before its scenarios did (the
	// suite's time limit): its scenarios are what was measured by then,
	// and it did not pass.
	Unfinished string `json:"unfinished,omitempty"`
}

// Rate is how often one invariant of a scenario run several times failed:
// Failed of Runs, Known of those by a known issue.
type Rate struct {
	Scenario  string `json:"scenario"`
	Invariant string `json:"invariant"`
	Runs      int    `json:"runs"`
	Failed    int    `json:"failed"`
	Known     int    `json:"known,omitempty"`
}

// Environment is what the run ran on.
type Environment struct {
	DaprdVersion string      `json:"daprdVersion"`
	DaprdPath    string      `json:"daprdPath"`
	GoSDKVersion string      `json:"goSDKVersion"`
	GoVersion    string      `json:"goVersion"`
	Components   []Component `json:"components"`
	// Backend is the backend profile with its servers' versions:
	// "redis (Redis server v=7.0.15 ...)".
	Backend     string  `json:"backend"`
	NATSVersion string  `json:"natsVersion"`
	Machine     Machine `json:"machine"`
}

// Profile is the name of the backend profile the run was on ("redis",
// "postgres-rabbitmq"): Backend's first word, "redis" for a report from
// before it said (there was no other then).
func (e Environment) Profile() string {
	if name, _, _ := strings.Cut(e.Backend, " "); name != "" {
		return name
	}
	return "redis"
}

// Component is a Dapr component the system ran with.
type Component struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

// Machine describes the host.
type Machine struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel"`
	Hostname string `json:"hostname"`
}

// Scenario is one thing the suite did to the system, with what it checked.
type Scenario struct {
	Name            string      `json:"name"`
	DurationSeconds float64     `json:"durationSeconds"`
	Invariants      []Invariant `json:"invariants"`
	Latency         Latency     `json:"latency"`
	// Throughput is requests per second, from the first request's start to
	// the last one's end (setup and checks excluded).
	Throughput float64 `json:"throughput"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	// Resources are the processes' CPU time and memory when the scenario
	// ended, cumulative since each started.
	Resources []Resource `json:"resources"`
	// Phases say what the scenario was doing when: setup, load, a fault.
	Phases []Phase `json:"phases"`
	// Timeline is the requests second by second; Faults the windows in
	// which a fault was injected. Both are absent from older reports.
	Timeline []Second      `json:"timeline,omitempty"`
	Faults   []FaultWindow `json:"faults,omitempty"`
	// Counters are the business counters of the apps and what their
	// sidecars counted (retries, pub/sub outcomes, failed calls) when the
	// scenario ended, keyed "process sample": what explains a finding.
	Counters map[string]float64 `json:"counters,omitempty"`
	// LatencySamplesMs is the latency of every request the scenario
	// measured, in milliseconds and in order (after its warm-up, for one
	// measured one at a time): what a statistical comparison of two runs
	// needs.
	LatencySamplesMs []float64 `json:"latencySamplesMs,omitempty"`
	// OneAtATime is a scenario that sent its measured requests one after
	// another (ScenarioRecorder.MeasureOneAtATime): the cost of each, not
	// queueing, is what its latencies show.
	OneAtATime bool `json:"oneAtATime,omitempty"`
	// OpenLoop is a scenario whose load came at a fixed rate, whatever the
	// pace of the answers (ScenarioRecorder.OpenLoop): its throughput falls
	// only when the system cannot keep up. Any other's throughput (one
	// request at a time, a burst) is its latency's reciprocal.
	OpenLoop bool `json:"openLoop,omitempty"`
	// Measurements are what the scenario measured beside its requests.
	Measurements []Measurement `json:"measurements,omitempty"`
	// Unfinished is a scenario still running when the run was cut short
	// (Report.Unfinished).
	Unfinished bool `json:"unfinished,omitempty"`
}

// Phase is a step of a scenario, from AtSeconds after it started until the
// next phase or the scenario's end.
type Phase struct {
	Name      string  `json:"name"`
	AtSeconds float64 `json:"atSeconds"`
}

// Resource is what one process (a sidecar, an app, a server) used.
type Resource struct {
	Process    string  `json:"process"`
	CPUSeconds float64 `json:"cpuSeconds"`
	RSSMB      float64 `json:"rssMB"`
}

// Invariant is one property checked, with what was expected and seen.
// Known names the upstream issue that a failure of it is known to be (see
// ScenarioRecorder.KnownIssue).
type Invariant struct {
	Name     string `json:"name"`
	Passed   bool   `json:"passed"`
	Expected string `json:"expected"`
	Observed string `json:"observed"`
	Known    string `json:"known,omitempty"`
}

// Latency is the client-side latency of a scenario's requests, in
// milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Finding is something a release manager must look at.
type Finding struct {
	Severity  string `json:"severity"`
	Scenario  string `json:"scenario"`
	Invariant string `json:"invariant"`
	Expected  string `json:"expected"`
	Observed  string `json:"observed"`
}

// Severities of findings.
const (
	// SeverityCritical: an invariant the system promises failed.
	SeverityCritical = "critical"
	// SeverityKnown: an invariant failed the way a known issue of Dapr's
	// own makes it fail; listed, and compared across versions, but the run
	// still passes.
	SeverityKnown = "known"
)

// CallsPerOrder begins the name of a measurement that counts the calls
// one order makes of a kind ("calls per order: daprd-order grpc (all)",
// make bench), which compare flags when a candidate makes more.
const CallsPerOrder = "calls per order: "

// Measurement is one figure a scenario measured, e.g. {"CPU per 1,000
// orders: order", 1.9, "s"}.
type Measurement struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Recorder collects scenarios while tests run; it is safe for concurrent use.
type Recorder struct {
	// Progress, when set before the first scenario, receives a line as
	// each scenario starts, enters a phase and ends, with the time since
	// the run started: a long run shows where it is.
	Progress io.Writer

	mu        sync.Mutex
	started   time.Time
	scenarios []*ScenarioRecorder
	notes     strings.Builder
	cut       string // CutShort's why
	failed    bool   // TestsFailed was called
}

// TestsFailed records that the run's tests failed: Report then does not
// pass, even when no scenario's invariant failed (a test failed before
// any scenario began, say).
func (r *Recorder) TestsFailed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

// CutShort records that the run is about to end before its scenarios do,
// and why: Report then says so, and that it did not pass. CutShort("")
// takes it back: the run ended in time after all.
func (r *Recorder) CutShort(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = why
}

// Note adds Markdown to the report's notes.
func (r *Recorder) Note(markdown string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes.WriteString(markdown)
}

// NewRecorder starts recording a run.
func NewRecorder() *Recorder { return &Recorder{started: time.Now()} }

// T is what a scenario needs of the test that runs it: an invariant that
// does not hold fails the test, and the scenario ends when the test does.
// A *testing.T is one; the report stays a plain library, which the
// commands that compare reports link without the testing package.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	Cleanup(func())
}

// Scenario starts recording the scenario name, run by test t.
func (r *Recorder) Scenario(t T, name string) *ScenarioRecorder {
	s := &ScenarioRecorder{t: t, run: r, name: name, started: time.Now()}
	r.mu.Lock()
	r.scenarios = append(r.scenarios, s)
	r.mu.Unlock()
	r.progress(name, "started")
	t.Cleanup(s.finish)
	return s
}

// progress writes one progress line, if anyone is listening.
func (r *Recorder) progress(scenario, what string) {
	if r.Progress == nil {
		return
	}
	elapsed := time.Since(r.started).Truncate(time.Second)
	fmt.Fprintf(r.Progress, "[e2e %02d:%02d] %s: %s\n", int(elapsed.Minutes()), int(elapsed.Seconds())%60, scenario, what)
}

// Report assembles the run so far.
func (r *Recorder) Report(env Environment) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{SchemaVersion: SchemaVersion, StartedAt: r.started, FinishedAt: time.Now(), Passed: true, Environment: env,
		Scenarios: []Scenario{}, Findings: []Finding{}, Notes: r.notes.String(), Unfinished: r.cut}
	if r.cut != "" {
		rep.Passed = false
		rep.Findings = append(rep.Findings, Finding{Severity: SeverityCritical, Invariant: "the run finished",
			Expected: "every scenario done", Observed: r.cut})
	}
	for _, s := range r.scenarios {
		sc := s.snapshot()
		sc.Unfinished = sc.Unfinished && r.cut != "" // a run not cut short is still going
		if sc.Unfinished {
			rep.Findings = append(rep.Findings, Finding{Severity: SeverityCritical, Scenario: sc.Name, Invariant: "scenario ran to completion",
				Expected: "the scenario completes", Observed: fmt.Sprintf("still running after %.0f s: %s", sc.DurationSeconds, r.cut)})
		}
		rep.Scenarios = append(rep.Scenarios, sc)
		for _, inv := range sc.Invariants {
			switch {
			case inv.Passed:
			case inv.Known != "":
				rep.Findings = append(rep.Findings, Finding{Severity: SeverityKnown, Scenario: sc.Name,
					Invariant: inv.Name, Expected: inv.Expected, Observed: inv.Observed + " (known: " + inv.Known + ")"})
			default:
				rep.Passed = false
				rep.Findings = append(rep.Findings, Finding{Severity: SeverityCritical, Scenario: sc.Name,
					Invariant: inv.Name, Expected: inv.Expected, Observed: inv.Observed})
			}
		}
	}
	if r.failed && rep.Passed {
		rep.Passed = false
		rep.Findings = append(rep.Findings, Finding{Severity: SeverityCritical, Invariant: "every test passed",
			Expected: "go test passes", Observed: "a test failed outside every scenario's invariants: go test's output says which"})
	}
	rep.Rates = rates(rep.Scenarios)
	return rep
}

// rates counts each invariant's failures over the scenarios that ran more
// than once, in the order they first ran.
func rates(scenarios []Scenario) []Rate {
	runs := map[string]int{}
	for _, s := range scenarios {
		runs[s.Name]++
	}
	index := map[[2]string]int{}
	var out []Rate
	for _, s := range scenarios {
		if runs[s.Name] < 2 {
			continue
		}
		for _, inv := range s.Invariants {
			key := [2]string{s.Name, inv.Name}
			i, ok := index[key]
			if !ok {
				i, index[key] = len(out), len(out)
				out = append(out, Rate{Scenario: s.Name, Invariant: inv.Name})
			}
			r := &out[i]
			r.Runs++
			if !inv.Passed {
				r.Failed++
				if inv.Known != "" {
					r.Known++
				}
			}
		}
	}
	return out
}

// ScenarioRecorder records one scenario's invariants and requests.
type ScenarioRecorder struct {
	t          T
	run        *Recorder
	name       string
	mu         sync.Mutex
	started    time.Time
	duration   time.Duration
	invariants []Invariant
	latencies  []time.Duration
	errors     int
	resources  []Resource
	phases     []Phase
	samples    []sample
	faults     []FaultWindow
	counters   map[string]float64
	measured   []Measurement
	finished   bool   // its test has ended
	sampleFrom int    // the latencies from here on are the report's samples
	oneAtATime bool   // MeasureOneAtATime
	openLoop   bool   // OpenLoop
	known      string // the upstream issue its failures are known to be
	// first and last bound the requests in time, for throughput.
	first, last time.Time
}

// Resources records what the system's processes used by now.
func (s *ScenarioRecorder) Resources(r []Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources = slices.Clone(r)
}

// MeasureOneAtATime says that the scenario's warm-up is over and that its
// requests from now on go one after another: the report's samples start
// at the next request (the warm-up counts in the percentiles only).
func (s *ScenarioRecorder) MeasureOneAtATime() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sampleFrom, s.oneAtATime = len(s.latencies), true
}

// OpenLoop says that the scenario's load comes at a fixed rate, whatever
// the pace of the answers (Scenario.OpenLoop).
func (s *ScenarioRecorder) OpenLoop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openLoop = true
}

// Phase records that the scenario enters the phase name (e.g. "checking
// invariants") and reports it as progress.
func (s *ScenarioRecorder) Phase(name string) {
	s.mu.Lock()
	s.phases = append(s.phases, Phase{Name: name, AtSeconds: time.Since(s.started).Seconds()})
	s.mu.Unlock()
	s.run.progress(s.name, name)
}

// Counters records the system's counters as the scenario ends.
func (s *ScenarioRecorder) Counters(c map[string]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters = maps.Clone(c)
}

// Measure records a figure the scenario measured, in unit.
func (s *ScenarioRecorder) Measure(name string, value float64, unit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.measured = append(s.measured, Measurement{Name: name, Value: value, Unit: unit})
}

// KnownIssue says that the scenario shows issue, a bug of Dapr's own
// reported upstream: from now on an invariant that fails is a finding of
// severity "known", which does not fail the test or the run. One that holds
// is news worth a look: the issue may be fixed in the daprd under test.
func (s *ScenarioRecorder) KnownIssue(issue string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known = issue
}

// KnownIssueFor makes issue the known issue of the invariants checked until
// restore is called, which puts back the one before: a Dapr bug that
// explains some of a scenario's invariants, and must not excuse the
// others. An empty issue changes nothing.
func (s *ScenarioRecorder) KnownIssueFor(issue string) (restore func()) {
	if issue == "" {
		return func() {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.known
	s.known = issue
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.known = before
	}
}

// Check records an invariant; when it does not hold, the test fails too,
// unless the scenario shows a known issue.
func (s *ScenarioRecorder) Check(name string, passed bool, expected, observed string) bool {
	s.t.Helper()
	s.mu.Lock()
	known := s.known
	s.invariants = append(s.invariants, Invariant{Name: name, Passed: passed, Expected: expected, Observed: observed, Known: known})
	s.mu.Unlock()
	switch {
	case !passed && known != "":
		s.t.Logf("invariant %q: expected %s, observed %s: known issue: %s", name, expected, observed, known)
	case !passed:
		s.t.Errorf("invariant %q: expected %s, observed %s", name, expected, observed)
	case known != "":
		s.t.Logf("invariant %q held although a known issue (%s) breaks it: is it fixed in this daprd?", name, known)
	}
	return passed
}

// Request records one client request: how long it took, and whether it
// failed (a transport error or a 5xx; refusals the scenario asked for are
// not errors).
func (s *ScenarioRecorder) Request(d time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := time.Now()
	if start := end.Add(-d); s.first.IsZero() || start.Before(s.first) {
		s.first = start
	}
	if end.After(s.last) {
		s.last = end
	}
	s.latencies = append(s.latencies, d)
	s.samples = append(s.samples, sample{end: end, duration: d, failed: failed})
	if failed {
		s.errors++
	}
}

// held counts the invariants of invs that held.
func held(invs []Invariant) int {
	n := 0
	for _, inv := range invs {
		if inv.Passed {
			n++
		}
	}
	return n
}

// invariantsHeld counts the invariants of every scenario of r, and those
// that held.
func (r Report) invariantsHeld() (passed, total int) {
	for _, s := range r.Scenarios {
		passed += held(s.Invariants)
		total += len(s.Invariants)
	}
	return passed, total
}

func (s *ScenarioRecorder) finish() {
	s.mu.Lock()
	s.finished = true
	if s.duration == 0 {
		s.duration = time.Since(s.started)
	}
	if s.t.Failed() && !slices.ContainsFunc(s.invariants, func(i Invariant) bool { return !i.Passed }) {
		// The test failed outside any invariant (it could not even set the
		// system up, say): that is a finding too.
		s.invariants = append(s.invariants, Invariant{Name: "scenario ran to completion", Passed: false,
			Expected: "the scenario completes", Observed: "the test failed; see its log"})
	}
	summary := fmt.Sprintf("done in %s, %d/%d invariants held", s.duration.Round(100*time.Millisecond), held(s.invariants), len(s.invariants))
	s.mu.Unlock()
	s.run.progress(s.name, summary)
}

func (s *ScenarioRecorder) snapshot() Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.duration
	if d == 0 {
		d = time.Since(s.started)
	}
	sc := Scenario{Name: s.name, DurationSeconds: d.Seconds(), Invariants: slices.Clone(s.invariants),
		Latency: Percentiles(s.latencies), Requests: len(s.latencies), Errors: s.errors, Resources: slices.Clone(s.resources)}
	if sc.Resources == nil {
		sc.Resources = []Resource{}
	}
	sc.Phases = slices.Clone(s.phases)
	if sc.Phases == nil {
		sc.Phases = []Phase{}
	}
	sc.Timeline = timeline(s.started, s.samples)
	sc.Faults = slices.Clone(s.faults)
	sc.Counters = maps.Clone(s.counters)
	sc.Measurements = slices.Clone(s.measured)
	sc.OneAtATime, sc.OpenLoop, sc.Unfinished = s.oneAtATime, s.openLoop, !s.finished
	for _, d := range s.latencies[s.sampleFrom:] {
		sc.LatencySamplesMs = append(sc.LatencySamplesMs, float64(d)/float64(time.Millisecond))
	}
	if sc.Invariants == nil {
		sc.Invariants = []Invariant{}
	}
	if span := s.last.Sub(s.first); span > 0 {
		sc.Throughput = float64(len(s.latencies)) / span.Seconds()
	}
	return sc
}

// Percentiles summarises latencies ds; each percentile is the smallest
// latency at or above which that share of ds lies (nearest rank).
func Percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sorted := slices.Clone(ds)
	slices.SortFunc(sorted, cmp.Compare)
	at := func(q float64) float64 {
		i := int(q*float64(len(sorted))+0.5) - 1
		i = max(0, min(i, len(sorted)-1))
		return float64(sorted[i]) / float64(time.Millisecond)
	}
	return Latency{Count: len(sorted), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: at(1)}
}
