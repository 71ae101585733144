// Package cluster starts a one-node Kubernetes cluster for a test, made of
// parts built on this machine: kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy and kubectl from tools/kubernetes,
// CoreDNS from tools/coredns (run as a pod), and Debian's etcd, containerd,
// runc and CNI plugins.
//
// Everything runs in the test binary's own network and mount namespace (as
// root, under netns.ReexecPrivileged): the node's address, the pods' bridge
// and kube-proxy's iptables rules live and die with it. All state is in one
// temporary directory, and what the parts write to /run, /var/lib and
// /var/log lands there too (an overlay in the mount namespace); the
// kubelet's cgroups are under a root of their own; the machine-wide sysctls
// the kubelet would set are masked in the mount namespace so that it leaves
// them alone. Clusters in different namespaces can run at the same time.
// Stop (also run at the end of the test) deletes the pods gracefully, stops
// every process by its PID in reverse order, and undoes every change, which
// Leftovers then checks.
//
// The test process is on the node: it reaches pod IPs, cluster IPs and
// NodePorts directly, and Services by name (the namespace's /etc/resolv.conf
// names CoreDNS), e.g. http://web.default.svc.cluster.local/.
//
// The cluster is driven with the built kubectl; this package imports no
// Kubernetes library, so the root module stays lean.
package cluster

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daprshop/daprshop/internal/imageref"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// The images the cluster itself needs, which Options.ImagesDir must hold
// as OCI archives (tools/k8s/cmd/cluster-images writes them; make tags each
// with the version its module pins).
const (
	// PauseImage is every pod's sandbox container (tools/kubernetes
	// cmd/pause), containerd's sandbox_image; tagged with the version of
	// k8s.io/kubernetes.
	PauseImage = "daprshop/pause:1.34.2"
	// CoreDNSImage is the cluster DNS (tools/coredns).
	CoreDNSImage = "daprshop/coredns:1.15.0"
)

// The cluster's network and names.
const (
	// NodeName is the one node's name.
	NodeName = "daprshop"
	// DefaultNodeIP is the node's address (TEST-NET-2, never routed).
	DefaultNodeIP = "198.51.100.2"
	clusterDomain = "cluster.local"
	serviceCIDR   = "10.96.0.0/16"
	apiServiceIP  = "10.96.0.1" // the kubernetes Service, first of serviceCIDR
	dnsIP         = "10.96.0.10"
	clusterCIDR   = "10.244.0.0/16"
	nodePodCIDR   = "10.244.0.0/24"
	apiPort       = 6443
	nodeLink      = "kube-node0"
	podBridge     = "cni0"
	cniBinDir     = "/usr/lib/cni"
)

// Timeouts of the steps of Start and Stop.
const (
	// DefaultStartTimeout bounds Start: the node Ready and CoreDNS ready
	// take about 15 s on an idle machine.
	DefaultStartTimeout = 3 * time.Minute
	// podsGoneTimeout bounds the graceful deletion of every pod at Stop:
	// longer than the 30 s grace period a pod has by default.
	podsGoneTimeout = 90 * time.Second
)

// components are the processes of a cluster, named as their logs are.
var components = []string{"etcd", "kube-apiserver", "containerd", "kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"}

// Options say where the cluster's parts are and where its logs go.
type Options struct {
	// BinDir holds kube-apiserver, kube-controller-manager,
	// kube-scheduler, kubelet, kube-proxy and kubectl. Default:
	// out/kubernetes in the repository.
	BinDir string
	// ImagesDir holds the OCI archives (*.tar) imported into containerd
	// before the kubelet starts: at least PauseImage's and CoreDNSImage's.
	// Default: BinDir/images.
	ImagesDir string
	// LogDir receives NAME.log of every process and pods/ with the
	// containers' logs. Default: out/cluster/logs/TEST in the repository.
	LogDir string
	// NodeIP is the node's address. Default: DefaultNodeIP.
	NodeIP string
	// StartTimeout bounds Start. Default: DefaultStartTimeout.
	StartTimeout time.Duration
}

