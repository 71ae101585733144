// Command gomodfor writes the go.mod of a module that builds daprd at another
// dapr version than the one tools/daprd pins:
//
//	go run ./gomodfor VERSION DAPR_GO_MOD > DIR/go.mod
//
// It requires github.com/dapr/dapr at VERSION and copies the replace
// directives of that version's go.mod (DAPR_GO_MOD): a dependency's replaces
// do not apply to the module that requires it. Local-path replaces are
// skipped; they only make sense inside dapr's own repository.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// unserved maps module versions that dapr requires but the module proxy
// these builds use does not serve, to the nearest served version with the
// same API.
var unserved = map[string]string{
	"github.com/diagridio/go-etcd-cron@v0.9.2":  "v0.9.1",  // dapr v1.16.x
	"github.com/diagridio/go-etcd-cron@v0.12.5": "v0.12.6", // dapr v1.18.0, v1.18.1
	"github.com/diagridio/go-etcd-cron@v0.12.7": "v0.12.6", // dapr v1.18.3
	"github.com/dapr/durabletask-go@v0.11.1":    "v0.11.0", // dapr v1.17.5
}

type modFile struct {
	Go      string
	Require []struct{ Path, Version string }
	Replace []struct {
		Old, New struct{ Path, Version string }
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gomodfor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: gomodfor VERSION DAPR_GO_MOD")
	}
	version, gomod := args[0], args[1]
	out, err := exec.Command("go", "mod", "edit", "-json", gomod).Output()
	if err != nil {
		return fmt.Errorf("read %s: %w", gomod, err)
	}
	var mf modFile
	if err := json.Unmarshal(out, &mf); err != nil {
		return fmt.Errorf("parse %s: %w", gomod, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module github.com/daprshop/daprshop/tools/daprd\n\ngo %s\n\nrequire github.com/dapr/dapr %s\n", mf.Go, version)
	for _, r := range mf.Replace {
		if r.New.Version == "" {
			continue
		}
		old := r.Old.Path
		if r.Old.Version != "" {
			old += " " + r.Old.Version
		}
		fmt.Fprintf(&b, "\nreplace %s => %s %s\n", old, r.New.Path, r.New.Version)
	}
	for _, req := range mf.Require {
		if v, ok := unserved[req.Path+"@"+req.Version]; ok {
			fmt.Fprintf(&b, "\n// %s@%s is not served here.\nreplace %s => %s %s\n", req.Path, req.Version, req.Path, req.Path, v)
		}
	}
	_, err = os.Stdout.WriteString(b.String())
	return err
}
