package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/findings"
	"github.com/daprshop/daprshop/tests/report"
)

// idleWindow is how long checkSidecarsIdle watches the sidecars.
const idleWindow = 5 * time.Second

// idleSidecarCores is the most of a core a sidecar may use with no load
// on it: an idle daprd uses about a hundredth, one spinning on a
// redelivered outbox event (findings.OutboxRetriesForever) most of one.
const idleSidecarCores = 0.3

// checkSidecarsIdle records, as an invariant of sc, that no daprshop
// sidecar uses more than idleSidecarCores over idleWindow while the suite
// sends nothing. On Kubernetes a spinning sidecar starves its node: its
// neighbours' probes and DNS lookups time out and every scenario after it
// fails, each after its whole time, so a run that finds one stops (CI's
// run of 163e4a7 spent its last 18 minutes so).
func checkSidecarsIdle(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder) bool {
	t.Helper()
	type sample struct {
		pod, container string
		before         time.Duration
	}
	var samples []sample
	for _, p := range pods(t, c, shopPods) {
		if p.Metadata.Annotations["dapr.io/enabled"] != "true" {
			continue
		}
		id := containerID(t, p, sidecarContainer)
		samples = append(samples, sample{p.Metadata.Name, id, c.ContainerCPU(t, id)})
	}
	start := time.Now()
	time.Sleep(idleWindow)
	var used, spinning []string
	for _, s := range samples {
		cores := float64(c.ContainerCPU(t, s.container)-s.before) / float64(time.Since(start))
		used = append(used, fmt.Sprintf("%s %.2f", s.pod, cores))
		if cores > idleSidecarCores {
			spinning = append(spinning, s.pod)
		}
	}
	observed := "cores used: " + strings.Join(used, ", ")
	if len(spinning) > 0 {
		observed = fmt.Sprintf("%s spinning (%s); in order's sidecar most likely the known Dapr bug %s: %s",
			strings.Join(spinning, ", "), observed, findings.OutboxRetriesForever.Name, findings.OutboxRetriesForever.Summary)
	}
	return sc.Check("every sidecar idle before the load", len(spinning) == 0,
		fmt.Sprintf("no daprd above %.1f of a core over %s with no load", idleSidecarCores, idleWindow), observed)
}