// Cluster is a running one-node cluster.
type Cluster struct {
	opts       Options
	dir        string // all state; removed at Stop
	nodeIP     string
	cgroupRoot string
	pki        *pki
	kubeconfig string

	mu        sync.Mutex
	procs     []*proc.Process // in start order
	byName    map[string]*proc.Process
	undo      []undoStep // host changes, undone last first
	tunables  map[string]string
	mounts    []string // this namespace's mount points before the start
	paths     []string // which of hostPaths were there before the start
	launched  []int    // every PID started, to check at the end
	stopped   bool
	leftovers []string
	started   time.Time
	steps     []string // how long after the start each step was done
}

// undoStep is one change to the namespace or the machine, and how to undo it.
type undoStep struct {
	what string
	fn   func() error
}

// Start starts a cluster and waits until its node is Ready and CoreDNS
// answers; the test fails if it cannot. The cluster is stopped, and checked
// to leave nothing behind, when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if err := checkNamespaces(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	root := repo.Root(t)
	opts.BinDir = cmp.Or(opts.BinDir, filepath.Join(root, "out", "kubernetes"))
	opts.ImagesDir = cmp.Or(opts.ImagesDir, filepath.Join(opts.BinDir, "images"))
	opts.LogDir = cmp.Or(opts.LogDir, filepath.Join(root, "out", "cluster", "logs", safeName(t.Name())))
	opts.NodeIP = cmp.Or(opts.NodeIP, DefaultNodeIP)
	opts.StartTimeout = cmp.Or(opts.StartTimeout, DefaultStartTimeout)
	if err := checkParts(opts); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The logs of an earlier cluster in LogDir (proc appends) would only
	// confuse.
	for _, name := range components {
		_ = os.Remove(filepath.Join(opts.LogDir, name+".log"))
	}
	_ = os.RemoveAll(filepath.Join(opts.LogDir, "pods"))
	// Not t.TempDir: a short path keeps containerd's socket paths within
	// the 108 bytes a unix socket address may have.
	dir, err := os.MkdirTemp("", "cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{
		opts:       opts,
		dir:        dir,
		nodeIP:     opts.NodeIP,
		cgroupRoot: "/" + filepath.Base(dir),
		byName:     map[string]*proc.Process{},
	}
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			t.Logf("cluster logs: %s", opts.LogDir)
		}
	})
	if c.tunables, err = readTunables(); err != nil {
		t.Fatal(err)
	}
	if c.mounts, err = mounts(); err != nil {
		t.Fatal(err)
	}
	c.paths = existingPaths()

	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()
	c.started = time.Now()
	if err := c.start(ctx); err != nil {
		t.Fatalf("cluster: %v (done: %s; logs in %s)", err, strings.Join(c.steps, ", "), opts.LogDir)
	}
	t.Logf("cluster: ready: %s (state %s, logs %s)", strings.Join(c.steps, ", "), dir, opts.LogDir)
	return c
}

// checkParts checks that every binary and Debian command the cluster runs is
// there, so that a missing one is one clear error.
func checkParts(opts Options) error {
	var missing []string
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
			missing = append(missing, filepath.Join(opts.BinDir, name)+" (make kubernetes)")
		}
	}
	for _, img := range []string{PauseImage, CoreDNSImage} {
		if _, err := os.Stat(filepath.Join(opts.ImagesDir, imageref.ArchiveName(img))); err != nil {
			missing = append(missing, filepath.Join(opts.ImagesDir, imageref.ArchiveName(img))+" (make cluster-images)")
		}
	}
	for cmd, pkg := range map[string]string{"etcd": "etcd-server", "containerd": "containerd", "ctr": "containerd", "runc": "runc", "iptables": "iptables", "ip": "iproute2"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd+" (Debian package "+pkg+")")
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, plugin)+" (Debian package containernetworking-plugins)")
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

func (c *Cluster) containerdSocket() string { return c.path("containerd", "containerd.sock") }

