package report

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeTB records failures instead of failing the test that uses it.
type fakeTB struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Failed() bool          { return f.failed }
func (f *fakeTB) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) runCleanups() {
	for _, fn := range f.cleanups {
		fn()
	}
}

func TestReportTurnsFailedInvariantsIntoFindings(t *testing.T) {
	rec := NewRecorder()
	ok, bad := &fakeTB{TB: t}, &fakeTB{TB: t}
	a := rec.Scenario(ok, "happy path")
	a.Check("order confirmed", true, "201", "201")
	for i := range 100 {
		a.Request(time.Duration(i+1)*time.Millisecond, i == 0)
	}
	b := rec.Scenario(bad, "oversell")
	b.Check("no oversell", false, "5 confirmed", "24 confirmed")
	ok.runCleanups()
	bad.runCleanups()

	if !bad.failed || ok.failed {
		t.Errorf("a failed invariant must fail its test, and only it: got failed=%v/%v", ok.failed, bad.failed)
	}
	r := rec.Report(Environment{DaprdVersion: "1.16.5"})
	if r.Passed || len(r.Findings) != 1 || r.Findings[0].Scenario != "oversell" || r.Findings[0].Observed != "24 confirmed" {
		t.Fatalf("got passed=%v findings %+v, want one finding for oversell", r.Passed, r.Findings)
	}
	l := r.Scenarios[0].Latency
	if l.Count != 100 || l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 || r.Scenarios[0].Errors != 1 {
		t.Errorf("latency: got %+v errors %d, want p50 50 p90 90 p99 99 max 100 and 1 error", l, r.Scenarios[0].Errors)
	}

	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	data, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(data, &back); err != nil || back.SchemaVersion != SchemaVersion {
		t.Errorf("report.json: %v, schema %d", err, back.SchemaVersion)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.HasPrefix(string(md), "# daprshop e2e: FAILED") || !strings.Contains(string(md), "24 confirmed") {
		t.Errorf("report.md does not lead with the verdict and the evidence:\n%s", md)
	}
	var suites junitSuites
	xmlData, _ := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err := xml.Unmarshal(xmlData, &suites); err != nil || len(suites.Suites) != 2 || suites.Suites[1].Failures != 1 {
		t.Errorf("junit.xml: %v, %+v", err, suites)
	}
}

func TestAFailedTestWithoutFailedInvariantsIsAFinding(t *testing.T) {
	rec := NewRecorder()
	tb := &fakeTB{TB: t}
	rec.Scenario(tb, "setup")
	tb.failed = true // e.g. the system never became ready
	tb.runCleanups()
	if r := rec.Report(Environment{}); r.Passed || len(r.Findings) != 1 {
		t.Errorf("got passed=%v with %d findings, want a finding for the failed scenario", r.Passed, len(r.Findings))
	}
}

// A run whose tests failed before any scenario began (a knob refused,
// say) did not pass; one whose scenarios' invariants already say why it
// failed gets no second finding.
func TestTestsFailedOutsideEveryScenarioIsAFinding(t *testing.T) {
	rec := NewRecorder()
	rec.TestsFailed()
	if r := rec.Report(Environment{}); r.Passed || len(r.Findings) != 1 || r.Findings[0].Invariant != "every test passed" {
		t.Errorf("no scenario, tests failed: passed=%v, findings %+v; want one finding, not passed", r.Passed, r.Findings)
	}
	rec = NewRecorder()
	tb := &fakeTB{TB: t}
	rec.Scenario(tb, "happy path").Check("order confirmed", false, "201", "500")
	tb.runCleanups()
	rec.TestsFailed()
	if r := rec.Report(Environment{}); r.Passed || len(r.Findings) != 1 || r.Findings[0].Invariant != "order confirmed" {
		t.Errorf("an invariant failed: findings %+v, want only its own", r.Findings)
	}
}

func TestProgressPhasesAndSidecarTroubleAreReported(t *testing.T) {
	var progress strings.Builder
	rec := NewRecorder()
	rec.Progress = &progress
	tb := &fakeTB{TB: t}
	s := rec.Scenario(tb, "fault: redis killed")
	s.Phase("fault injected")
	s.Check("stock conserved", true, "150", "150")
	s.Counters(map[string]float64{
		`daprd-order dapr_component_state_count{success="true"}`:                           40,
		`daprd-order dapr_component_state_count{success="false"}`:                          7,
		`daprd-order dapr_resiliency_activations_total{policy="retry"}`:                    3,
		`daprd-notification dapr_component_pubsub_ingress_count{process_status="success"}`: 9,
	})
	tb.runCleanups()

	for _, want := range []string{"fault: redis killed: started", "fault: redis killed: fault injected", "fault: redis killed: done in", "1/1 invariants held"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	r := rec.Report(Environment{})
	if got := r.Scenarios[0].Phases; len(got) != 1 || got[0].Name != "fault injected" {
		t.Errorf("phases: got %+v, want the fault", got)
	}
	md := Markdown(r)
	for _, want := range []string{`dapr_component_state_count{success="false"}` + "` | 7", `policy="retry"}` + "` | 3", "_timeline: 0.0s fault injected_"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, unwanted := range []string{`success="true"`, `process_status="success"`} {
		if strings.Contains(md, unwanted) {
			t.Errorf("report.md shows %s, which is a success", unwanted)
		}
	}
}

func TestKnownIssueIsReportedWithoutFailingTheRun(t *testing.T) {
	rec := NewRecorder()
	tb := &fakeTB{TB: t}
	s := rec.Scenario(tb, "outbox redelivery")
	s.KnownIssue("dapr/dapr: outbox forwarder retries forever")
	s.Check("redelivered event settled", false, "none pending", "1 pending")
	tb.runCleanups()

	if tb.failed {
		t.Error("an invariant failing by a known issue failed its test")
	}
	r := rec.Report(Environment{})
	if !r.Passed || len(r.Findings) != 1 || r.Findings[0].Severity != SeverityKnown {
		t.Fatalf("got passed=%v findings %+v, want a passing run with one known finding", r.Passed, r.Findings)
	}
	if md := Markdown(r); !strings.Contains(md, "PASSED: every invariant held but 1 failing by a known Dapr issue") {
		t.Errorf("report.md verdict does not say the run passed with a known issue:\n%s", md)
	}
	junit, err := JUnit(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(junit), "<skipped message=\"known issue") || strings.Contains(string(junit), "<failure") {
		t.Errorf("junit.xml: want the invariant skipped, not failed:\n%s", junit)
	}
}

// TestSamplesAreEveryRequestAfterTheWarmUp: every scenario's report has
// its requests' latencies, in order; one that starts its samples after a
// warm-up has those after it only, and the warm-up in its percentiles.
func TestSamplesAreEveryRequestAfterTheWarmUp(t *testing.T) {
	rec := NewRecorder()
	tb := &fakeTB{TB: t}
	load := rec.Scenario(tb, "load")
	load.Request(3*time.Millisecond, false)
	load.Request(4*time.Millisecond, true)
	measured := rec.Scenario(tb, "invocation latency")
	measured.Request(50*time.Millisecond, false) // warm-up
	measured.MeasureOneAtATime()
	measured.Request(time.Millisecond, false)
	measured.Request(2*time.Millisecond, false)
	tb.runCleanups()
	scenarios := rec.Report(Environment{}).Scenarios
	if got := scenarios[0].LatencySamplesMs; !slices.Equal(got, []float64{3, 4}) {
		t.Errorf("load: samples %v, want [3 4]: every request, in order", got)
	}
	sc := scenarios[1]
	if got := sc.LatencySamplesMs; !slices.Equal(got, []float64{1, 2}) {
		t.Errorf("invocation latency: samples %v, want [1 2]: the requests after MeasureOneAtATime, in order", got)
	}
	if scenarios[0].OneAtATime || !sc.OneAtATime {
		t.Errorf("one at a time: load %v, invocation latency %v; want false, true", scenarios[0].OneAtATime, sc.OneAtATime)
	}
	if sc.Requests != 3 || sc.Latency.Max != 50 {
		t.Errorf("invocation latency: %d requests, max %v ms; want all 3, the warm-up's 50 ms the max", sc.Requests, sc.Latency.Max)
	}
}

func TestMeasurementsAndNotesAreWritten(t *testing.T) {
	rec := NewRecorder()
	tb := &fakeTB{TB: t}
	sc := rec.Scenario(tb, "bench: pipeline")
	sc.Measure("CPU per 1,000 orders: daprd-order", 1.25, "s")
	rec.Note("## The benchmark's tables\n\n| a | b |\n")
	tb.runCleanups()

	dir := t.TempDir()
	if err := Write(dir, rec.Report(Environment{})); err != nil {
		t.Fatal(err)
	}
	back, err := Read(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Measurement{Name: "CPU per 1,000 orders: daprd-order", Value: 1.25, Unit: "s"}
	if got := back.Scenarios[0].Measurements; len(got) != 1 || got[0] != want {
		t.Errorf("measurements read back: got %+v, want [%+v]", got, want)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| bench: pipeline | CPU per 1,000 orders: daprd-order | 1.25 | s |", "## The benchmark's tables"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "CPU per 1,000 orders: daprd-order") {
		t.Error("report.html lacks the measurement")
	}
}

// TestRatesCountFailuresOverRepeatedRuns records one scenario three times
// (as E2E_COUNT=3 runs it) with an invariant failing once and another
// failing once by a known issue, and a scenario run once: the rates are
// the repeated scenario's, per invariant, and report.md shows them.
func TestRatesCountFailuresOverRepeatedRuns(t *testing.T) {
	rec := NewRecorder()
	for i := range 3 {
		tb := &fakeTB{TB: t}
		s := rec.Scenario(tb, "notification crash")
		s.Check("every order notified", i != 1, "200 notified", "199 notified")
		if i == 2 {
			s.KnownIssue("a known Dapr issue")
		}
		s.Check("shut down cleanly", i != 2, "exit 0", "exit 2")
		tb.runCleanups()
	}
	once := &fakeTB{TB: t}
	rec.Scenario(once, "happy path").Check("order confirmed", true, "201", "201")
	once.runCleanups()

	r := rec.Report(Environment{})
	want := []Rate{
		{Scenario: "notification crash", Invariant: "every order notified", Runs: 3, Failed: 1},
		{Scenario: "notification crash", Invariant: "shut down cleanly", Runs: 3, Failed: 1, Known: 1},
	}
	if !slices.Equal(r.Rates, want) {
		t.Fatalf("rates %+v, want %+v", r.Rates, want)
	}
	if md := Markdown(r); !strings.Contains(md, "| notification crash | every order notified | 3 | 1 | 0 |") {
		t.Errorf("report.md does not show the rates:\n%s", md)
	}
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, `<td>every order notified</td><td class="n">3</td><td class="n">1</td>`) {
		t.Errorf("report.html does not show the rates:\n%s", page)
	}
}

// TestCutShortSaysWhatWasMeasured: a run cut short (by its time limit)
// reports what it measured by then, the scenario still running marked,
// and does not pass.
func TestCutShortSaysWhatWasMeasured(t *testing.T) {
	rec := NewRecorder()
	done, running := &fakeTB{TB: t}, &fakeTB{TB: t}
	rec.Scenario(done, "happy path").Check("order confirmed", true, "201", "201")
	done.runCleanups()
	slow := rec.Scenario(running, "load")
	slow.Request(time.Millisecond, false)
	if rep := rec.Report(Environment{}); rep.Unfinished != "" || rep.Scenarios[1].Unfinished || !rep.Passed {
		t.Fatalf("before the cut: unfinished %q, load unfinished %v, passed %v; want a run still going", rep.Unfinished, rep.Scenarios[1].Unfinished, rep.Passed)
	}
	rec.CutShort("the suite's time limit (20m0s) is near")
	rep := rec.Report(Environment{})
	if rep.Passed || rep.Unfinished == "" || rep.Scenarios[0].Unfinished || !rep.Scenarios[1].Unfinished || rep.Scenarios[1].Requests != 1 {
		t.Errorf("cut short: passed %v, unfinished %q, scenarios %+v; want not passed, the load unfinished with its request", rep.Passed, rep.Unfinished, rep.Scenarios)
	}
	if md := Markdown(rep); !strings.Contains(md, "load · scenario ran to completion") || !strings.Contains(md, "time limit") {
		t.Errorf("report.md does not say what was cut short:\n%s", md)
	}
}
