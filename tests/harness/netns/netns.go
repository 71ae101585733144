// Package netns runs a test binary inside a network namespace of its own.
//
// daprd resolves app ids with mDNS, which multicasts on every interface it
// finds. Inside a fresh namespace the only interface is a private loopback:
// nothing leaks onto the machine's network, and two test runs cannot see
// each other's sidecars or collide on ports.
package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// envMarker is set in the re-executed test binary.
const envMarker = "DAPRSHOP_IN_NETNS"

// setup brings loopback up and routes multicast over it, which mDNS needs.
const setup = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$@"`

// Inside reports whether this process runs in the namespace Reexec made.
func Inside() bool { return os.Getenv(envMarker) == "1" }

// Reexec runs this test binary again, with the same arguments, inside a new
// user and network namespace, and returns its exit code. From TestMain:
//
//	if !netns.Inside() {
//		// build what needs the network, then
//		return netns.Reexec()
//	}
//	return m.Run()
func Reexec() int { return run(Command(false, os.Args...)) }

// Command is the command line that runs argv in a new network namespace,
// set up as Reexec's is: in a new user namespace too, or, privileged, as
// root with a mount namespace of its own (as ReexecPrivileged). unshare
// execs argv, so the PID it starts with is argv's, in the namespace.
func Command(privileged bool, argv ...string) []string {
	flags := []string{"--user", "--map-root-user", "--net"}
	if privileged {
		flags = []string{"--net", "--mount", "--propagation", "private"}
	}
	return append(append(append([]string{"unshare"}, flags...), "--", "sh", "-c", setup, "sh"), argv...)
}

// run runs the command line argv with the marker of this package's
// namespaces set.
func run(argv []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), envMarker+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "netns: cannot create a network namespace (needs unshare from util-linux and ip from iproute2, and user namespaces enabled): %v\n", err)
		return 1
	}
	return 0
}

// ReexecPrivileged is Reexec for tests that boot machines (systemd-nspawn),
// which a user namespace cannot: run as root, it makes a network namespace
// and a mount namespace (the machines' mounts vanish with it), without a
// user namespace.
func ReexecPrivileged() int { return run(Command(true, os.Args...)) }

// Dial connects to addr from inside the network namespace at path (a
// /proc/PID/ns/net or /run/netns/NAME): a test reaching what listens on
// another host's own loopback, as a process on that host would. The socket
// is made on a thread moved into the namespace, and keeps it.
func Dial(ctx context.Context, path, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, now in the other namespace, ends
		// with this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		ns, err := os.Open(path)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("enter the network namespace %s: %w", path, err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// portRangeFile is the namespace's range of ports the kernel picks from
// for an outgoing connection's own end (ephemeral ports).
const portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// SetEphemeralPorts makes the kernel take the local port of every new
// outgoing connection in this namespace from low to high, and returns a
// function that restores the range it replaced. It refuses outside the
// namespace Reexec made: the machine's own range is not the tests' to
// change.
func SetEphemeralPorts(low, high int) (restore func() error, err error) {
	if !Inside() {
		return nil, fmt.Errorf("netns: refusing to change %s outside the tests' namespace", portRangeFile)
	}
	old, err := os.ReadFile(portRangeFile)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(portRangeFile, fmt.Appendf(nil, "%d %d", low, high), 0o644); err != nil {
		return nil, fmt.Errorf("netns: set ephemeral ports %d-%d: %w", low, high, err)
	}
	return func() error { return os.WriteFile(portRangeFile, old, 0o644) }, nil
}
