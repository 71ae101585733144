package knobs_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestMakeTakesEveryKnob checks the Makefile's knob block against the list:
// each knob is a `NAME ?=` variable, so the command line and the
// environment both set it, with the listed default, and is exported, so
// the tests see what make saw; and make has no knob the list lacks.
func TestMakeTakesEveryKnob(t *testing.T) {
	data, err := knobs.ReadMakefile(repo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	makefile := strings.ReplaceAll(data, "\\\n", " ")
	defaults := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z0-9_]+) \?=[ \t]*(.*)$`).FindAllStringSubmatch(makefile, -1) {
		defaults[m[1]] = m[2]
	}
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^export (.*)$`).FindAllStringSubmatch(makefile, -1) {
		for _, name := range strings.Fields(m[1]) {
			exported[name] = true
		}
	}
	listed := map[string]bool{}
	for _, k := range knobs.All {
		listed[k.Name] = true
		def, ok := defaults[k.Name]
		switch {
		case !ok:
			t.Errorf("%s: the Makefile has no `%s ?=`, so make ignores it", k.Name, k.Name)
		case !strings.Contains(def, "$(") && def != k.Default:
			t.Errorf("%s: make's default is %q, the list says %q", k.Name, def, k.Default)
		}
		if !exported[k.Name] {
			t.Errorf("%s: the Makefile does not export it, so the tests it starts do not see it", k.Name)
		}
	}
	for name := range defaults {
		if !listed[name] {
			t.Errorf("the Makefile takes %s (`%s ?=`), which is not in tests/harness/knobs", name, name)
		}
	}
}

// TestREADMEListsEveryKnob wants the README to carry the table `make help`
// prints, as it is.
func TestREADMEListsEveryKnob(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), knobs.Markdown()) {
		t.Errorf("README.md does not hold the knob table of tests/harness/knobs; paste `make help`'s table into it:\n%s", knobs.Markdown())
	}
}

// TestOnlyKnobsReadTheEnvironment wants no test, harness or tool code to
// read an environment variable except through this package: a setting
// read anywhere else is one the list, make and the README do not know.
func TestOnlyKnobsReadTheEnvironment(t *testing.T) {
	root := repo.Root(t)
	// netns marks the re-executed test binary; nobody sets it by hand.
	allowed := []string{"tests/harness/knobs/knobs.go", "tests/harness/netns/netns.go"}
	reads := regexp.MustCompile(`os\.(Getenv|LookupEnv)\(`)
	for _, dir := range []string{"tests", "tools"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if slices.Contains(allowed, rel) {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				if reads.MatchString(line) {
					t.Errorf("%s:%d reads the environment past tests/harness/knobs: %s", rel, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestHelpListsEveryTarget wants every target a user can type documented
// by the comment above its rule, which is what `make help` prints; a rule
// without one is refused.
func TestHelpListsEveryTarget(t *testing.T) {
	data, err := knobs.ReadMakefile(repo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	targets, err := knobs.Targets(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"run", "test", "unit", "contracts", "e2e", "k8s-e2e", "help", "daprd", "kubernetes"} {
		if !slices.ContainsFunc(targets, func(got knobs.Target) bool { return got.Name == want && got.Doc != "" }) {
			t.Errorf("make help says nothing of %s: %v", want, targets)
		}
	}

	undocumented := strings.Replace(data, "# Removes out/, everything the targets built and wrote.\n", "", 1)
	if _, err := knobs.Targets(undocumented); err == nil || !strings.Contains(err.Error(), "clean") {
		t.Errorf("with clean's comment removed: got %v, want an error naming clean", err)
	}
}

func TestReleaseTakesOnlyAVersion(t *testing.T) {
	k := knobs.Knob{Name: "DAPRSHOP_TEST_RELEASE_KNOB"}
	for value, ok := range map[string]bool{"v1.17.5": true, "v1.19.0-rc.1": true, "1.17.5": false, "banana": false, "": false} {
		t.Setenv(k.Name, value)
		got, err := k.Release()
		if ok && (err != nil || got != value) || !ok && err == nil {
			t.Errorf("%s=%q: Release() = %q, %v", k.Name, value, got, err)
		}
	}
}