// Kubeconfig returns the path of a kubeconfig with the cluster's admin
// (system:masters) credentials.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// LogDir returns where the cluster's logs go (Options.LogDir).
func (c *Cluster) LogDir() string { return c.opts.LogDir }

// NodeIP returns the node's address, where the API server listens (port
// 6443) and NodePorts are served.
func (c *Cluster) NodeIP() string { return c.nodeIP }

// APIServer returns the API server's URL.
func (c *Cluster) APIServer() string {
	return "https://" + net.JoinHostPort(c.nodeIP, strconv.Itoa(apiPort))
}

// change records a change to undo at Stop.
func (c *Cluster) change(what string, undo func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undo = append(c.undo, undoStep{what, undo})
}

// done records that step is done, and when.
func (c *Cluster) done(step string) {
	c.steps = append(c.steps, fmt.Sprintf("%s %.1fs", step, time.Since(c.started).Seconds()))
}

func (c *Cluster) start(ctx context.Context) error {
	if err := setupNetwork(c.nodeIP); err != nil {
		return err
	}
	c.change("interfaces", func() error {
		var errs []error
		for _, link := range []string{podBridge, nodeLink} {
			if linkExists(link) {
				errs = append(errs, ip("link", "del", link))
			}
		}
		return errors.Join(errs...)
	})
	if err := c.privatePaths(); err != nil {
		return err
	}
	if err := c.cgroups(); err != nil {
		return err
	}
	var err error
	c.pki, err = newPKI(c.path("pki"), NodeName, []net.IP{net.ParseIP(c.nodeIP), net.ParseIP(apiServiceIP)})
	if err != nil {
		return err
	}
	kubeconfigs := map[string]string{}
	for _, id := range identities(NodeName) {
		if kubeconfigs[id.file], err = c.pki.kubeconfig(id.file, c.APIServer()); err != nil {
			return err
		}
	}
	c.kubeconfig = kubeconfigs["admin"]

	c.done("namespace and certificates")

	// The parts start slowly (seconds each on a busy machine): the node's
	// are started, and the images imported, while the API server starts;
	// the kubelet and kube-proxy wait for it by themselves.
	if err := c.launchAPIServer(); err != nil {
		return err
	}
	if err := c.startContainerd(ctx); err != nil {
		return err
	}
	c.done("containerd and images")
	if err := c.startNode(kubeconfigs); err != nil {
		return err
	}
	if err := proc.WaitUntil(ctx, c.apiReady, c.procs...); err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w", err)
	}
	c.done("API server ready")
	// Not before: both exit if they cannot yet read the configmap
	// extension-apiserver-authentication, which RBAC allows them only once
	// the API server has made its default roles.
	if err := c.startControllers(kubeconfigs); err != nil {
		return err
	}
	// CoreDNS's pod is scheduled as soon as the node is Ready.
	if _, err := c.kubectlIn(ctx, coreDNS(), "apply", "-f", "-"); err != nil {
		return err
	}
	if err := proc.WaitUntil(ctx, c.nodeReady, c.procs...); err != nil {
		return fmt.Errorf("node %s not Ready: %w", NodeName, err)
	}
	c.done("node Ready")
	if err := c.waitDNS(ctx); err != nil {
		return err
	}
	c.done("CoreDNS ready")
	return nil
}

// hostPaths are where containerd, the kubelet and CNI keep things by
// default: none may appear on the machine (Leftovers).
var hostPaths = []string{
	"/run/containerd", "/run/netns", "/var/run/kubernetes", "/var/lib/cni", "/var/lib/kubelet",
	"/var/lib/containerd", "/var/log/containers", "/var/log/pods", "/etc/cni", "/etc/kubernetes",
	"/opt/cni", "/opt/containerd",
}

// existingPaths returns which of hostPaths exist.
func existingPaths() []string {
	var there []string
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			there = append(there, p)
		}
	}
	return there
}

