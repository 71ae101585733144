package system

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// MainOptions say what a test package's TestMain prepares (Main).
type MainOptions struct {
	// Name starts every line TestMain prints, e.g. "e2e".
	Name string
	// Services builds the services first (BuildServices), for tests that
	// start the apps.
	Services bool
	// Preflight starts the daprd under test once alone, inside the
	// namespace, before any test: a daprd that cannot start here is one
	// error, not the same failure in every test.
	Preflight bool
	// After runs inside the namespace once the tests have run (writing
	// the report, say), told whether they passed; its error fails the
	// run.
	After func(passed bool) error
	// BeforeTimeout runs, told the limit, once the tests have run for
	// all but TimeoutMargin of go test's -timeout, which then ends the
	// binary without After: a suite writes what it measured by then.
	BeforeTimeout func(limit time.Duration)
	// Prepare runs with the repository's root before the namespace is
	// entered, where it may use the network (to build a machine image,
	// say), and again inside, before the tests, where it must find what it
	// made.
	Prepare func(root string) error
	// Privileged enters a network and mount namespace as root, without a
	// user namespace, for tests that boot machines (netns.ReexecPrivileged).
	Privileged bool
	// Backend says the tests start the servers of the backend profile
	// knobs.Backend selects: a bad value is one error before anything
	// starts, and a profile whose servers need root (Profile.Privileged)
	// makes the run Privileged.
	Backend bool
}

// Main is the TestMain of a package whose tests start daprd.
// Outside the network namespace it checks the daprd under test, so that a
// wrong DAPRD is one error in seconds, builds what opts ask for (nothing
// inside the namespace reaches the network), and runs the test binary again
// inside a namespace of its own. Inside, it runs the tests.
//
//	func TestMain(m *testing.M) { os.Exit(system.Main(m, system.MainOptions{Name: "hosts", Services: true})) }
func Main(m *testing.M, opts MainOptions) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmp.Or(opts.Name, "test"), err)
		return code
	}
	root, err := repo.Find()
	if err != nil {
		return fail(2, err)
	}
	if netns.Inside() {
		if opts.Prepare != nil {
			if err := opts.Prepare(root); err != nil {
				return fail(2, err)
			}
		}
		if opts.Preflight {
			daprd, err := DaprdPath(root)
			if err == nil {
				err = Preflight(root, daprd)
			}
			if err != nil {
				return fail(2, err)
			}
		}
		stop := func() {}
		if opts.BeforeTimeout != nil {
			stop = beforeTimeout(opts.BeforeTimeout)
		}
		code := m.Run()
		stop()
		if opts.After != nil {
			if err := opts.After(code == 0); err != nil {
				return fail(1, err)
			}
		}
		return code
	}
	if opts.Backend {
		profile, err := SelectedProfile()
		if err == nil && profile.Privileged && os.Geteuid() != 0 {
			err = fmt.Errorf("the %s profile starts PostgreSQL, which needs root here: run as root", profile.Name)
		}
		if err != nil {
			return fail(2, err)
		}
		opts.Privileged = opts.Privileged || profile.Privileged
	}
	daprd, version, err := CheckDaprd(root)
	if err != nil {
		return fail(2, err)
	}
	fmt.Fprintf(os.Stderr, "%s: daprd %s (%s)\n", cmp.Or(opts.Name, "test"), version, daprd)
	if opts.Services {
		remove, err := BuildServices()
		if err != nil {
			return fail(1, err)
		}
		defer remove()
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(root); err != nil {
			return fail(1, err)
		}
	}
	if opts.Privileged {
		return netns.ReexecPrivileged()
	}
	return netns.Reexec()
}

// TimeoutMargin is how long before go test's -timeout MainOptions.
// BeforeTimeout runs: time for a report, its screenshot included.
const TimeoutMargin = time.Minute

// beforeTimeout has f run TimeoutMargin before the -timeout of the tests
// about to run (whose clock starts with m.Run), if they have one longer
// than that; it returns what cancels it.
func beforeTimeout(f func(limit time.Duration)) (stop func()) {
	// TestMain parses the flags itself to read one before m.Run.
	flag.Parse()
	limit := time.Duration(0)
	if timeout := flag.Lookup("test.timeout"); timeout != nil {
		limit, _ = timeout.Value.(flag.Getter).Get().(time.Duration)
	}
	if limit <= TimeoutMargin {
		return func() {}
	}
	timer := time.AfterFunc(limit-TimeoutMargin, func() { f(limit) })
	return func() { timer.Stop() }
}
