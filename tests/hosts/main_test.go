// Package hosts checks deploy/selfhosted, what an operator puts on VMs: the
// systemd units pass systemd-analyze verify and agree with the run file, and
// the system works across hosts. For that it makes network namespaces into
// hosts joined by a bridge, installs with deploy/selfhosted/install.sh, and
// starts every process from the units' own ExecStart lines, env files and
// credentials, with sentry's mTLS and the API tokens.
package hosts_test

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
	if netns.Inside() {
		return m.Run()
	}
	root, err := system.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, _, err := system.CheckDaprd(root); err != nil {
		fmt.Fprintln(os.Stderr, "hosts:", err)
		return 2
	}
	remove, err := system.BuildServices()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	return netns.Reexec()
}
