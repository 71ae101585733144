// Command kube-proxy is upstream's kube-proxy at the version this module
// pins, built from Go modules (tests/harness/cluster runs it).
package main

import (
	"os"
	"os/signal"
	"syscall"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	// Upstream's command runs on context.Background(): it has no way to
	// shut down, and a SIGINT leaves it running. The cluster stops every
	// process by signal and checks it exits 0, so a signal ends it here.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		os.Exit(0)
	}()
	os.Exit(cli.Run(app.NewProxyCommand()))
}
