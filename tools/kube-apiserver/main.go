// Command kube-apiserver is the Kubernetes API server at the version this
// module pins, built from Go modules so that `make k8s-validate` can check
// deploy/k8s against a real API server without downloading a binary.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
