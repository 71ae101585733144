package knobs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Target is a make target a user can type, with what the comment above
// its rule in the Makefile says of it.
type Target struct {
	Name string
	Doc  string
}

var (
	includeLine = regexp.MustCompile(`(?m)^include (.*)$`)
	phonyLine   = regexp.MustCompile(`(?m)^\.PHONY:(.*)$`)
	ruleLine    = regexp.MustCompile(`^([a-z][a-z0-9-]*):([^=]|$)`)
	assignment  = regexp.MustCompile(`^[A-Z0-9_]+ *[:?+]?=`)
)

// ReadMakefile returns the Makefile at root followed by the files it
// includes: all that make reads, the Makefile's own targets first.
func ReadMakefile(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	text := string(data)
	for _, m := range includeLine.FindAllStringSubmatch(string(data), -1) {
		for _, name := range strings.Fields(m[1]) {
			included, err := os.ReadFile(filepath.Join(root, name))
			if err != nil {
				return "", fmt.Errorf("Makefile includes %s: %w", name, err)
			}
			text += "\n" + string(included)
		}
	}
	return text, nil
}

// Targets reads the Makefile's targets: every .PHONY one but FORCE, in the
// order of their rules, each documented by the comment above its rule
// (variables the rule uses may stand between the two). A target without
// one is an error: `make help` would have nothing to say of it.
func Targets(makefile string) ([]Target, error) {
	var phony []string
	for _, m := range phonyLine.FindAllStringSubmatch(makefile, -1) {
		phony = append(phony, strings.Fields(m[1])...)
	}
	lines := strings.Split(strings.ReplaceAll(makefile, "\\\n", " "), "\n")
	var targets []Target
	var undocumented []string
	ruled := map[string]bool{}
	for i, line := range lines {
		m := ruleLine.FindStringSubmatch(line)
		if m == nil || !slices.Contains(phony, m[1]) || m[1] == "FORCE" {
			continue
		}
		ruled[m[1]] = true
		j := i - 1
		for j >= 0 && assignment.MatchString(lines[j]) {
			j--
		}
		var comment []string
		for ; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			comment = append([]string{strings.TrimSpace(strings.TrimPrefix(lines[j], "#"))}, comment...)
		}
		if len(comment) == 0 {
			undocumented = append(undocumented, m[1])
			continue
		}
		targets = append(targets, Target{Name: m[1], Doc: firstSentence(strings.Join(comment, " "))})
	}
	for _, name := range phony {
		if name != "FORCE" && !ruled[name] {
			undocumented = append(undocumented, name)
		}
	}
	if len(undocumented) > 0 {
		return targets, fmt.Errorf("Makefile: no comment above the rule of %s", strings.Join(undocumented, ", "))
	}
	return targets, nil
}

// firstSentence is text up to its first full stop.
func firstSentence(text string) string {
	if i := strings.Index(text, ". "); i >= 0 {
		return text[:i+1]
	}
	return text
}

// Help is what `make help` prints of the targets: one line each.
func Help(targets []Target) string {
	width := 0
	for _, t := range targets {
		width = max(width, len(t.Name))
	}
	var b strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&b, "make %-*s  %s\n", width, t.Name, t.Doc)
	}
	return b.String()
}
