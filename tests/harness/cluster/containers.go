package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// KillContainer sends signal ("SIGKILL", "SIGQUIT") to the container id
// (a pod status's containerID without its "containerd://") through the
// node's container runtime: SIGKILL as a crash or the OOM killer would,
// SIGQUIT to have a Go program print every goroutine's stack to its log
// and exit. The kubelet sees it exit and restarts it under the pod's
// restart policy.
func (c *Cluster) KillContainer(t testing.TB, id, signal string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ctr(ctx, "tasks", "kill", "--signal", signal, id); err != nil {
		t.Fatal(err)
	}
}

// ContainerCPU returns the CPU time container id has used since it
// started, as its cgroup counts it (containerd's task metrics, cgroup v1
// or v2).
func (c *Cluster) ContainerCPU(t testing.TB, id string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.ctr(ctx, "tasks", "metrics", "--format", "json", id)
	if err != nil {
		t.Fatal(err)
	}
	used, err := cpuUsed([]byte(out))
	if err != nil {
		t.Fatalf("container %s: %v", id, err)
	}
	return used
}

// cpuUsed reads the CPU time out of ctr's task metrics: cgroup v1's
// cpuacct usage in nanoseconds, or cgroup v2's cpu.stat usage_usec.
func cpuUsed(metrics []byte) (time.Duration, error) {
	var m struct {
		CPU struct {
			Usage *struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
			UsageUsec *uint64 `json:"usage_usec"`
		} `json:"cpu"`
	}
	if err := json.Unmarshal(metrics, &m); err != nil {
		return 0, fmt.Errorf("task metrics: %w", err)
	}
	switch {
	case m.CPU.Usage != nil:
		return time.Duration(m.CPU.Usage.Total), nil
	case m.CPU.UsageUsec != nil:
		return time.Duration(*m.CPU.UsageUsec) * time.Microsecond, nil
	}
	return 0, fmt.Errorf("task metrics name no CPU usage: %.200s", metrics)
}
