// Package k8s runs daprshop the way deploy/k8s tells a platform team to: a
// one-node Kubernetes cluster built here (tests/harness/cluster), Dapr's
// control plane installed from its Helm chart with deploy/k8s's values,
// daprshop applied from its overlays with the images make images built, and
// the suite's invariants checked against it, with faults the Kubernetes
// way (make k8s-e2e). It writes its report in the one report format to
// K8S_E2E_OUT (out/k8s-e2e/report.json).
package k8s

import (
	"os"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/suite"
)

// run is this run of the suite; every scenario is recorded in it.
var run = suite.New("k8s-e2e", knobs.ProfileOut(knobs.K8SOut.Value()))

func TestMain(m *testing.M) { os.Exit(run.MainPrivileged(m, nil)) }
