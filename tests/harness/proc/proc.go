// Package proc starts the processes of a test and stops them again: each by
// its own PID, never by name, so parallel runs and the developer's own
// processes are left alone.
package proc

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long a process gets to exit after SIGINT before it is
// killed: longer than any process is told it may take (daprd 15 s).
const StopTimeout = 20 * time.Second

// Spec says how to start a process.
type Spec struct {
	// Name identifies the process in logs and errors, e.g. "daprd-order".
	Name string
	Path string
	Args []string
	// Env is added to the test's own environment.
	Env []string
	Dir string
	// LogDir receives Name.log with the process's stdout and stderr.
	LogDir string
	// StopSignal asks the process to shut down gracefully (SIGINT when
	// nil). RabbitMQ's Erlang VM takes SIGINT for its break menu and
	// waits on stdin; it shuts down on SIGTERM.
	StopSignal os.Signal
	// EndsByStopSignal is a process with no shutdown of its own, which
	// the stop signal simply ends (Erlang's port mapper, epmd): dying of
	// it is a clean stop.
	EndsByStopSignal bool
	// StopGroup sends the stop signal to the process's whole group, as a
	// Ctrl-C at a terminal does: for a command such as make, which leaves
	// its children to get the signal themselves.
	StopGroup bool
}

// Process is a running (or exited) child process.
type Process struct {
	t    testing.TB
	spec Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
	log  string
	// stopping is set once the test stops or kills the process: an exit
	// before that is the process's own doing.
	stopping atomic.Bool
}

// Start starts spec and registers a cleanup that stops it. Output goes to a
// log file, whose tail is shown when the test fails.
func Start(t testing.TB, spec Spec) *Process {
	t.Helper()
	p, err := Launch(spec)
	if err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}
	p.t = t
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- last lines of %s (%s):\n%s", spec.Name, p.log, Tail(p.log, 40))
		}
	})
	return p
}

// Launch starts spec outside any test, for what a TestMain runs before the
// tests; the caller stops it with Shutdown. Tests use Start.
func Launch(spec Spec) (*Process, error) {
	p := &Process{spec: spec, log: filepath.Join(spec.LogDir, spec.Name+".log")}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) start() error {
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=== %s %s %v\n", time.Now().Format(time.RFC3339Nano), p.spec.Path, p.spec.Args)
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = append(os.Environ(), p.spec.Env...)
	cmd.Dir = p.spec.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group keeps a Ctrl-C at the terminal from reaching the
	// child before the harness stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	p.cmd, p.done, p.err = cmd, make(chan struct{}), nil
	p.stopping.Store(false)
	go func() {
		err := cmd.Wait()
		out.Close()
		p.err = err
		close(p.done)
	}()
	return nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Name is what the process was started as (Spec.Name).
func (p *Process) Name() string { return p.spec.Name }

// Exited returns a channel closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err returns how the process exited; only valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGINT (or the spec's StopSignal), waits up to StopTimeout,
// then kills. A process that exits non-zero after it failed to shut down
// gracefully and fails the test, as does one that exited on its own with
// an error before (Shutdown).
func (p *Process) Stop() {
	p.t.Helper()
	if err := p.Shutdown(); err != nil {
		p.t.Error(err)
	}
}

// Shutdown stops the process as Stop does and returns what Stop would fail
// the test with.
//
// A process that already exited, not stopped or killed by the test, is
// reported (by the first call only) when it exited with an error (a crash,
// a fatal error): nothing else may have noticed.
func (p *Process) Shutdown() error {
	select {
	case <-p.done:
		if p.err != nil && !p.stopping.Swap(true) { // reported once
			return fmt.Errorf("%s (pid %d) exited on its own before it was stopped: %w", p.spec.Name, p.PID(), p.err)
		}
		return nil
	default:
	}
	p.stopping.Store(true)
	stop := cmp.Or(p.spec.StopSignal, os.Signal(os.Interrupt))
	if p.spec.StopGroup {
		// The process leads its group (Setpgid).
		_ = syscall.Kill(-p.PID(), stop.(syscall.Signal))
	} else {
		_ = p.cmd.Process.Signal(stop)
	}
	select {
	case <-p.done:
		if p.err != nil && !(p.spec.EndsByStopSignal && endedBy(p.err, stop)) {
			return fmt.Errorf("%s (pid %d) did not shut down cleanly on %v: %w", p.spec.Name, p.PID(), stop, p.err)
		}
		return nil
	case <-time.After(StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s (pid %d) ignored %v for %s and was killed", p.spec.Name, p.PID(), stop, StopTimeout)
	}
}

// endedBy reports whether err is a process's death of signal sig.
func endedBy(err error, sig os.Signal) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == sig
}

// Kill sends SIGKILL and waits for the process to be gone, as a crash would.
func (p *Process) Kill() {
	p.stopping.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Pause freezes the process (SIGSTOP), as an overloaded or hung process
// would be: it holds its connections and answers nothing.
func (p *Process) Pause() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused process go on (SIGCONT).
func (p *Process) Resume() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Restart starts the process again with the same spec, after it exited.
func (p *Process) Restart() {
	p.t.Helper()
	select {
	case <-p.done:
	default:
		p.t.Fatalf("restart %s: still running", p.spec.Name)
	}
	if err := p.start(); err != nil {
		p.t.Fatalf("restart %s: %v", p.spec.Name, err)
	}
}

// Log returns the path of the process's log file.
func (p *Process) Log() string { return p.log }

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Ports are picked from below Linux's ephemeral range (net.ipv4.
// ip_local_port_range starts at 32768): a port the kernel may hand to an
// outgoing connection, or to the next listen on port 0, could be taken
// between the pick and the bind of the process that was given it.
const (
	firstPort = 20000
	lastPort  = 32767
)

var (
	portsMu sync.Mutex
	issued  = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that is free now and that no other
// call in this process has returned.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePorts returns n ports as FreePort does, for code outside a test.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = port
	}
	return ports, nil
}

// FreePortRun returns the first of n consecutive ports that FreePort
// could each return, and marks them all returned.
func FreePortRun(t testing.TB, n int) int {
	t.Helper()
	port, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) { return freePorts(1) }

// freePorts finds n consecutive free ports not yet issued, issues them, and
// returns the first.
func freePorts(n int) (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		first := firstPort + rand.IntN(lastPort-firstPort+2-n)
		if !runFree(first, n) {
			continue
		}
		for port := first; port < first+n; port++ {
			issued[port] = true
		}
		return first, nil
	}
	return 0, fmt.Errorf("no %d free ports in a row in %d-%d", n, firstPort, lastPort)
}

