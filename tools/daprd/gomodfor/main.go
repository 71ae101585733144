// Command gomodfor writes the go.mod of a module that builds daprd at another
// dapr version than the one tools/daprd pins:
//
//	go run ./gomodfor VERSION DAPR_GO_MOD > DIR/go.mod
//
// It requires github.com/dapr/dapr at VERSION and copies the replace
// directives of that version's go.mod (DAPR_GO_MOD): a dependency's replaces
// do not apply to the module that requires it. Local-path replaces are
// skipped; they only make sense inside dapr's own repository. It lists the
// tools tools/daprd's own go.mod lists (Dapr's control plane), so that the
// same module builds them at VERSION too.
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
	"github.com/diagridio/go-etcd-cron@v0.12.4": "v0.12.6", // dapr v1.17.5's scheduler
	"github.com/diagridio/go-etcd-cron@v0.12.5": "v0.12.6", // dapr v1.18.0, v1.18.1
	"github.com/diagridio/go-etcd-cron@v0.12.7": "v0.12.6", // dapr v1.18.3
	"github.com/dapr/durabletask-go@v0.11.1":    "v0.11.0", // dapr v1.17.5
	// dapr v1.18.3. durabletask-go: what dapr v1.18.2 built with; it lacks
	// two workflow fixes of v0.12.4 (a new root trace per continue-as-new,
	// a terminate anywhere in a batch), which daprshop does not use.
	// avro: v2.34.0 only adds to the API dapr uses.
	"github.com/dapr/durabletask-go@v0.12.4": "v0.12.2-0.20260720132056-79042da5fe61",
	"github.com/iskorotkov/avro/v2@v2.33.1":  "v2.34.0",
}

// unservedReplacements maps the targets of dapr's own replace directives
// that the module proxy does not serve to a served "path version".
var unservedReplacements = map[string]string{
	// dapr v1.18.3 swaps Pulsar's client for a fork (to decode Avro with
	// the limits above); upstream v0.18.0 is what components-contrib
	// requires, and Pulsar is not a component daprshop uses.
	"github.com/twmb/pulsar-client-go@v0.20.1-0.20260624144353-90eefc81f70a": "github.com/apache/pulsar-client-go v0.18.0",
}

type modFile struct {
	Go      string
	Tool    []struct{ Path string }
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
	mf, err := readModFile(gomod)
	if err != nil {
		return err
	}
	// This module's own go.mod, in the directory gomodfor runs in.
	pinned, err := readModFile("go.mod")
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module github.com/daprshop/daprshop/tools/daprd\n\ngo %s\n\nrequire github.com/dapr/dapr %s\n", mf.Go, version)
	if len(pinned.Tool) > 0 {
		b.WriteString("\ntool (\n")
		for _, t := range pinned.Tool {
			fmt.Fprintf(&b, "\t%s\n", t.Path)
		}
		b.WriteString(")\n")
	}
	for _, r := range mf.Replace {
		if r.New.Version == "" {
			continue
		}
		old := r.Old.Path
		if r.Old.Version != "" {
			old += " " + r.Old.Version
		}
		if served, ok := unservedReplacements[r.New.Path+"@"+r.New.Version]; ok {
			fmt.Fprintf(&b, "\n// %s@%s is not served here.\nreplace %s => %s\n", r.New.Path, r.New.Version, old, served)
			continue
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

// readModFile reads the go.mod at path.
func readModFile(path string) (modFile, error) {
	out, err := exec.Command("go", "mod", "edit", "-json", path).Output()
	if err != nil {
		return modFile{}, fmt.Errorf("read %s: %w", path, err)
	}
	var mf modFile
	if err := json.Unmarshal(out, &mf); err != nil {
		return modFile{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return mf, nil
}
