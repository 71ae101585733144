// Command e2e-compare diffs two e2e reports and writes compare.json,
// compare.md and compare.html:
//
//	e2e-compare -base out/e2e/v1.16.0/report.json -candidate out/e2e/v1.16.5/report.json -out out/e2e/compare
//
// It exits 1 when the candidate regressed, 2 when it cannot compare.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/daprshop/daprshop/tests/e2e/compare"
	"github.com/daprshop/daprshop/tests/e2e/report"
)

func main() {
	regressed, err := run(os.Args[1:], os.Stdout)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "e2e-compare:", err)
		os.Exit(2)
	case regressed:
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) (bool, error) {
	fs := flag.NewFlagSet("e2e-compare", flag.ContinueOnError)
	basePath := fs.String("base", "", "the baseline's report.json")
	candPath := fs.String("candidate", "", "the candidate's report.json")
	out := fs.String("out", "out/e2e/compare", "directory for compare.json, compare.md and compare.html")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if *basePath == "" || *candPath == "" {
		return false, fmt.Errorf("-base and -candidate are required")
	}
	base, err := report.Read(*basePath)
	if err != nil {
		return false, err
	}
	cand, err := report.Read(*candPath)
	if err != nil {
		return false, err
	}
	res := compare.Compare(base, cand, compare.DefaultThresholds)
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return false, err
	}
	md := compare.Markdown(res)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(*out, "compare.json"), append(data, '\n'), 0o644); err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(*out, "compare.md"), []byte(md), 0o644); err != nil {
		return false, err
	}
	page, err := compare.HTML(res, base, cand)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(*out, "compare.html"), []byte(page), 0o644); err != nil {
		return false, err
	}
	fmt.Fprint(stdout, md)
	return res.Regressed, nil
}
