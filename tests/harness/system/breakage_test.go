package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
)

// TestBreakagesAreDocumented: the knob's description names every breakage.
func TestBreakagesAreDocumented(t *testing.T) {
	for _, name := range BreakageNames() {
		if !strings.Contains(knobs.E2EBreak.Doc, "`"+name+"`") {
			t.Errorf("%s's description does not name the breakage %s", knobs.E2EBreak.Name, name)
		}
	}
}

func TestDropMetadata(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.yaml")
	component := `spec:
  metadata:
    - name: keep
      value: "1"
    # why the next one is there
    - name: drop
      value: "2"
    - name: last
      envRef: LAST
scopes:
  - order
`
	if err := os.WriteFile(path, []byte(component), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := dropMetadata(path, "drop"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(component, "    - name: drop\n      value: \"2\"\n", "", 1)
	if string(got) != want {
		t.Errorf("dropMetadata: got\n%s\nwant\n%s", got, want)
	}
	if err := dropMetadata(path, "drop"); err == nil {
		t.Error("dropMetadata of an item not there: got no error")
	}
}
