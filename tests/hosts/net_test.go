package hosts_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/netns"
	"github.com/daprshop/daprshop/tests/harness/proc"
)

// The hosts' network: the addresses of env/*.env (a range reserved for
// documentation), so the env files are used as they are. The test itself
// sits on the bridge at .1, as an operator's machine on the VMs' network.
const (
	bridge     = "daprshop0"
	bridgeAddr = "192.0.2.1/24"
)

// host is a network namespace with one interface on the bridge: a VM.
type host struct {
	name string
	ip   string
	// holder keeps the namespace while nothing else runs in it.
	holder *proc.Process
	veth   string
}

// holderScript waits to be stopped and then exits 0, as proc.Stop expects.
const holderScript = `trap 'exit 0' INT TERM; while :; do sleep 1; done`

// startBridge creates the bridge the hosts hang off, and removes it after
// the hosts (cleanups run in reverse).
func startBridge(t *testing.T) {
	t.Helper()
	sh(t, "ip link add "+bridge+" type bridge && ip addr add "+bridgeAddr+" dev "+bridge+" && ip link set "+bridge+" up")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
}

// startHost makes a namespace with address ip on the bridge; lo and the
// bridge link carry multicast, which mDNS needs.
func startHost(t *testing.T, logDir, name, ip string, index int) *host {
	t.Helper()
	h := &host{name: name, ip: ip, veth: fmt.Sprintf("dsveth%d", index)}
	h.holder = proc.Start(t, proc.Spec{Name: "host-" + name, Path: "unshare", Args: []string{"--net", "--", "sh", "-c", holderScript}, LogDir: logDir})
	// unshare execs sh once the namespace exists; wait until it has.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := proc.WaitUntil(ctx, func(context.Context) error {
		self, _ := os.Readlink("/proc/self/ns/net")
		if its, err := os.Readlink(h.nsPath()); err != nil || its == self {
			return fmt.Errorf("no network namespace of its own: %s, %v", its, err)
		}
		return nil
	}, h.holder)
	if err != nil {
		t.Fatalf("host %s: %v", name, err)
	}
	sh(t, fmt.Sprintf("ip link add %s type veth peer name eth0 netns %d && ip link set %s master %s up", h.veth, h.holder.PID(), h.veth, bridge))
	sh(t, fmt.Sprintf("nsenter --net=%s sh -c 'ip link set lo up && ip addr add %s/24 dev eth0 && ip link set eth0 up && ip route add 224.0.0.0/4 dev eth0'", h.nsPath(), ip))
	return h
}

func (h *host) nsPath() string { return fmt.Sprintf("/proc/%d/ns/net", h.holder.PID()) }

// spec runs path with args inside the host. nsenter execs it (no fork for a
// network namespace alone), so the PID proc signals is the program's own.
func (h *host) spec(name, logDir string, env []string, path string, args ...string) proc.Spec {
	return proc.Spec{Name: name, Path: "nsenter", Args: append([]string{"--net=" + h.nsPath(), "--", path}, args...), Env: env, LogDir: logDir}
}

// cutLink takes the host off the bridge, as a VM whose network failed.
func (h *host) cutLink(t *testing.T) { sh(t, "ip link set "+h.veth+" down") }

func (h *host) mendLink(t *testing.T) { sh(t, "ip link set "+h.veth+" up") }

// dial connects from inside the host, so that the test reaches what listens
// on the host's own loopback (the apps, the sidecars' APIs).
func (h *host) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return netns.Dial(ctx, h.nsPath(), network, addr)
}

// client is an HTTP client whose connections start inside the host.
func (h *host) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: h.dial}}
}

func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}
