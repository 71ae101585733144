package commands

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestWalk follows docs/walk.md as a learner does: make run secured,
// make listen for c-1, then every shell block of the walk, in order, in
// one shell that stops at the first command that fails (each block checks
// its own answer). The order it placed and cancelled is notified twice on
// make listen: confirmed, then cancelled.
func TestWalk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("make run in namespaces of its own, entered to type the walk's commands: as root")
	}
	root := repo.Root(t)
	script := docBlocks(t, filepath.Join(root, "docs", "walk.md"))
	runMake(t, root, 20*time.Minute, nil, "build", "devissuer", "traceview", "sentry")

	run, enter := startMakeRun(t, root, "RUN_SECURED=true")
	listen := startListen(t, root, run, "c-1")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	walk := exec.CommandContext(ctx, "nsenter", append(enter, "sh", "-e", "-x", "-c", script)...)
	out, err := walk.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/walk.md stopped at the last command below: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	order := lines[len(lines)-1] // the walk's last command says it

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	told := func(context.Context) error {
		for _, status := range []string{"confirmed", "cancelled"} {
			if err := said(listen, fmt.Sprintf(`"orderId":%q,"status":%q`, order, status)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := proc.WaitUntil(ctx, told, listen); err != nil {
		t.Error(err)
	}
	if err := listen.Shutdown(); err != nil {
		t.Errorf("make listen, Ctrl-C: %v", err)
	}
	if err := run.Shutdown(); err != nil {
		t.Errorf("make run, Ctrl-C: %v", err)
	}
}

// docBlocks returns every sh block of the Markdown file, in order, one
// script.
func docBlocks(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	rest := string(data)
	for {
		_, after, ok := strings.Cut(rest, "```sh\n")
		if !ok {
			break
		}
		block, after, closed := strings.Cut(after, "```")
		if !closed {
			t.Fatalf("%s: an sh block is not closed", file)
		}
		script.WriteString(block)
		rest = after
	}
	if script.Len() == 0 {
		t.Fatalf("%s: no sh block", file)
	}
	return script.String()
}
