package findings

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocDescribesEveryFinding: docs/findings.md has one section for each
// finding, under its name, and no other; each names the command that
// reproduces it.
func TestDocDescribesEveryFinding(t *testing.T) {
	doc, err := os.ReadFile("../../" + Doc)
	if err != nil {
		t.Fatal(err)
	}
	sections := regexp.MustCompile(`(?m)^## (.+)$`).FindAllStringSubmatch(string(doc), -1)
	var names []string
	for _, s := range sections {
		names = append(names, s[1])
	}
	var want []string
	for _, f := range All {
		want = append(want, f.Name)
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s: sections %q, want one per finding, in order: %q", Doc, names, want)
	}
	for _, f := range All {
		_, body, _ := strings.Cut(string(doc), "\n## "+f.Name+"\n")
		body, _, _ = strings.Cut(body, "\n## ")
		if len(f.Repro) > 0 && !strings.Contains(body, "`make repro FINDING="+f.Name+"`") {
			t.Errorf("%s#%s does not say how to reproduce it (make repro FINDING=%s)", Doc, f.Name, f.Name)
		}
		if f.Upstream != "" && !strings.Contains(body, strings.SplitN(f.Upstream, ",", 2)[0]) {
			t.Errorf("%s#%s does not name its upstream issue %s", Doc, f.Name, f.Upstream)
		}
	}
}

// TestReproductionsAreMakeCommands: each reproduction is a make target of
// the Makefile, with settings that are make variables of it.
func TestReproductionsAreMakeCommands(t *testing.T) {
	// The Makefile and the files it includes (mk/), where its knobs are.
	files, err := filepath.Glob("../../mk/*.mk")
	if err != nil {
		t.Fatal(err)
	}
	var makefile string
	for _, name := range append([]string{"../../Makefile"}, files...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		makefile += string(data) + "\n"
	}
	for _, f := range All {
		for i, arg := range f.Repro {
			name, _, setting := strings.Cut(arg, "=")
			var declared *regexp.Regexp
			if setting {
				declared = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` \?=`)
			} else {
				declared = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:`)
			}
			switch {
			case i == 0 && setting:
				t.Errorf("%s: %q: a reproduction starts with its make target", f.Name, f.Command())
			case !declared.MatchString(makefile):
				t.Errorf("%s: %q: %s is not a target or variable of the Makefile", f.Name, f.Command(), name)
			}
		}
	}
}

func TestByName(t *testing.T) {
	if f, err := ByName(NonStringTraceID.Name); err != nil || f.Upstream != NonStringTraceID.Upstream {
		t.Errorf("ByName(%q): got %+v, %v", NonStringTraceID.Name, f, err)
	}
	if _, err := ByName("no-such-finding"); err == nil || !strings.Contains(err.Error(), OutboxRetriesForever.Name) {
		t.Errorf("ByName of an unknown name: got %v, want an error listing the names", err)
	}
}
