// Command repro runs the smallest reproduction of one Dapr defect that
// daprshop found, by its name in docs/findings.md:
//
//	make repro FINDING=non-string-traceid-panic DAPR_VERSION=v1.18.2
//
// It says what the finding is, then runs its make command; the daprd under
// test is make's (DAPRD, DAPR_VERSION), handed down through the
// environment.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/daprshop/daprshop/tests/findings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "repro:", err)
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) != 1 || args[0] == "" {
		_, err := findings.ByName("")
		return fmt.Errorf("usage: make repro FINDING=name: %w", err)
	}
	f, err := findings.ByName(args[0])
	if err != nil {
		return err
	}
	if len(f.Repro) == 0 {
		return fmt.Errorf("%s has no reproduction on demand yet; %s#%s says how it was seen", f.Name, findings.Doc, f.Name)
	}
	fmt.Printf("repro %s: %s\n%s\n", f.Name, f.Known(), f.Command())
	cmd := exec.Command("make", f.Repro...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
