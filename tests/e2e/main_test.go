// Package e2e runs daprshop end to end against real daprd sidecars, Redis
// and NATS, inside a network namespace of its own: the conformance
// scenarios, and the faults injected under load. It writes the report to
// E2E_OUT (out/e2e).
package e2e

import (
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/suite"
)

// run is this run of the suite; every scenario is recorded in it.
var run = suite.New("e2e", knobs.E2EOut.Value())

func TestMain(m *testing.M) { os.Exit(run.Main(m)) }
