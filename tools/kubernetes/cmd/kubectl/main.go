// Command kubectl is the Kubernetes command-line client at the version this
// module pins, as upstream's cmd/kubectl builds it (without the client auth
// plugins: the test cluster uses client certificates).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// Verbosity is parsed by hand, before cobra, so that klog is set while
	// the command is constructed (as upstream does).
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) //nolint:errcheck
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