// overlaidDirs are the machine's directories the parts write into whatever
// their configuration says: containerd 1.6 its shims' sockets in
// /run/containerd/s, libcni its cache in /var/lib/cni, the kubelet its
// device-plugin socket in /var/lib/kubelet and container log links in
// /var/log/containers (iptables its lock in /run too).
var overlaidDirs = []string{"/run", "/var/lib", "/var/log"}

// privatePaths makes what the parts write outside the state directory land
// in it: in this mount namespace each of overlaidDirs is an overlay whose
// upper layer is in the state directory, so that nothing is made on the
// machine, even a directory (removing one at Stop would pull it from under a
// second cluster running meanwhile). It also covers the sysctls the kubelet
// would set, and names the cluster DNS in /etc/resolv.conf.
func (c *Cluster) privatePaths() error {
	for _, dir := range overlaidDirs {
		if err := c.overlay(dir); err != nil {
			return err
		}
	}
	// The node resolves through the cluster DNS, as the pods do: a test can
	// reach a Service by name. The machine's resolver is not reachable
	// from this namespace anyway.
	resolv := c.path("resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+dnsIP+"\noptions ndots:1\n"), 0o644); err != nil {
		return err
	}
	if err := c.bind(resolv, "/etc/resolv.conf"); err != nil {
		return err
	}
	// The kubelet sets machine-wide sysctls (kernel.panic, ...) unless it
	// reads the values it wants: a file holding each, bound over the
	// sysctl in this mount namespace, is what it reads.
	if err := os.MkdirAll(c.path("sysctl"), 0o755); err != nil {
		return err
	}
	for _, k := range kernelTunables {
		f := c.path("sysctl", strings.ReplaceAll(k.key, "/", "."))
		if err := os.WriteFile(f, []byte(k.want+"\n"), 0o644); err != nil {
			return err
		}
		if err := c.bind(f, "/proc/sys/"+k.key); err != nil {
			return err
		}
	}
	return nil
}

// overlay mounts, over dir, an overlay of dir and an upper layer in the
// state directory, to unmount at Stop.
func (c *Cluster) overlay(dir string) error {
	name := strings.ReplaceAll(strings.TrimPrefix(dir, "/"), "/", ".")
	upper, work := c.path("overlay", name, "upper"), c.path("overlay", name, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + dir + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", dir, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay over %s: %w", dir, err)
	}
	c.change("overlay "+dir, func() error { return unix.Unmount(dir, 0) })
	return nil
}

// bind bind-mounts src over target, to unmount at Stop.
func (c *Cluster) bind(src, target string) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s over %s: %w", src, target, err)
	}
	c.change("mount "+target, func() error { return unix.Unmount(target, 0) })
	return nil
}

