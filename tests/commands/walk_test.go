package commands

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	runMake(t, root, 20*time.Minute, nil, "build", "devissuer", "sentry")

	argv := ownMachine("make", "--no-print-directory", "run", "RUN_SECURED=true")
	run := proc.Start(t, proc.Spec{Name: "make-run", Path: argv[0], Args: argv[1:], Dir: root, LogDir: t.TempDir(), StopGroup: true})
	ctx, cancel := context.WithTimeout(context.Background(), runUpTimeout)
	defer cancel()
	if err := proc.WaitUntil(ctx, func(context.Context) error { return said(run, runIsUp) }, run); err != nil {
		t.Fatalf("make run RUN_SECURED=true: %v", err)
	}
	// Every namespace of the machine make runs on: the walk's pgrep must
	// see its processes only.
	// (nsenter's --wd would name the directory before it enters the mount
	// namespace: the commands go there themselves.)
	enter := []string{"--target", strconv.Itoa(namespaceInit(t, run)), "--net", "--pid", "--mount", "sh", "-e", "-c", `cd "$0" && exec "$@"`, root}

	listen := proc.Start(t, proc.Spec{Name: "make-listen", Path: "nsenter", Args: append(enter, "make", "--no-print-directory", "listen", "CUSTOMER=c-1"),
		Dir: root, LogDir: t.TempDir(), StopGroup: true, EndsByStopSignal: true})
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := proc.WaitUntil(ctx, func(context.Context) error { return said(listen, "listening on notifications.c-1") }, listen); err != nil {
		t.Fatalf("make listen CUSTOMER=c-1: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
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
		data, err := os.ReadFile(listen.Log())
		if err != nil {
			return err
		}
		for _, status := range []string{"confirmed", "cancelled"} {
			if !strings.Contains(string(data), fmt.Sprintf(`"orderId":%q,"status":%q`, order, status)) {
				return fmt.Errorf("make listen showed no %s notification of order %s", status, order)
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

// namespaceInit is the PID, as this machine sees it, of the init of the
// namespaces ownMachine made for p: unshare's child.
func namespaceInit(t *testing.T, p *proc.Process) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.PID(), p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("unshare's child: %q: %v", data, err)
	}
	return pid
}
