// Command kube-proxy is upstream's kube-proxy at the version this module
// pins, built from Go modules (tests/harness/cluster runs it).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-proxy/app"

	"github.com/daprshop/daprshop/tools/kubernetes/internal/stop"
)

func main() {
	stop.OnSignal()
	os.Exit(cli.Run(app.NewProxyCommand()))
}
