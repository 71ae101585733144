// Command kube-controller-manager is upstream's kube-controller-manager at the version this module
// pins, built from Go modules (tests/harness/cluster runs it).
package main

import (
	"os"

	_ "time/tzdata" // CronJob time zones

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"

	"github.com/daprshop/daprshop/tools/kubernetes/internal/stop"
)

func main() {
	stop.OnSignal()
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