// cgroups makes the kubelet's cgroup root in every hierarchy (the kubelet
// insists it exists) and removes all of it at Stop.
func (c *Cluster) cgroups() error {
	hier, err := cgroupMounts()
	if err != nil {
		return err
	}
	c.change("cgroups "+c.cgroupRoot, func() error {
		dirs, err := cgroupDirs(c.cgroupRoot)
		if err != nil {
			return err
		}
		var errs []error
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	for _, h := range hier {
		if err := os.Mkdir(filepath.Join(h, c.cgroupRoot), 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	return nil
}

// launch starts a process, logging to LogDir, and records it.
func (c *Cluster) launch(name, path string, args ...string) (*proc.Process, error) {
	p, err := proc.Launch(proc.Spec{Name: name, Path: path, Args: args, LogDir: c.opts.LogDir})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs = append(c.procs, p)
	c.byName[name] = p
	c.launched = append(c.launched, p.PID())
	return p, nil
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.BinDir, name) }

// launchAPIServer starts etcd and kube-apiserver.
func (c *Cluster) launchAPIServer() error {
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		return err
	}
	// The namespace is this cluster's own: fixed loopback ports are free.
	const client, peer = "http://127.0.0.1:2379", "http://127.0.0.1:2380"
	if _, err := c.launch("etcd", etcd,
		"--name", "cluster", "--data-dir", c.path("etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "cluster="+peer,
	); err != nil {
		return err
	}
	p := c.pki
	_, err = c.launch("kube-apiserver", c.bin("kube-apiserver"),
		"--etcd-servers", client,
		"--bind-address", c.nodeIP, "--advertise-address", c.nodeIP, "--secure-port", strconv.Itoa(apiPort),
		"--tls-cert-file", p.path("apiserver.crt"), "--tls-private-key-file", p.path("apiserver.key"),
		"--client-ca-file", p.path("ca.crt"),
		"--kubelet-client-certificate", p.path("apiserver-kubelet.crt"), "--kubelet-client-key", p.path("apiserver-kubelet.key"),
		// The node's name is not in any DNS: reach the kubelet (logs,
		// exec, port-forward) at its address.
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc."+clusterDomain,
		"--service-account-key-file", p.path("sa.pub"), "--service-account-signing-key-file", p.path("sa.key"),
		"--service-cluster-ip-range", serviceCIDR,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		"--cert-dir", c.path("apiserver"),
		"--profiling=false",
	)
	return err
}

// startControllers starts kube-controller-manager and kube-scheduler.
func (c *Cluster) startControllers(kubeconfigs map[string]string) error {
	p := c.pki
	if _, err := c.launch("kube-controller-manager", c.bin("kube-controller-manager"),
		"--kubeconfig", kubeconfigs["controller-manager"],
		"--authentication-kubeconfig", kubeconfigs["controller-manager"],
		"--authorization-kubeconfig", kubeconfigs["controller-manager"],
		"--bind-address", "127.0.0.1",
		"--service-account-private-key-file", p.path("sa.key"), "--root-ca-file", p.path("ca.crt"),
		"--use-service-account-credentials",
		"--cluster-signing-cert-file", p.path("ca.crt"), "--cluster-signing-key-file", p.path("ca.key"),
		"--allocate-node-cidrs", "--cluster-cidr", clusterCIDR, "--node-cidr-mask-size", "24",
		"--service-cluster-ip-range", serviceCIDR,
		"--leader-elect=false",
		// No cloud: its controllers would only log errors.
		"--controllers", "*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
	); err != nil {
		return err
	}
	_, err := c.launch("kube-scheduler", c.bin("kube-scheduler"),
		"--kubeconfig", kubeconfigs["scheduler"],
		"--authentication-kubeconfig", kubeconfigs["scheduler"],
		"--authorization-kubeconfig", kubeconfigs["scheduler"],
		// With leader election (a lease it takes at once, alone) the
		// scheduler exits 0 on SIGINT; without, it exits 1 ("finished
		// without leader elect").
		"--bind-address", "127.0.0.1",
	)
	return err
}

// apiReady asks the API server's /readyz with the admin's certificate.
func (c *Cluster) apiReady(ctx context.Context) error {
	body, err := c.apiGet(ctx, "/readyz")
	if err != nil {
		return err
	}
	if strings.TrimSpace(body) != "ok" {
		return fmt.Errorf("/readyz: %s", body)
	}
	return nil
}

// apiGet GETs path from the API server as the admin.
func (c *Cluster) apiGet(ctx context.Context, path string) (string, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.path("admin.crt"), c.pki.path("admin.key"))
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.caCert)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.APIServer()+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body), nil
}