// runFree reports whether ports first to first+n-1 are free and not issued.
func runFree(first, n int) bool {
	for port := first; port < first+n; port++ {
		if issued[port] {
			return false
		}
		ln, err := net.Listen("tcp", Addr(port))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// Addr returns 127.0.0.1:port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// ErrExited means the process is no longer running.
var ErrExited = errors.New("process exited")

// Usage is what a process has used so far, read from /proc.
type Usage struct {
	CPUSeconds float64
	RSSBytes   int64
}

// Usage reads the CPU time (user + system) and resident memory of the
// process and of the processes it started: a server that works in
// processes of its own (PostgreSQL forks one per connection) costs what
// they cost. A live descendant adds its CPU time and its private memory
// (RssAnon: what it shares with its parent, the code and PostgreSQL's
// shared buffers, is in the parent's already); a child that ended adds the
// CPU time the kernel kept for it.
func (p *Process) Usage() (Usage, error) {
	select {
	case <-p.done:
		return Usage{}, ErrExited
	default:
	}
	own, err := readStat(p.PID())
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CPUSeconds: own.cpuSeconds + own.childrenCPUSeconds, RSSBytes: own.rssBytes}
	for _, pid := range descendants(p.PID()) {
		st, err1 := readStat(pid)
		anon, err2 := rssAnon(pid)
		if err1 != nil || err2 != nil {
			continue // it ended meanwhile: its parent's children's time has it
		}
		u.CPUSeconds += st.cpuSeconds + st.childrenCPUSeconds
		u.RSSBytes += anon
	}
	return u, nil
}

// stat is what Usage reads from /proc/PID/stat.
type stat struct {
	ppid                           int
	cpuSeconds, childrenCPUSeconds float64
	rssBytes                       int64
}

func readStat(pid int) (stat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: ppid is field 4 of the whole line, utime, stime, cutime and
	// cstime 14 to 17, rss 24.
	rest := data[bytes.LastIndexByte(data, ')')+2:]
	fields := bytes.Fields(rest)
	if len(fields) < 22 {
		return stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	var n [6]int64
	var errs []error
	for i, f := range []int{1, 11, 12, 13, 14, 21} {
		n[i], err = strconv.ParseInt(string(fields[f]), 10, 64)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// The kernel counts CPU time in clock ticks (USER_HZ, 100 on Linux).
	return stat{ppid: int(n[0]), cpuSeconds: float64(n[1]+n[2]) / 100, childrenCPUSeconds: float64(n[3]+n[4]) / 100,
		rssBytes: n[5] * int64(os.Getpagesize())}, nil
}

// descendants lists the live processes under pid, children first.
func descendants(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	children := map[int][]int{}
	for _, dir := range dirs {
		child, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		if st, err := readStat(child); err == nil {
			children[st.ppid] = append(children[st.ppid], child)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// rssAnon reads the process's private resident memory.
func rssAnon(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			var kB int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kB)
			return kB << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no RssAnon", pid)
}
