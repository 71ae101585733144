// Package hosts checks deploy/selfhosted, what an operator puts on VMs: the
// systemd units pass systemd-analyze verify and agree with the run file, and
// the system works across hosts. For that it makes network namespaces into
// hosts joined by a bridge, installs with deploy/selfhosted/install.sh, and
// starts every process from the units' own ExecStart lines, env files and
// credentials, with sentry's mTLS and the API tokens.
package hosts_test

import (
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/system"
)

func TestMain(m *testing.M) {
	os.Exit(system.Main(m, system.MainOptions{Name: "hosts", Services: true}))
}
