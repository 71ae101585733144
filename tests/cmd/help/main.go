// Command help prints what `make help` does: every target a user can type,
// from the Makefile's own comments, then every setting of make and the
// tests as a Markdown table. It runs from the repository's root.
package main

import (
	"fmt"
	"os"

	"github.com/daprshop/daprshop/tests/harness/knobs"
)

func main() {
	makefile, err := knobs.ReadMakefile(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "help:", err)
		os.Exit(1)
	}
	targets, err := knobs.Targets(makefile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "help:", err)
		os.Exit(1)
	}
	fmt.Print(knobs.Help(targets), "\n", knobs.Markdown())
}
