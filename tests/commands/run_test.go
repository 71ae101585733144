package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
	"github.com/daprshop/daprshop/tests/harness/system"
)

// runUpTimeout is how long `make run` may take to say the system is up:
// its build is done by then (the test builds first), RabbitMQ takes
// about 5 s, the sidecars a few more.
const runUpTimeout = 2 * time.Minute

// runIsUp is what `make run` says once every app answers.
const runIsUp = "run: daprshop is up"

// TestMakeRun runs `make run` on each backend profile, in a network
// namespace of its own (as root: PostgreSQL runs as its own user), types
// the README's order into it, and stops it as a Ctrl-C does: the order is
// confirmed and notified, and once make has exited nothing it started is
// left running, nor any server's data.
func TestMakeRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("make run in a network namespace of its own, entered to type the README's commands: as root")
	}
	root := repo.Root(t)
	order := readmeBlock(t, root, "With the system up, place an order:")
	// What make run builds first, built here, outside the namespace and
	// its timeout (the dapr CLI takes minutes on a fresh machine).
	runMake(t, root, 20*time.Minute, nil, "build")
	for _, profile := range system.Profiles {
		t.Run(profile.Name, func(t *testing.T) {
			scratchBefore := runScratch(t)
			argv := netns.Command(true, "make", "--no-print-directory", "run", "BACKEND="+profile.Name)
			run := proc.Start(t, proc.Spec{Name: "make-run", Path: argv[0], Args: argv[1:], Dir: root, LogDir: t.TempDir(),
				// make ends by the SIGINT it got, once run.sh stopped
				// what it started.
				StopGroup: true, EndsByStopSignal: true})
			ctx, cancel := context.WithTimeout(context.Background(), runUpTimeout)
			defer cancel()
			if err := proc.WaitUntil(ctx, func(context.Context) error { return said(run, runIsUp) }, run); err != nil {
				t.Fatalf("make run BACKEND=%s: %v", profile.Name, err)
			}
			// Only now is make surely in the namespace: unshare enters it
			// after it started.
			ns := fmt.Sprintf("/proc/%d/ns/net", run.PID())
			nsID := namespaceOf(t, ns)

			typed := exec.Command("nsenter", "--net="+ns, "sh", "-c", order)
			out, err := typed.Output()
			if err != nil {
				t.Fatalf("the README's order: %v\n%s", err, out)
			}
			var placed struct{ ID, Status string }
			if err := json.Unmarshal(out, &placed); err != nil || placed.Status != "confirmed" {
				t.Fatalf("the README's order answered %q (%v), want a confirmed order", out, err)
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					return netns.Dial(ctx, ns, network, addr)
				}}}
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			notified := func(ctx context.Context) error {
				body, err := get(ctx, client, "http://127.0.0.1:8082/notifications?customerId=c-1")
				if err == nil && !strings.Contains(body, placed.ID) {
					err = fmt.Errorf("no notification of order %s: %s", placed.ID, body)
				}
				return err
			}
			if err := proc.WaitUntil(ctx, notified, run); err != nil {
				t.Errorf("order %s not notified: %v", placed.ID, err)
			}

			if err := run.Shutdown(); err != nil {
				t.Errorf("Ctrl-C: %v", err)
			}
			if err := said(run, "run: stopping"); err != nil {
				t.Errorf("Ctrl-C: %v", err)
			}
			if left := inNamespace(t, nsID); len(left) > 0 {
				t.Errorf("left running after make run stopped: %s", strings.Join(left, "; "))
			}
			if left := slices.DeleteFunc(runScratch(t), func(dir string) bool { return slices.Contains(scratchBefore, dir) }); len(left) > 0 {
				t.Errorf("servers' data left behind: %v", left)
			}
		})
	}
}

// TestMakeRunWithUnknownBackend gives make run a backend profile that does
// not exist: it must say which ones do, and start nothing.
func TestMakeRunWithUnknownBackend(t *testing.T) {
	root := repo.Root(t)
	stderr, err := tryMake(root, 5*time.Minute, nil, "run", "BACKEND=mongodb")
	if err == nil {
		t.Fatal("make run BACKEND=mongodb succeeded, want a failure")
	}
	if want := "BACKEND=mongodb: want redis or postgres-rabbitmq"; !strings.Contains(stderr, want) || strings.Contains(stderr, "run: started") {
		t.Errorf("make run BACKEND=mongodb said:\n%s\nwant %q, and nothing started", stderr, want)
	}
}

// readmeBlock returns the shell block that follows the line lead in the
// README: what a newcomer copies.
func readmeBlock(t *testing.T, root, lead string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), lead+"\n\n```sh\n")
	block, _, closed := strings.Cut(after, "```")
	if !ok || !closed {
		t.Fatalf("README.md: no sh block after %q", lead)
	}
	return block
}

// said is nil once the process's log has text in it.
func said(p *proc.Process, text string) error {
	data, err := os.ReadFile(p.Log())
	if err == nil && !bytes.Contains(data, []byte(text)) {
		err = fmt.Errorf("%s has not said %q", p.Name(), text)
	}
	return err
}

func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), err
}

// namespaceOf returns the identity of the network namespace at path, as
// /proc/PID/ns/net links name it; never the test's own.
func namespaceOf(t *testing.T, path string) string {
	t.Helper()
	id, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	if own := ownNamespace(t); own == id {
		t.Fatalf("%s is the test's own network namespace", path)
	}
	return id
}

// ownNamespace is the network namespace the test runs in. It is read from
// a thread of the test's own: netns.Dial leaves the threads it moved in
// another namespace, the main thread among them, as /proc/self shows.
func ownNamespace(t *testing.T) string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	id, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// inNamespace kills every process still in the network namespace nsID (as
// namespaceOf names it; never the test's own) but the test itself, and
// says what each was.
func inNamespace(t *testing.T, nsID string) []string {
	t.Helper()
	if ownNamespace(t) == nsID {
		t.Fatalf("refusing to sweep the test's own network namespace %s", nsID)
	}
	links, err := filepath.Glob("/proc/[0-9]*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, link := range links {
		if id, err := os.Readlink(link); err != nil || id != nsID {
			continue
		}
		dir := filepath.Dir(filepath.Dir(link))
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		var pid int
		fmt.Sscan(filepath.Base(dir), &pid)
		if pid == os.Getpid() {
			continue // its main thread, moved there by netns.Dial
		}
		left = append(left, fmt.Sprintf("pid %d %s", pid, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

// runScratch lists the directories make run keeps its servers' data in.
func runScratch(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "daprshop-run-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
