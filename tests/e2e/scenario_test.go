package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
)

// EnvOut names the directory the report goes to; default out/e2e. A
// relative path is relative to the repository, not to this package.
const EnvOut = "E2E_OUT"

// recorder is this run's report, written by TestMain when the tests end.
var recorder = report.NewRecorder()

// scenarios maps a test's name to the scenario it records, so that the
// request helpers can time requests for it.
var scenarios sync.Map

// scenario starts recording scenario name for test t.
func scenario(t *testing.T, name string) *report.ScenarioRecorder {
	s := recorder.Scenario(t, name)
	scenarios.Store(t.Name(), s)
	return s
}

// scenarioOf returns the scenario t, or the test it is a subtest of,
// records; nil when there is none.
func scenarioOf(t *testing.T) *report.ScenarioRecorder {
	for name := t.Name(); ; {
		if s, ok := scenarios.Load(name); ok {
			return s.(*report.ScenarioRecorder)
		}
		i := strings.LastIndex(name, "/")
		if i < 0 {
			return nil
		}
		name = name[:i]
	}
}

// startSystem starts the system for test t and stops it when the test
// ends: when t records a scenario, the processes' resource use is recorded
// before they stop, and that each stopped cleanly is an invariant.
func startSystem(t *testing.T, opts system.Options) *system.System {
	t.Helper()
	sys := system.Start(t, opts)
	t.Cleanup(func() { // runs before the processes' own cleanups, which find them stopped
		s := scenarioOf(t)
		if s != nil {
			s.Resources(sys.Usage())
			s.Counters(sys.Counters())
		}
		failures := sys.Stop()
		if s == nil {
			for _, f := range failures {
				t.Error(f)
			}
			return
		}
		s.Check("every process shut down cleanly", len(failures) == 0,
			fmt.Sprintf("exit 0 on SIGINT, each sidecar within its %d s grace period", system.DaprdGracefulShutdownSeconds),
			strings.Join(failures, "; "))
	})
	return sys
}

func writeReport() error {
	root, err := system.RepoRoot()
	if err != nil {
		return err
	}
	dir := os.Getenv(EnvOut)
	if dir == "" {
		dir = filepath.Join("out", "e2e")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	env := system.Env{Root: root, BinDir: os.Getenv(system.EnvBinDir)}
	if daprd, err := system.DaprdPath(root); err == nil {
		env.Daprd = daprd
	}
	r := recorder.Report(system.Describe(env))
	if err := report.Write(dir, r); err != nil {
		return err
	}
	// report.png: what a reader of report.html sees, taken by a real
	// browser, which also proves the page renders offline without errors.
	if err := report.Screenshot(context.Background(), dir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e report: %s (passed: %v, %d findings)\n", filepath.Join(dir, "report.md"), r.Passed, len(r.Findings))
	return nil
}
