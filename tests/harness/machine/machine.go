package machine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/proc"
)

// BootTimeout bounds how long a machine may take to reach multi-user.target.
const BootTimeout = 60 * time.Second

// Bridge is the network the machines are joined to, made in the test's
// network namespace: the machines' only way out, as a VLAN would be.
type Bridge struct {
	Name string
	// Prefix is the subnet's /24 prefix, e.g. "192.0.2.".
	Prefix string
}

// NewBridge makes bridge name with address prefix+"1"/24 (the host's side)
// and deletes it when the test ends.
func NewBridge(t testing.TB, name, prefix string) *Bridge {
	t.Helper()
	for _, args := range [][]string{
		{"link", "add", name, "type", "bridge"},
		{"addr", "add", prefix + "1/24", "dev", name},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	return &Bridge{Name: name, Prefix: prefix}
}

// Machine is a booted Debian machine.
type Machine struct {
	Name string
	// IP is its address on the bridge.
	IP string
	// Root is its file system, as the host sees it.
	Root   string
	nspawn *proc.Process
}

// Spec says what a machine is.
type Spec struct {
	Name string
	// Host is the last byte of its address on the bridge.
	Host int
	// BindRO are host directories seen read-only in the machine, as
	// "host-path:machine-path".
	BindRO []string
}

// Boot boots a machine from image on an overlay of its own, joined to b
// with its own hostname and address, and waits until systemd says it is
// running. It is shut down, and its overlay removed, when the test ends.
func Boot(t testing.TB, image string, b *Bridge, logDir string, spec Spec) *Machine {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", image, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		t.Fatalf("mount the overlay of %s: %v", spec.Name, err)
	}
	// Registered first, so it runs last: after the machine shut down.
	t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })

	m := &Machine{Name: spec.Name, IP: b.Prefix + strconv.Itoa(spec.Host), Root: root}
	m.configure(t)
	args := []string{"--register=no", "--keep-unit", "--quiet", "--console=passive",
		"--directory=" + root, "--machine=" + spec.Name, "--network-bridge=" + b.Name, "--boot"}
	for _, bind := range spec.BindRO {
		args = append(args, "--bind-ro="+bind)
	}
	m.nspawn = proc.Start(t, proc.Spec{Name: "machine-" + spec.Name, Path: "systemd-nspawn", Args: args, LogDir: logDir})
	m.waitRunning(t)
	return m
}

// configure gives the machine its hostname and its address, through
// systemd-networkd, as an operator's image would.
func (m *Machine) configure(t testing.TB) {
	t.Helper()
	files := map[string]string{
		"etc/hostname":                         m.Name + "\n",
		"etc/systemd/network/10-host0.network": fmt.Sprintf("[Match]\nName=host0\n\n[Network]\nAddress=%s/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n", m.IP),
	}
	for path, content := range files {
		m.WriteFile(t, path, content, 0o644)
	}
	for link, unit := range map[string]string{
		"etc/systemd/system/multi-user.target.wants/systemd-networkd.service":                 "/lib/systemd/system/systemd-networkd.service",
		"etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service": "/lib/systemd/system/systemd-networkd-wait-online.service",
	} {
		p := filepath.Join(m.Root, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(unit, p); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
}

// WriteFile writes content to path (relative to the machine's root), as an
// operator copying a file onto the VM would.
func (m *Machine) WriteFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(m.Root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// ReadFile reads path (relative to the machine's root).
func (m *Machine) ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(m.Root, path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// waitRunning waits until systemd in the machine says the system is
// running, and fails the test with what failed when it says degraded.
func (m *Machine) waitRunning(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	var state string
	err := proc.WaitUntil(ctx, func(context.Context) error {
		state, _ = m.Exec("systemctl", "is-system-running")
		switch state = strings.TrimSpace(state); state {
		case "running", "degraded":
			return nil
		}
		return fmt.Errorf("systemd says %q", state)
	}, m.nspawn)
	if err != nil {
		t.Fatalf("machine %s did not boot: %v", m.Name, err)
	}
	if state == "degraded" {
		failed, _ := m.Exec("systemctl", "--failed", "--no-legend", "--plain")
		t.Fatalf("machine %s booted degraded: failed units: %s", m.Name, failed)
	}
}

// Reboot reboots the machine from inside (systemctl reboot), boots it
// again as its host would (systemd-nspawn exits 133 when its machine asks
// for a reboot), and waits until systemd says it is running.
func (m *Machine) Reboot(t testing.TB) {
	t.Helper()
	_, _ = m.Exec("systemctl", "reboot") // answers, or not, as the machine goes down
	select {
	case <-m.nspawn.Exited():
	case <-time.After(BootTimeout):
		t.Fatalf("machine %s did not go down for its reboot in %s", m.Name, BootTimeout)
	}
	var exit *exec.ExitError
	if err := m.nspawn.Err(); !errors.As(err, &exit) || exit.ExitCode() != rebootExitCode {
		t.Fatalf("machine %s: systemd-nspawn ended with %v, want exit code %d (a reboot)", m.Name, err, rebootExitCode)
	}
	m.nspawn.Restart()
	m.waitRunning(t)
}

// Disconnect cuts the machine off the bridge, as a failed switch port
// would: its link stays up, nothing passes.
func (m *Machine) Disconnect(t testing.TB) {
	t.Helper()
	m.ip(t, "link", "set", m.hostLink(), "nomaster")
}

// Reconnect joins the machine to bridge b again.
func (m *Machine) Reconnect(t testing.TB, b *Bridge) {
	t.Helper()
	m.ip(t, "link", "set", m.hostLink(), "master", b.Name)
}

// hostLink is the host's end of the machine's veth pair: systemd-nspawn
// names it vb-MACHINE, cut to the 15 bytes a link name may have.
func (m *Machine) hostLink() string {
	name := "vb-" + m.Name
	return name[:min(len(name), 15)]
}

func (m *Machine) ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// rebootExitCode is systemd-nspawn's exit code when its machine asked for
// a reboot.
const rebootExitCode = 133

// init returns the PID, on the host, of the machine's PID 1.
func (m *Machine) init() (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", m.nspawn.PID(), m.nspawn.PID()))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, fmt.Errorf("machine %s has no init yet", m.Name)
	}
	return strconv.Atoi(fields[0])
}

// Exec runs a command in the machine, as root, in all its namespaces, and
// returns what it printed (stdout and stderr).
func (m *Machine) Exec(args ...string) (string, error) {
	pid, err := m.init()
	if err != nil {
		return "", err
	}
	out, err := exec.Command("nsenter", append([]string{"--target", strconv.Itoa(pid), "--all", "--"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s on %s: %w: %s", strings.Join(args, " "), m.Name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// MustExec is Exec that fails the test when the command does.
func (m *Machine) MustExec(t testing.TB, args ...string) string {
	t.Helper()
	out, err := m.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// HTTPClient returns a client whose connections are made inside the
// machine's network namespace: 127.0.0.1 is the machine's loopback, where
// the apps and their sidecars listen, as a process on the VM would see it.
func (m *Machine) HTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: m.dial, DisableKeepAlives: true}}
}

// dial connects from inside the machine's network namespace.
func (m *Machine) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	pid, err := m.init()
	if err != nil {
		return nil, err
	}
	return netns.Dial(ctx, fmt.Sprintf("/proc/%d/ns/net", pid), network, addr)
}
