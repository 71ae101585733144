// Package e2e runs daprshop end to end against real daprd sidecars, Redis
// and NATS, inside a network namespace of its own.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/system"
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := system.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	if netns.Inside() {
		daprd, err := system.DaprdPath(root)
		if err == nil {
			err = system.Preflight(root, daprd)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 2
		}
		recorder.Progress = os.Stderr
		code := m.Run()
		if err := writeReport(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e report:", err)
			return 1
		}
		return code
	}
	// Before building anything: a daprd that is not there or does not run
	// is one error, in seconds.
	daprd, version, err := system.CheckDaprd(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "e2e: daprd %s (%s)\n", version, daprd)
	remove, err := system.BuildServices()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	return netns.Reexec()
}
