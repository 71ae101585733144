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
	"slices"
	"strconv"
	"strings"
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

// TestMakeRun runs `make run` on each backend profile, and secured
// (RUN_SECURED=true), in namespaces of its own (as root: PostgreSQL runs
// as its own user), types the README's order into it, and stops it as a
// Ctrl-C does: the order is confirmed and notified, make ends by the
// Ctrl-C, and once it has, nothing it started is left running, nor any
// server's data. Secured, a client without a token is refused and
// another customer's token does not find the order.
func TestMakeRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("make run in a network namespace of its own, entered to type the README's commands: as root")
	}
	root := repo.Root(t)
	// What make run builds first, built here, outside the namespace and
	// its timeout (the dapr CLI takes minutes on a fresh machine).
	runMake(t, root, 20*time.Minute, nil, "build", "devissuer", "traceview", "sentry")
	type runCase struct {
		name    string
		args    []string
		order   string // the README's order
		secured bool
	}
	var cases []runCase
	for _, profile := range system.Profiles {
		cases = append(cases, runCase{profile.Name, []string{"BACKEND=" + profile.Name},
			readmeBlock(t, root, "With the system up, place an order:"), false})
	}
	cases = append(cases, runCase{"secured", []string{"RUN_SECURED=true"},
		readmeBlock(t, root, "With it up, place an order as c-1:"), true})
	for _, rc := range cases {
		t.Run(rc.name, func(t *testing.T) {
			scratchBefore := runScratch(t)
			run, enter := startMakeRun(t, root, rc.args...)
			ns := fmt.Sprintf("/proc/%d/ns/net", run.PID())
			listen := startListen(t, root, run, "c-1")

			out, err := exec.Command("nsenter", append(enter, "sh", "-c", rc.order)...).Output()
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
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var token string // c-1's, secured
			if rc.secured {
				token = runToken(t, ctx, client, "customer=c-1")
				checkSecured(t, ctx, client, placed.ID, runToken(t, ctx, client, "customer=c-2"))
			}
			notified := func(ctx context.Context) error {
				body, err := get(ctx, client, "http://127.0.0.1:8082/notifications?customerId=c-1", token)
				if err == nil && !strings.Contains(body, placed.ID) {
					err = fmt.Errorf("no notification of order %s: %s", placed.ID, body)
				}
				return err
			}
			if err := proc.WaitUntil(ctx, notified, run); err != nil {
				t.Errorf("order %s not notified: %v", placed.ID, err)
			}
			if err := proc.WaitUntil(ctx, func(context.Context) error { return said(listen, placed.ID) }, listen); err != nil {
				t.Errorf("make listen CUSTOMER=c-1 showed no notification of order %s: %v", placed.ID, err)
			}
			if err := listen.Shutdown(); err != nil {
				t.Errorf("make listen, Ctrl-C: %v", err)
			}

			if err := run.Shutdown(); err != nil {
				t.Errorf("Ctrl-C: %v", err)
			}
			if err := said(run, "run: stopping"); err != nil {
				t.Errorf("Ctrl-C: %v", err)
			}
			if err := said(run, endedByCtrlC); err != nil {
				t.Errorf("Ctrl-C: %v", err)
			}
			if left := leftRunning(t, run); len(left) > 0 {
				t.Errorf("left running after make run stopped: %s", strings.Join(left, "; "))
			}
			if left := slices.DeleteFunc(runScratch(t), func(dir string) bool { return slices.Contains(scratchBefore, dir) }); len(left) > 0 {
				t.Errorf("servers' data left behind: %v", left)
			}
		})
	}
}

