// Package tests holds no code of its own, only the check that the test
// trees keep the layering tests/README.md describes.
package tests_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayers checks, with go list, that each layer of the tests imports
// only what tests/README.md says it may: the report is a plain library, the
// harness knows nothing of the report or the suites, and no test tree
// imports another's.
func TestLayers(t *testing.T) {
	const module = "github.com/daprshop/daprshop/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// A layer's code must not import what is listed for it; its tests may
	// use more (the report's tests render pages with a real browser).
	forbidden := map[string][]string{
		"tests/report":          {"testing", "tests/harness", "tests/suite", "tests/compare"},
		"tests/findings":        {"tests/harness", "tests/suite", "tests/report", "tests/compare"},
		"tests/compare":         {"testing", "tests/harness", "tests/suite"},
		"tests/harness":         {"tests/report", "tests/compare", "tests/suite", "tests/e2e", "tests/bench"},
		"tests/harness/machine": {"tests/harness/system", "github.com/dapr", "github.com/redis"},
		"tests/harness/cluster": {"tests/harness/system", "k8s.io", "github.com/dapr", "github.com/redis"},
		"tests/harness/repo":    {"tests/harness/system", "tests/harness/proc", "github.com/dapr", "github.com/redis"},
		"tests/suite":           {"tests/e2e", "tests/bench", "tests/hosts", "tests/commands", "tests/k8s", "tests/harness/cluster"},
		"tests/k8s":             {"tests/e2e", "tests/bench", "tests/hosts", "tests/commands", "k8s.io"},
		"tests/e2e":             {"tests/bench", "tests/hosts", "tests/commands"},
		"tests/bench":           {"tests/e2e", "tests/hosts", "tests/commands"},
		"tests/backends":        {"tests/e2e", "tests/bench", "tests/hosts", "tests/commands", "tests/k8s"},
		"tests/hosts":           {"tests/e2e", "tests/bench", "tests/suite", "tests/commands"},
		"tests/commands":        {"tests/e2e", "tests/bench", "tests/hosts"},
	}
	checked := 0
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		parts := strings.Split(strings.TrimSpace(line), "|")
		pkg := strings.TrimPrefix(parts[0], module)
		imports := strings.Fields(parts[1])
		if !strings.HasPrefix(pkg, "tests/report") && !strings.HasPrefix(pkg, "tests/compare") {
			imports = append(imports, strings.Fields(parts[2])...)
		}
		for prefix, banned := range forbidden {
			if pkg != prefix && !strings.HasPrefix(pkg, prefix+"/") {
				continue
			}
			checked++
			for _, imp := range imports {
				imp = strings.TrimPrefix(imp, module)
				for _, b := range banned {
					if imp == b || strings.HasPrefix(imp, b+"/") {
						t.Errorf("%s imports %s, which tests/README.md's layering forbids", pkg, imp)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list named none of the test packages: is this the daprshop module?")
	}
}

// TestToolsImportNoTests checks that no program or library under tools/
// depends on a package under tests/: the tools build what the tests use,
// never the other way round (their own tests may use the harness).
func TestToolsImportNoTests(t *testing.T) {
	modules, err := filepath.Glob("../tools/*/go.mod")
	if err != nil || len(modules) == 0 {
		t.Fatalf("no modules under tools/: %v", err)
	}
	for _, mod := range modules {
		dir := filepath.Dir(mod)
		out, err := exec.Command("go", "list", "-C", dir, "-deps", "./...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps in %s: %v\n%s", dir, err, out)
		}
		for dep := range strings.Lines(string(out)) {
			if strings.HasPrefix(dep, "github.com/daprshop/daprshop/tests/") {
				t.Errorf("%s depends on %s", dir, strings.TrimSpace(dep))
			}
		}
	}
}
