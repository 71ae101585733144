package compare

import (
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/report"
)

func TestMatrixMarksEachVersionAgainstThePrevious(t *testing.T) {
	m := NewMatrix([]report.Report{
		run("1.16.5", 6, 14, 20, 100, true),
		run("1.17.5", 6, 40, 20, 100, true),  // p99 worse than 1.16.5
		run("1.18.2", 6, 40, 20, 100, false), // as slow as 1.17.5, but an invariant fails
	}, DefaultThresholds)

	if len(m.Rows) != 1 || len(m.Rows[0].Cells) != 3 {
		t.Fatalf("got %d rows, want one scenario on three versions: %+v", len(m.Rows), m.Rows)
	}
	cells := m.Rows[0].Cells
	if len(cells[0].Regressed) != 0 {
		t.Errorf("the oldest version has nothing to regress against: %v", cells[0].Regressed)
	}
	if got := strings.Join(cells[1].Regressed, "; "); !strings.Contains(got, "latency p99") || strings.Contains(got, "invariant") {
		t.Errorf("1.17.5 regressed %q, want only its p99", got)
	}
	if got := strings.Join(cells[2].Regressed, "; "); !strings.Contains(got, "invariant no oversell") || strings.Contains(got, "latency") {
		t.Errorf("1.18.2 regressed %q, want only the invariant (its latency is 1.17.5's)", got)
	}
	if got, want := cells[2].Held, 0; got != want {
		t.Errorf("1.18.2 held %d invariants, want %d", got, want)
	}
	page, err := m.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page, `class="bad"`); n != 2 {
		t.Errorf("matrix.html has %d red cells, want 2", n)
	}
}

// TestMatrixSaysWhenAKnownIssueStopsReproducing has a finding fail an
// invariant as known on two versions and hold on the third: the matrix
// names the third, the scenario and the invariant, with what the report
// said of the issue; an invariant that simply failed and then held is a
// fix, not a finding that stopped.
func TestMatrixSaysWhenAKnownIssueStopsReproducing(t *testing.T) {
	const known = "daprd panics on a non-string traceid (dapr/dapr#10319); see docs/findings.md#non-string-traceid-panic"
	withKnown := func(version string) report.Report {
		r := run(version, 6, 14, 20, 100, false)
		r.Scenarios[0].Invariants[0].Known = known
		return r
	}
	m := NewMatrix([]report.Report{
		run("1.16.5", 6, 14, 20, 100, false), // failed, not known: then fixed, no finding
		withKnown("1.18.2"),
		withKnown("1.18.2-again"),
		run("1.18.3", 6, 14, 20, 100, true),
	}, DefaultThresholds)
	want := []StoppedIssue{{Version: "1.18.3", Scenario: "load", Invariant: "no oversell", Known: known}}
	if !slices.Equal(m.Stopped, want) {
		t.Fatalf("stopped %+v, want %+v", m.Stopped, want)
	}
	page, err := m.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"matrix.md": m.Markdown(), "matrix.html": page} {
		if !strings.Contains(text, "Known issues that stopped reproducing") || !strings.Contains(text, "1.18.3 · load · no oversell") {
			t.Errorf("%s does not say the issue stopped on 1.18.3:\n%s", name, text)
		}
	}
}

// TestMatrixComparesEachVersionOnItsOwnProfile: versions on two backend
// profiles (version x profile) are each compared with the version before
// them on the same profile, never across profiles, and each column says
// its profile.
func TestMatrixComparesEachVersionOnItsOwnProfile(t *testing.T) {
	on := func(r report.Report, backend string) report.Report {
		r.Environment.Backend = backend + " (servers' versions)"
		return r
	}
	m := NewMatrix([]report.Report{
		on(run("1.18.0", 6, 14, 20, 100, true), "redis"),
		on(run("1.18.2", 6, 14, 20, 100, true), "redis"),
		on(run("1.18.0", 6, 40, 20, 100, true), "postgres-rabbitmq"), // slower than redis: not a regression
		on(run("1.18.2", 6, 40, 20, 100, false), "postgres-rabbitmq"),
	}, DefaultThresholds)
	if !slices.Equal(m.Profiles, []string{"redis", "redis", "postgres-rabbitmq", "postgres-rabbitmq"}) {
		t.Fatalf("profiles %v", m.Profiles)
	}
	cells := m.Rows[0].Cells
	if got := strings.Join(cells[2].Regressed, "; "); got != "" {
		t.Errorf("1.18.0 on postgres-rabbitmq compared with 1.18.2 on redis: %q", got)
	}
	if got := strings.Join(cells[3].Regressed, "; "); !strings.Contains(got, "invariant no oversell") || strings.Contains(got, "latency") {
		t.Errorf("1.18.2 on postgres-rabbitmq regressed %q, want only the invariant (its latency is 1.18.0's there)", got)
	}
	if md := m.Markdown(); !strings.Contains(md, "| 1.18.0 · postgres-rabbitmq (") {
		t.Errorf("matrix.md does not name each column's profile:\n%s", md)
	}
	if got := NewMatrix([]report.Report{run("1.18.0", 6, 14, 20, 100, true)}, DefaultThresholds).Column(0); got != "1.18.0" {
		t.Errorf("one profile: column %q, want the version alone", got)
	}
}
