// Package suite runs scenarios on a whole daprshop and reports them: the
// TestMain of a suite, the scenarios it records, and the shop as the
// scenarios' clients see it. The e2e suite and the benchmark are built on
// it; it is built on the harness (what starts things) and the report (a
// plain library).
package suite

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
)

// Run is one run of a suite: the scenarios it records, and where its
// report goes.
type Run struct {
	name     string
	out      string
	recorder *report.Recorder
}

// New returns the run of suite name, whose report goes to out (a relative
// path is relative to the repository).
func New(name, out string) *Run {
	return &Run{name: name, out: out, recorder: report.NewRecorder()}
}

// Main is the suite's TestMain. Outside the network namespace it checks the
// daprd under test (a wrong DAPRD is one error, in seconds), builds the
// services, and runs the test binary again inside a namespace of its own.
// Inside, it starts that daprd once alone (a daprd that cannot start is one
// error, not a finding in every scenario), runs the tests, and writes the
// report: report.json, .md, .html with its screenshot, junit.xml.
//
//	var run = suite.New("e2e", knobs.E2EOut.Value())
//	func TestMain(m *testing.M) { os.Exit(run.Main(m)) }
//
// The backend profile (knobs.Backend) decides the namespace: one whose
// servers need root (PostgreSQL) runs the tests as root in a network and
// mount namespace, as MainPrivileged does.
func (r *Run) Main(m *testing.M) int {
	r.recorder.Progress = os.Stderr
	return system.Main(m, system.MainOptions{Name: r.name, Services: true, Preflight: true, Backend: true, After: r.finished, BeforeTimeout: r.cutShort})
}

// MainPrivileged is Main for a suite that boots machines or runs a
// Kubernetes node: prepare (when not nil) runs
// first, outside the namespace (it may use the network), and the tests run
// as root in a network and mount namespace of their own
// (netns.ReexecPrivileged). prepare runs again inside, where it must find
// what it made (system.MainOptions.Prepare).
func (r *Run) MainPrivileged(m *testing.M, prepare func(root string) error) int {
	if os.Geteuid() != 0 {
		// make test runs as root in CI; a developer's make test without
		// root runs everything else.
		fmt.Fprintf(os.Stderr, "%s: not run: it needs root (machines, a Kubernetes node)\n", r.name)
		return 0
	}
	r.recorder.Progress = os.Stderr
	return system.Main(m, system.MainOptions{Name: r.name, Services: true, Privileged: true, Prepare: prepare, After: r.finished, BeforeTimeout: r.cutShort})
}

// Scenario starts recording scenario name, run by test t; it ends with t.
func (r *Run) Scenario(t *testing.T, name string) *report.ScenarioRecorder {
	return r.recorder.Scenario(t, name)
}

// Out is the directory the run's report goes to, as New was told: a
// relative one is taken relative to the repository at root.
func (r *Run) Out(root string) string {
	if filepath.IsAbs(r.out) {
		return r.out
	}
	return filepath.Join(root, r.out)
}

// Note adds Markdown to the report's notes (report.Report.Notes).
func (r *Run) Note(markdown string) { r.recorder.Note(markdown) }

// finished writes the report of the whole run, which ended in time even if
// cutShort, with moments to go, thought it would not, and says whether
// its tests passed: one may fail outside every scenario (a knob refused,
// a cluster that does not start).
func (r *Run) finished(passed bool) error {
	r.recorder.CutShort("")
	if !passed {
		r.recorder.TestsFailed()
	}
	return r.writeReport()
}

// cutShort writes the report of what was measured before the suite's time
// limit ends it: a run too slow to finish still says how far it got.
func (r *Run) cutShort(limit time.Duration) {
	r.recorder.CutShort(fmt.Sprintf("stopped by the suite's time limit (go test -timeout %s) before every scenario ended", limit))
	if err := r.writeReport(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: the report of the run cut short: %v\n", r.name, err)
	}
}

func (r *Run) writeReport() error {
	root, err := repo.Find()
	if err != nil {
		return err
	}
	dir := r.Out(root)
	env := system.Env{Root: root, BinDir: system.ServicesDir(root)}
	if daprd, err := system.DaprdPath(root); err == nil {
		env.Daprd = daprd
	}
	rep := r.recorder.Report(Describe(env))
	if err := report.Write(dir, rep); err != nil {
		return err
	}
	// report.png: what a reader of report.html sees, taken by a real
	// browser, which also proves the page renders offline without errors.
	if err := report.Screenshot(context.Background(), dir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s report: %s (passed: %v, %d findings)\n", r.name, filepath.Join(dir, "report.md"), rep.Passed, len(rep.Findings))
	return nil
}

// Start starts the system for test t, as a shop whose requests are timed
// into scenario sc (nil: none), and stops it when the test ends. With a
// scenario, the processes' resource use and counters are recorded before
// they stop, and that each stopped cleanly is one of its invariants;
// without, a process that did not stop cleanly fails the test.
func Start(t *testing.T, sc *report.ScenarioRecorder, opts system.Options) *Shop {
	t.Helper()
	sys := system.Start(t, opts)
	t.Cleanup(func() { // runs before the processes' own cleanups, which find them stopped
		if sc != nil {
			sc.Resources(Resources(sys.Usage()))
			sc.Counters(sys.Counters())
		}
		failures := sys.Stop()
		known := sys.Profile.KnownShutdown(failures, opts)
		if sc == nil {
			for _, f := range failures {
				if known != "" {
					t.Logf("%s: known issue: %s", f, known)
				} else {
					t.Error(f)
				}
			}
			return
		}
		if known != "" {
			// The last invariant: the issue excuses no other.
			sc.KnownIssue(known)
		}
		sc.Check("every process shut down cleanly", len(failures) == 0,
			fmt.Sprintf("exit 0 on SIGINT, each sidecar within its %d s grace period", system.DaprdGracefulShutdownSeconds),
			strings.Join(failures, "; "))
	})
	return &Shop{System: sys, Scenario: sc}
}

// Resources is usage, by process, as the report lists it.
func Resources(usage map[string]proc.Usage) []report.Resource {
	out := make([]report.Resource, 0, len(usage))
	for _, name := range slices.Sorted(maps.Keys(usage)) {
		u := usage[name]
		out = append(out, report.Resource{Process: name, CPUSeconds: u.CPUSeconds, RSSMB: float64(u.RSSBytes) / (1 << 20)})
	}
	return out
}
