// Package soak places orders at a steady rate for a long run against the
// real system (make soak) and records, per tenth of the run, what an order
// costs and what every process and the state store hold, to show whether
// any of it grows with the orders placed. It writes out/soak/report.json,
// .md, .html, in the one report format.
package soak

import (
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/suite"
)

// run is this run of the soak.
var run = suite.New("soak", knobs.ProfileOut(knobs.SoakOut.Value()))

func TestMain(m *testing.M) { os.Exit(run.Main(m)) }
