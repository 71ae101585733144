// Package commands runs the make targets the README gives, as a user types
// them, and checks what they do with the knobs a user sets. Each test starts
// make itself; make's own tests run in network namespaces of their own.
package commands

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
)

// wrongDaprdBudget is how fast a wrong DAPRD must be told: before anything
// is built or started.
const wrongDaprdBudget = 10 * time.Second

// TestE2EWithDaprdElsewhere runs `DAPRD=... make e2e`, as the README has
// it, with a copy of the daprd under test in a directory of its own, given
// relative to the repository as a user at its root would type it, and
// checks the suite ran on that very binary.
func TestE2EWithDaprdElsewhere(t *testing.T) {
	root := repo.Root(t)
	daprd, version, err := system.CheckDaprd(root)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "out"), "daprd-elsewhere-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	copied := filepath.Join(dir, "daprd")
	copyFile(t, daprd, copied)
	rel, err := filepath.Rel(root, copied)
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	runMake(t, root, 10*time.Minute, []string{knobs.Daprd.Name + "=" + rel, knobs.E2EOut.Name + "=" + out, knobs.E2ELogs.Name + "=" + filepath.Join(out, "logs")},
		"e2e", knobs.E2ERun.Name+"=^TestHappyPath$")

	r := readReport(t, filepath.Join(out, "report.json"))
	if got, want := r.Environment.DaprdPath, copied; got != want {
		t.Errorf("report's daprd path = %q, want %q", got, want)
	}
	if got := r.Environment.DaprdVersion; got != version {
		t.Errorf("report's daprd version = %q, want %q", got, version)
	}
	if !r.Passed || len(r.Scenarios) == 0 {
		t.Errorf("suite on the copied daprd: passed %v with %d scenarios, want a passing scenario", r.Passed, len(r.Scenarios))
	}
}

// TestE2EWithWrongDaprd gives make a daprd that is not there and one that
// is not a daprd: each must fail fast, with one message naming the path.
func TestE2EWithWrongDaprd(t *testing.T) {
	root := repo.Root(t)
	notDaprd := filepath.Join(t.TempDir(), "daprd")
	if err := os.WriteFile(notDaprd, []byte("#!/bin/sh\necho 'not a daprd' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, daprd, want string
	}{
		{"missing", "out/no/such/daprd", filepath.Join(root, "out/no/such/daprd") + ": no such file or directory"},
		{"not a daprd", notDaprd, "not a daprd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			start := time.Now()
			stderr, err := tryMake(root, time.Minute, []string{"DAPRD=" + tc.daprd, "E2E_OUT=" + out}, "e2e")
			took := time.Since(start)
			if err == nil {
				t.Fatalf("make e2e DAPRD=%s succeeded, want a failure", tc.daprd)
			}
			if took > wrongDaprdBudget {
				t.Errorf("make e2e DAPRD=%s failed after %s, want within %s", tc.daprd, took.Round(time.Millisecond), wrongDaprdBudget)
			}
			if n := strings.Count(stderr, "daprd under test"); n != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("make e2e DAPRD=%s said (%d times 'daprd under test'):\n%s\nwant it once, with %q", tc.daprd, n, stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(out, "report.json")); err == nil {
				t.Errorf("a report was written for a daprd that never ran")
			}
		})
	}
}

func runMake(t *testing.T, root string, timeout time.Duration, env []string, args ...string) {
	t.Helper()
	if stderr, err := tryMake(root, timeout, env, args...); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
}

// tryMake runs make in root with args and env added to the test's own, and
// returns what it wrote to stderr.
func tryMake(root string, timeout time.Duration, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = root
	// What this test's own run was given (make exports every knob) must not
	// leak into the make under test: it sets its own.
	drop := []string{"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
	for _, k := range knobs.All {
		drop = append(drop, k.Name)
	}
	cmd.Env = append(withoutVars(os.Environ(), drop...), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

func withoutVars(environ []string, names ...string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func readReport(t *testing.T, path string) report.Report {
	t.Helper()
	r, err := report.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
