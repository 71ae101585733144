// Package stop ends an upstream command that cannot stop itself.
package stop

import (
	"os"
	"os/signal"
	"syscall"
)

// OnSignal makes the process exit 0 on SIGINT or SIGTERM. Upstream's
// kube-controller-manager and kube-proxy run on context.Background(): they
// have no way to shut down, and a SIGINT leaves them running. The cluster
// (tests/harness/cluster) stops every process by signal and checks that it
// exits 0.
func OnSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		os.Exit(0)
	}()
}
