// Package vms runs daprshop the way deploy/selfhosted tells an operator to:
// four booted Debian machines on one bridge (backends, order, inventory,
// notification), where install.sh lays it out and systemd runs every unit,
// and checks the suite's invariants against them (make vm-e2e). It writes
// its report to VM_E2E_OUT (out/vm-e2e) in the one report format.
package vms

import (
	"fmt"
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/machine"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/suite"
)

// run is this run of the suite; every scenario is recorded in it.
var run = suite.New("vm-e2e", knobs.ProfileOut(knobs.VMOut.Value()))

// image is the machines' image, built before the namespace is entered.
var image string

func TestMain(m *testing.M) {
	os.Exit(run.MainPrivileged(m, func(root string) error {
		profile, err := system.SelectedProfile()
		if err != nil {
			return err
		}
		backend, ok := backendVMs[profile.Name]
		if !ok {
			return fmt.Errorf("no backends VM for profile %s", profile.Name)
		}
		image, err = machine.EnsureImage(root, append(backend.servers, natsServer)...)
		return err
	}))
}
