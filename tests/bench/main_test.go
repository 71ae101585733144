// Package bench measures what daprshop costs on this machine (make bench):
// the pipeline at a fixed rate and at saturation, the sidecar's overhead
// next to direct calls, and where an order's time and the apps' CPU go. It
// writes out/bench/report.json, .md, .html, in the one report format, which
// rc-check reads.
package bench

import (
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/suite"
)

// bench is this run of the benchmark; its phases are recorded in it.
var bench = suite.New("bench", knobs.ProfileOut("out/bench"))

func TestMain(m *testing.M) { os.Exit(bench.Main(m)) }