// startMakeRun starts `make run` with args on a machine of its own
// (ownMachine), waits until it says the system is up, and returns it and
// the nsenter arguments that run a command on that machine, in the
// repository: in its network, PID and mount namespaces, so that what the
// command sees (pgrep, say) is that machine's. A Ctrl-C (Shutdown)
// reaches make and what it started, not the namespace's init, which then
// says how make ended.
func startMakeRun(t *testing.T, root string, args ...string) (*proc.Process, []string) {
	t.Helper()
	argv := ownMachine(append([]string{"make", "--no-print-directory", "run"}, args...)...)
	run := proc.Start(t, proc.Spec{Name: "make-run", Path: argv[0], Args: argv[1:], Dir: root, LogDir: t.TempDir(), StopGroup: true})
	ctx, cancel := context.WithTimeout(context.Background(), runUpTimeout)
	defer cancel()
	if err := proc.WaitUntil(ctx, func(context.Context) error { return said(run, runIsUp) }, run); err != nil {
		t.Fatalf("make run %s: %v", strings.Join(args, " "), err)
	}
	// Only now is make surely in the namespaces: unshare enters them
	// after it started. (nsenter's --wd would name the directory before
	// it enters the mount namespace: the command goes there itself.)
	return run, []string{"--target", strconv.Itoa(namespaceInit(t, run)), "--net", "--pid", "--mount", "sh", "-e", "-c", `cd "$0" && exec "$@"`, root}
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

// startListen starts `make listen CUSTOMER=customer` as the customer's
// client, on the network of run's machine (startMakeRun) but not in its
// PID namespace, where make run's end would find it still running, and
// waits until it listens.
func startListen(t *testing.T, root string, run *proc.Process, customer string) *proc.Process {
	t.Helper()
	net := fmt.Sprintf("--net=/proc/%d/ns/net", run.PID())
	listen := proc.Start(t, proc.Spec{Name: "make-listen", Path: "nsenter", Args: []string{net, "make", "--no-print-directory", "listen", "CUSTOMER=" + customer},
		Dir: root, LogDir: t.TempDir(), StopGroup: true, EndsByStopSignal: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := proc.WaitUntil(ctx, func(context.Context) error { return said(listen, "listening on notifications."+customer) }, listen); err != nil {
		t.Fatalf("make listen CUSTOMER=%s: %v", customer, err)
	}
	return listen
}

// runToken asks the development issuer of a secured make run for a token
// (query: customer=ID, role=operator), as make token does.
func runToken(t *testing.T, ctx context.Context, client *http.Client, query string) string {
	t.Helper()
	token, err := get(ctx, client, "http://127.0.0.1:8088/token?"+query, "")
	if err != nil {
		t.Fatalf("a token for %s: %v", query, err)
	}
	return strings.TrimSpace(token)
}

// checkSecured checks what a secured make run refuses: order id read
// without a token (401), or with another customer's (404, as an order
// that does not exist); and a restock by a customer (403).
func checkSecured(t *testing.T, ctx context.Context, client *http.Client, id, otherCustomer string) {
	t.Helper()
	for _, c := range []struct {
		what, method, url, token string
		want                     int
	}{
		{"the order read without a token", http.MethodGet, "http://127.0.0.1:8080/orders/" + id, "", http.StatusUnauthorized},
		{"the order read with another customer's token", http.MethodGet, "http://127.0.0.1:8080/orders/" + id, otherCustomer, http.StatusNotFound},
		{"a restock by a customer", http.MethodPost, "http://127.0.0.1:8081/items/SKU-1/restock", otherCustomer, http.StatusForbidden},
	} {
		req, err := http.NewRequestWithContext(ctx, c.method, c.url, strings.NewReader(`{"quantity":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.what, resp.StatusCode, c.want)
		}
	}
}

// The lines ownMachine's init writes once what it ran has exited.
const (
	endedByCtrlC    = "init: ended by SIGINT"
	leftRunningLine = "init: left running: "
)

// ownMachine is the command line that runs argv as on a machine of its
// own: in new network, mount and PID namespaces, the network set up as
// netns's (loopback up, multicast routed over it for mDNS).
//
// The PID namespace is for the dapr CLI, which reads every process it can
// see and refuses a port that any daprd was given, whatever its network
// namespace: here it sees only what make starts, not the sidecars of the
// suites that run beside this one.
//
// The namespace's init is a shell, which cannot die of a Ctrl-C (the
// kernel drops an init's signals that would kill it). It traps SIGINT, so
// that it goes on instead of giving up as sh -c does, without ignoring it
// (argv would inherit that). It waits for argv, says what is still running
// (every process but itself, read with builtins only, so that it starts
// none), and exits: 0 when argv ended by SIGINT (exit status 130), which
// it says, else with argv's status. The kernel then kills whatever was
// left.
func ownMachine(argv ...string) []string {
	const init = `trap : INT
ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo || exit
"$@"
status=$?
for proc in /proc/[0-9]*; do
	[ "$proc" = /proc/1 ] && continue
	read -r name < "$proc/comm" && echo "` + leftRunningLine + `pid ${proc#/proc/} $name"
done 2>/dev/null
[ "$status" -eq 130 ] && echo "` + endedByCtrlC + `" && exit 0
exit "$status"`
	// --kill-child: a test that kills unshare (make ignored the Ctrl-C)
	// kills the namespace's init, and with it everything in it.
	flags := []string{"--net", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL"}
	return append(append(append([]string{"unshare"}, flags...), "--", "sh", "-c", init, "sh"), argv...)
}

// leftRunning is what ownMachine's init found running once make had exited.
func leftRunning(t *testing.T, p *proc.Process) []string {
	t.Helper()
	data, err := os.ReadFile(p.Log())
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, leftRunningLine); ok {
			left = append(left, strings.TrimSpace(rest))
		}
	}
	return left
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

// get answers the body of GET url, presenting token when not "", or an
// error unless the answer is 200.
func get(ctx context.Context, client *http.Client, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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

// runScratch lists the directories make run keeps its servers' data in.
func runScratch(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "daprshop-run-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
