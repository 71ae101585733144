package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultBase(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "tools", "daprd"), 0o755); err != nil {
		t.Fatal(err)
	}
	releases := "# oldest first\nv1.16.5\nv1.17.5 # with a comment\n\nv1.18.2\n"
	if err := os.WriteFile(filepath.Join(root, "tools", "daprd", "releases"), []byte(releases), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runner{root: root}
	for _, tc := range []struct {
		candidate, want string
	}{
		{"v1.19.0-rc.1", "v1.18.2"},
		{"v1.18.3", "v1.18.2"},
		{"v1.18.2", "v1.17.5"},
		{"v1.18.2-rc.4", "v1.17.5"}, // a release candidate comes before its release
		{"v1.17.0", "v1.16.5"},
		{"v1.16.5", ""},
		{"edge", ""},
	} {
		got, err := r.defaultBase(tc.candidate)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("defaultBase(%s) = %q, %v; want %q", tc.candidate, got, err, tc.want)
		}
	}
}

func TestProgressOnly(t *testing.T) {
	var got strings.Builder
	p := &progressOnly{w: &got}
	for _, chunk := range []string{"=== RUN   TestHappyPath\n[e2e 00", ":01] happy path: started\n    log line\n", "[e2e 00:02] happy path: done\n"} {
		if _, err := p.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if want := "[e2e 00:01] happy path: started\n[e2e 00:02] happy path: done\n"; got.String() != want {
		t.Errorf("passed on %q, want %q", got.String(), want)
	}
}