// startContainerd starts containerd with its configuration and the pods'
// CNI configuration, waits for its socket, and imports every image archive.
func (c *Cluster) startContainerd(ctx context.Context) error {
	cniConf := c.path("cni", "net.d")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cniConf, "10-daprshop.conflist"), []byte(cniConfig(c.path("cni", "ipam"))), 0o644); err != nil {
		return err
	}
	config := c.path("containerd", "config.toml")
	if err := os.MkdirAll(filepath.Dir(config), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(config, []byte(containerdConfig(c.path("containerd"), c.containerdSocket(), cniConf)), 0o644); err != nil {
		return err
	}
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		return err
	}
	p, err := c.launch("containerd", containerd, "--config", config)
	if err != nil {
		return err
	}
	if err := proc.WaitUntil(ctx, func(ctx context.Context) error {
		_, err := c.ctr(ctx, "version")
		return err
	}, p); err != nil {
		return fmt.Errorf("containerd not ready: %w", err)
	}
	archives, err := filepath.Glob(filepath.Join(c.opts.ImagesDir, "*.tar"))
	if err != nil {
		return err
	}
	for _, a := range archives {
		if err := c.importImage(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// ctr runs containerd's ctr against the cluster's containerd, in the CRI's
// namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	args = append([]string{"--address", c.containerdSocket(), "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args[4:], " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (c *Cluster) importImage(ctx context.Context, archive string) error {
	_, err := c.ctr(ctx, "images", "import", "--snapshotter", "overlayfs", archive)
	return err
}

// ImportImage imports the OCI archive at path (tools/k8s/cmd/cluster-images
// writes them) into the node's containerd; pods can then run it with
// imagePullPolicy IfNotPresent or Never.
func (c *Cluster) ImportImage(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.importImage(ctx, path); err != nil {
		t.Fatal(err)
	}
}

// startNode starts the kubelet and kube-proxy.
func (c *Cluster) startNode(kubeconfigs map[string]string) error {
	configPath := c.path("kubelet", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(configPath), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(configPath, []byte(kubeletConfig(c)), 0o644); err != nil {
		return err
	}
	_, err := c.launch("kubelet", c.bin("kubelet"),
		"--config", configPath,
		"--kubeconfig", kubeconfigs["kubelet"],
		// Its default root directory, /var/lib/kubelet, is in the overlay;
		// its device plugins' socket is there whatever the root.
		"--root-dir", "/var/lib/kubelet",
		"--cert-dir", "/var/lib/kubelet/pki",
		"--hostname-override", NodeName,
		"--node-ip", c.nodeIP,
	)
	if err != nil {
		return err
	}
	proxyConfig := c.path("kube-proxy.yaml")
	if err := os.WriteFile(proxyConfig, []byte(kubeProxyConfig(c, kubeconfigs["proxy"])), 0o644); err != nil {
		return err
	}
	_, err = c.launch("kube-proxy", c.bin("kube-proxy"), "--config", proxyConfig)
	return err
}

// nodeReady asks whether the node's Ready condition is True.
func (c *Cluster) nodeReady(ctx context.Context) error {
	body, err := c.apiGet(ctx, "/api/v1/nodes/"+NodeName)
	if err != nil {
		return err
	}
	var node struct {
		Status struct {
			Conditions []struct{ Type, Status, Message string }
		}
	}
	if err := json.Unmarshal([]byte(body), &node); err != nil {
		return err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == "Ready" {
			if cond.Status == "True" {
				return nil
			}
			return fmt.Errorf("Ready is %s: %s", cond.Status, cond.Message)
		}
	}
	return errors.New("no Ready condition yet")
}

// waitDNS waits until CoreDNS is ready, and until the default namespace has
// its service account (pods cannot be made before).
func (c *Cluster) waitDNS(ctx context.Context) error {
	if _, err := c.KubectlContext(ctx, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout", remaining(ctx)); err != nil {
		return fmt.Errorf("CoreDNS: %w", err)
	}
	return proc.WaitUntil(ctx, func(ctx context.Context) error {
		_, err := c.apiGet(ctx, "/api/v1/namespaces/default/serviceaccounts/default")
		return err
	}, c.procs...)
}

// remaining is what is left of ctx's deadline, as a kubectl --timeout.
func remaining(ctx context.Context) string {
	deadline, ok := ctx.Deadline()
	if !ok {
		return "0s" // kubectl: no timeout
	}
	return strconv.Itoa(max(1, int(time.Until(deadline).Seconds()))) + "s"
}

// safeName makes a test's name a directory name.
func safeName(name string) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(name)
}
