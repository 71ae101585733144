package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/proc"
)

// Stop deletes every pod gracefully (each container gets SIGTERM and its
// grace period, as on a real node), stops every process by its PID in the
// reverse order of their start, removes the kubelet's cgroups, mounts and
// interfaces, and checks that nothing is left (Leftovers), failing the test
// if anything is. It runs once; the test's cleanup calls it too.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	c.mu.Unlock()

	start := time.Now()
	for _, err := range c.stop() {
		t.Error("cluster stop: ", err)
	}
	c.leftovers = c.findLeftovers()
	for _, l := range c.leftovers {
		t.Error("cluster left behind: ", l)
	}
	if err := os.RemoveAll(c.dir); err != nil && len(c.leftovers) == 0 {
		t.Errorf("cluster: remove %s: %v", c.dir, err)
	}
	t.Logf("cluster: stopped in %s", time.Since(start).Round(100*time.Millisecond))
}

func (c *Cluster) stop() []error {
	var errs []error
	running := func(name string) bool {
		p := c.byName[name]
		if p == nil {
			return false
		}
		select {
		case <-p.Exited():
			return false
		default:
			return true
		}
	}
	stopProc := func(name string) {
		if p := c.byName[name]; p != nil {
			if err := c.shutdown(name, p); err != nil {
				errs = append(errs, err)
			}
		}
	}

	// No controller may replace the pods deleted next.
	stopProc("kube-scheduler")
	stopProc("kube-controller-manager")
	// Only a whole node can stop its pods gracefully.
	if running("kube-apiserver") && running("kubelet") && running("containerd") {
		c.savePodLogs()
		if err := c.deletePods(); err != nil {
			errs = append(errs, err)
		}
	}
	stopProc("kube-proxy")
	stopProc("kubelet")
	if running("containerd") {
		if err := c.removeTasks(); err != nil {
			errs = append(errs, err)
		}
	}
	stopProc("containerd")
	// Containers whose shims outlived containerd (or their shims) would
	// keep watches open on the API server, which then does not stop.
	errs = append(errs, c.killStrays(c.byName["kube-apiserver"], c.byName["etcd"])...)
	stopProc("kube-apiserver")
	stopProc("etcd")
	errs = append(errs, c.killStrays()...)
	// What the parts mounted (the containers' root file systems, the
	// kubelet's volumes), before what Start mounted.
	if err := c.unmountNew(); err != nil {
		errs = append(errs, err)
	}
	c.mu.Lock()
	undo := c.undo
	c.undo = nil
	c.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		if err := undo[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", undo[i].what, err))
		}
	}
	return errs
}

// shutdown stops p by its PID with SIGINT, as proc does; etcd exits "killed
// by signal" after a clean shutdown, which is not counted against it.
func (c *Cluster) shutdown(name string, p *proc.Process) error {
	err := p.Shutdown()
	if name == "etcd" && err != nil && strings.Contains(err.Error(), "signal: interrupt") {
		return nil
	}
	return err
}

// savePodLogs copies the containers' logs to LogDir/pods before the pods,
// and with them their logs, are deleted.
func (c *Cluster) savePodLogs() {
	src := c.path("pod-logs")
	dst := filepath.Join(c.opts.LogDir, "pods")
	_ = filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		target := filepath.Join(dst, rel)
		_ = os.MkdirAll(filepath.Dir(target), 0o755)
		_ = os.WriteFile(target, data, 0o644)
		return nil
	})
}

// deletePods deletes every pod in every namespace and waits until the
// kubelet has stopped all their containers.
func (c *Cluster) deletePods() error {
	ctx, cancel := context.WithTimeout(context.Background(), podsGoneTimeout)
	defer cancel()
	if _, err := c.KubectlContext(ctx, "delete", "pods", "--all", "--all-namespaces", "--wait", "--timeout", remaining(ctx)); err != nil {
		return fmt.Errorf("delete pods: %w", err)
	}
	return proc.WaitUntil(ctx, func(ctx context.Context) error {
		out, err := c.ctr(ctx, "tasks", "list", "--quiet")
		if err != nil {
			return err
		}
		if ids := strings.Fields(out); len(ids) > 0 {
			return fmt.Errorf("%d containers still running", len(ids))
		}
		return nil
	})
}

