package system

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
)

// A breakage is a setting broken on purpose (knobs.E2EBreak), for a user
// to see the suite catch it and name it.
type breakage struct {
	// does says what it breaks.
	does string
	// profile is the only backend profile it applies to ("" for every one).
	profile string
	// apply breaks the component files in dir.
	apply func(dir string) error
}

// breakages are the settings E2E_BREAK can break, by the name it takes.
var breakages = map[string]breakage{
	"resiliency": {
		does:  "runs the sidecars without the resiliency policy (resiliency.yaml)",
		apply: func(dir string) error { return os.Remove(filepath.Join(dir, "resiliency.yaml")) },
	},
	"outbox-topic": {
		does: "removes outboxPublishTopic from the orderstore: daprd then runs it without the outbox, silently",
		apply: func(dir string) error {
			return dropMetadata(filepath.Join(dir, "orderstore.yaml"), "outboxPublishTopic")
		},
	},
	"dead-letter-exchange": {
		does:    "removes enableDeadLetter from RabbitMQ's pubsub: what a sidecar gives up on is dropped",
		profile: PostgresRabbitMQProfile.Name,
		apply:   func(dir string) error { return dropMetadata(filepath.Join(dir, "pubsub.yaml"), "enableDeadLetter") },
	},
}

// BreakageNames are the values knobs.E2EBreak takes.
func BreakageNames() []string { return slices.Sorted(maps.Keys(breakages)) }

// resources returns the directory of the components every sidecar runs
// with: profile's, broken as knobs.E2EBreak says; "" (the run file's own)
// for the Redis profile unbroken.
func resources(t testing.TB, env Env, profile Profile) string {
	t.Helper()
	if !knobs.E2EBreak.Set() {
		if profile.Dir == "" {
			return ""
		}
		return profile.Resources(t, env.Root)
	}
	kind := knobs.E2EBreak.Value()
	b, ok := breakages[kind]
	switch {
	case !ok:
		t.Fatalf("%s=%q: the breakages known are %s", knobs.E2EBreak.Name, kind, strings.Join(BreakageNames(), ", "))
	case b.profile != "" && b.profile != profile.Name:
		t.Fatalf("%s=%s applies to the %s profile only, not %s", knobs.E2EBreak.Name, kind, b.profile, profile.Name)
	}
	dir := profile.Resources(t, env.Root)
	if err := b.apply(dir); err != nil {
		t.Fatalf("%s=%s: %v", knobs.E2EBreak.Name, kind, err)
	}
	t.Logf("%s=%s: %s", knobs.E2EBreak.Name, kind, b.does)
	return dir
}

// dropMetadata removes the metadata item called name (its "- name:" line
// and the lines indented under it) from the component file at path, and
// fails if it has none: a breakage that breaks nothing must say so.
func dropMetadata(path, name string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) != "- name: "+name {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		end := i + 1
		for end < len(lines) && len(lines[end])-len(strings.TrimLeft(lines[end], " ")) > indent && strings.TrimSpace(lines[end]) != "" {
			end++
		}
		kept := strings.Join(append(lines[:i:i], lines[end:]...), "")
		return os.WriteFile(path, []byte(kept), 0o644)
	}
	return fmt.Errorf("%s has no metadata item %s", path, name)
}
