package cluster

import (
	"context"
	"testing"
	"time"
)

// KillContainer kills the container id (a pod status's containerID
// without its "containerd://") with SIGKILL, through the node's container
// runtime, as a crash or the OOM killer would: the kubelet sees it exit
// and restarts it under the pod's restart policy.
func (c *Cluster) KillContainer(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id); err != nil {
		t.Fatal(err)
	}
}