// removeTasks kills every container still running once the kubelet has
// stopped (only a failed deletion of the pods leaves any), and waits until
// containerd has deleted them, so that their shims exit.
func (c *Cluster) removeTasks() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tasks := func(ctx context.Context) ([]string, error) {
		out, err := c.ctr(ctx, "tasks", "list", "--quiet")
		return strings.Fields(out), err
	}
	ids, err := tasks(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	for _, id := range ids {
		_, _ = c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
	}
	// The CRI deletes a task once it has exited; what it has not deleted
	// in a few seconds is deleted here.
	wait, cancelWait := context.WithTimeout(ctx, 5*time.Second)
	defer cancelWait()
	_ = proc.WaitUntil(wait, func(ctx context.Context) error {
		ids, err := tasks(ctx)
		if err == nil && len(ids) > 0 {
			err = fmt.Errorf("%d containers left", len(ids))
		}
		return err
	})
	if ids, err = tasks(ctx); err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if _, err := c.ctr(ctx, "tasks", "delete", "--force", id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unmountNew unmounts, deepest first, every mount point that was not there
// before the start and that the start did not make itself (those are undone
// after).
func (c *Cluster) unmountNew() error {
	now, err := mounts()
	if err != nil {
		return err
	}
	c.mu.Lock()
	var ours []string
	for _, u := range c.undo {
		if target, ok := strings.CutPrefix(u.what, "mount "); ok {
			ours = append(ours, target)
		} else if target, ok := strings.CutPrefix(u.what, "overlay "); ok {
			ours = append(ours, target)
		}
	}
	c.mu.Unlock()
	var fresh []string
	before := slices.Clone(c.mounts)
	for _, m := range now {
		if i := slices.Index(before, m); i >= 0 {
			before = slices.Delete(before, i, i+1)
			continue
		}
		if i := slices.Index(ours, m); i >= 0 {
			ours = slices.Delete(ours, i, i+1)
			continue
		}
		fresh = append(fresh, m)
	}
	return unmount(fresh)
}

// killStrays waits a little for the cluster's processes, but for keep, to
// exit (shims exit on their own shortly after their last
// container is deleted), then kills what is left, each by its PID.
func (c *Cluster) killStrays(keep ...*proc.Process) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = proc.WaitUntil(ctx, func(context.Context) error {
		if n := len(c.strayProcesses(keep...)); n > 0 {
			return fmt.Errorf("%d processes left", n)
		}
		return nil
	})
	var errs []error
	for _, pid := range c.strayProcesses(keep...) {
		line := cmdline(pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		errs = append(errs, fmt.Errorf("killed stray process %d (%s)", pid, line))
	}
	return errs
}

// strayProcesses returns the PIDs of processes still running that the
// cluster started, but for keep: one it launched, one whose command line
// names the state directory (containerd's shims, which are re-parented to
// init), or one in the kubelet's cgroups (a container whose shim died).
func (c *Cluster) strayProcesses(keep ...*proc.Process) []int {
	c.mu.Lock()
	launched := slices.Clone(c.launched)
	c.mu.Unlock()
	var keepPIDs []int
	for _, p := range keep {
		if p != nil {
			keepPIDs = append(keepPIDs, p.PID())
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || slices.Contains(keepPIDs, pid) {
			continue
		}
		line := cmdline(pid)
		if line == "" { // exited, or a zombie
			continue
		}
		cgroups, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if slices.Contains(launched, pid) || strings.Contains(line, c.dir+"/") ||
			strings.Contains(string(cgroups), ":"+c.cgroupRoot+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cmdline returns the command line of pid, "" if it has exited.
func cmdline(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}

// PIDs returns the PID of every process the cluster started itself (not the
// containers' processes, which containerd's shims start).
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.launched)
}

// Leftovers returns what the stopped cluster left behind; Stop fails the
// test for each. Empty before Stop.
func (c *Cluster) Leftovers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.leftovers)
}

// findLeftovers checks what a stopped cluster must not leave: processes,
// mounts, files in the parts' default places (hostPaths), cgroups,
// interfaces, and changed machine-wide sysctls (which it also restores).
func (c *Cluster) findLeftovers() []string {
	var left []string
	for _, pid := range c.strayProcesses() {
		left = append(left, fmt.Sprintf("process %d: %s", pid, cmdline(pid)))
	}
	if now, err := mounts(); err != nil {
		left = append(left, "mounts: "+err.Error())
	} else {
		// What is mounted now and was not before, counting a path
		// mounted twice twice.
		before := slices.Clone(c.mounts)
		for _, m := range now {
			if i := slices.Index(before, m); i >= 0 {
				before = slices.Delete(before, i, i+1)
				continue
			}
			left = append(left, "mount "+m)
		}
	}
	for _, p := range existingPaths() {
		if !slices.Contains(c.paths, p) {
			left = append(left, "path "+p)
		}
	}
	if dirs, err := cgroupDirs(c.cgroupRoot); err != nil {
		left = append(left, "cgroups: "+err.Error())
	} else {
		for _, d := range dirs {
			left = append(left, "cgroup "+d)
		}
	}
	for _, link := range []string{podBridge, nodeLink, nodeLink + "p"} {
		if linkExists(link) {
			left = append(left, "interface "+link)
		}
	}
	now, err := readTunables()
	if err != nil {
		left = append(left, "sysctls: "+err.Error())
	}
	for _, k := range kernelTunables {
		if was := c.tunables[k.key]; now[k.key] != was {
			left = append(left, fmt.Sprintf("sysctl %s is %s, was %s (restored)", k.key, now[k.key], was))
			_ = os.WriteFile("/proc/sys/"+k.key, []byte(was), 0o644)
		}
	}
	return left
}
