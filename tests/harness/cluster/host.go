package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/daprshop/daprshop/tests/harness/netns"
)

// checkNamespaces refuses to start a cluster in the machine's own network
// or mount namespace: the kubelet, kube-proxy and CNI would change the
// machine's interfaces, iptables and mounts. Where PID 1's namespaces cannot
// be read (a sandbox may hide them even from root), the test binary must
// have been re-executed by netns.ReexecPrivileged.
func checkNamespaces() error {
	if os.Geteuid() != 0 {
		return errors.New("a cluster needs root")
	}
	for _, ns := range []string{"net", "mnt"} {
		self, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			return err
		}
		init, err := os.Readlink("/proc/1/ns/" + ns)
		if err != nil {
			if netns.Inside() {
				continue
			}
			return fmt.Errorf("cannot tell whether this is the machine's own %s namespace (%v): run the test binary under netns.ReexecPrivileged", ns, err)
		}
		if self == init {
			return fmt.Errorf("this process is in the machine's own %s namespace: run the test binary under netns.ReexecPrivileged (unshare --net --mount --propagation private)", ns)
		}
	}
	return nil
}

// ip runs ip(8) with args.
func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// linkExists reports whether this network namespace has the interface
// name. Not from /sys/class/net: that shows the interfaces of the namespace
// that mounted /sys, the machine's.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// setupNetwork gives the node its address: a veth pair (this kernel has no
// dummy interfaces) whose end nodeLink holds the node's IP, with the default
// route through it, so that traffic to cluster IPs has a route for
// kube-proxy's rules to rewrite. Packets are forwarded between the pods'
// bridge and the node, and bridged packets pass through iptables (Services
// between pods on the same bridge).
func setupNetwork(nodeIP string) error {
	if linkExists(nodeLink) {
		return fmt.Errorf("interface %s exists: one cluster per network namespace", nodeLink)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", nodeLink, "type", "veth", "peer", "name", nodeLink + "p"},
		{"link", "set", nodeLink + "p", "up"},
		{"addr", "add", nodeIP + "/24", "dev", nodeLink},
		{"link", "set", nodeLink, "up"},
		{"route", "replace", "default", "dev", nodeLink},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	// Both are settings of this network namespace, not the machine's.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return err
	}
	const bridgeNF = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(bridgeNF); err == nil {
		return os.WriteFile(bridgeNF, []byte("1"), 0o644)
	}
	return nil
}

// kernelTunables are the machine-wide sysctls the kubelet sets at start
// (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables) and the
// values it wants. They are not per network namespace.
var kernelTunables = []struct {
	key  string
	want string
}{
	{"vm/overcommit_memory", "1"},
	{"vm/panic_on_oom", "0"},
	{"kernel/panic", "10"},
	{"kernel/panic_on_oops", "1"},
	{"kernel/keys/root_maxkeys", "1000000"},
	{"kernel/keys/root_maxbytes", "25000000"},
}

// readTunables returns the machine's values of kernelTunables.
func readTunables() (map[string]string, error) {
	vals := map[string]string{}
	for _, k := range kernelTunables {
		data, err := os.ReadFile("/proc/sys/" + k.key)
		if err != nil {
			return nil, err
		}
		vals[k.key] = strings.TrimSpace(string(data))
	}
	return vals, nil
}

// mounts lists the mount points of this mount namespace.
func mounts() ([]string, error) { return mountPoints(func(string) bool { return true }) }

// cgroupMounts returns the mount points of the cgroup v1 hierarchies.
func cgroupMounts() ([]string, error) {
	return mountPoints(func(fstype string) bool { return fstype == "cgroup" })
}

// mountPoints lists the mount points of this mount namespace whose file
// system type keep accepts, from /proc/self/mountinfo.
func mountPoints(keep func(fstype string) bool) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if len(fields) > 4 && len(postFields) > 0 && keep(postFields[0]) {
			points = append(points, unescapeMount(fields[4]))
		}
	}
	return points, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmount unmounts each of points, deepest first; a busy one is detached.
func unmount(points []string) error {
	points = slices.Clone(points)
	// Deepest first; a path mounted twice is unmounted twice.
	slices.SortStableFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs []error
	for _, m := range points {
		if err := unix.Unmount(m, 0); err != nil {
			if err2 := unix.Unmount(m, unix.MNT_DETACH); err2 != nil && !errors.Is(err2, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupDirs returns every directory of the cgroup root under each
// hierarchy, deepest first.
func cgroupDirs(root string) ([]string, error) {
	hier, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	// The cgroup v2 hierarchy of a hybrid host too: nothing should create
	// the root there, but a leftover would be one.
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
		hier = append(hier, "/sys/fs/cgroup/unified")
	}
	var dirs []string
	for _, h := range hier {
		top := filepath.Join(h, root)
		err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return filepath.SkipDir
				}
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs, nil
}
