package k8s

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// outboxRecordPrefix is what state.redis puts before the keys of order's
// sidecar (its app id, the default keyPrefix), the outbox's transaction
// records among them.
const outboxRecordPrefix = "order||"

// processingTimeout is the pub/sub component's
// (deploy/k8s/base/dapr/pubsub.yaml): an outbox event pending for less may
// still be on its way.
const processingTimeout = 15 * time.Second

// outboxForwarder is the function of daprd whose goroutines forward
// outbox events (pkg/runtime/pubsub/outbox.go); with no load on the shop,
// none of them should be running.
const outboxForwarder = "(*outboxImpl).SubscribeToInternalTopics"

// sidecarLoad is how much of a core one sidecar used over idleWindow.
type sidecarLoad struct {
	pod   pod
	cores float64
}

// checkSidecarsIdle records, as an invariant of sc, that no daprshop
// sidecar uses more than idleSidecarCores over idleWindow while the suite
// sends nothing. On Kubernetes a spinning sidecar starves its node: its
// neighbours' probes and DNS lookups time out and every scenario after it
// fails, each after its whole time (CI's run of 163e4a7 spent its last 18
// minutes so).
//
// A spinning sidecar is stopped as deploy/k8s/README.md tells operators
// to: the outbox events that have nothing left to forward are
// acknowledged, then the sidecar is sent SIGQUIT, which has daprd print
// every goroutine's stack to its log (kept in the cluster's log directory)
// before the kubelet restarts it. When those stacks show the outbox
// forwarder still running in every spinning sidecar, all of them order's,
// the failure is the known findings.OutboxRetriesForever; anything else
// is not. It returns false, and the suite stops, only if a sidecar still
// spins once restarted.
func checkSidecarsIdle(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder) bool {
	t.Helper()
	const invariant = "every sidecar idle before the load"
	expected := fmt.Sprintf("no daprd above %.1f of a core over %s with no load", idleSidecarCores, idleWindow)
	loads := measureSidecars(t, c)
	spinning := slices.DeleteFunc(slices.Clone(loads), func(l sidecarLoad) bool { return l.cores <= idleSidecarCores })
	if len(spinning) == 0 {
		return sc.Check(invariant, true, expected, describeLoads(loads))
	}

	redis := shopOn(t, c, sc).Servers.Redis
	dropped, err := redis.DropSpentOutboxEvents(context.Background(), redis, outboxRecordPrefix, processingTimeout)
	what := []string{fmt.Sprintf("outbox events acknowledged with their record gone: %d %v", len(dropped), dropped)}
	if err != nil {
		what = append(what, "acknowledging them: "+err.Error())
	}
	outboxBug := true
	for _, s := range spinning {
		lines, kept := quitSidecar(t, c, sc, s.pod)
		what = append(what, fmt.Sprintf("%s: %d goroutines of the outbox forwarder in its stacks (%s), at %s",
			s.pod.Metadata.Name, len(lines), kept, strings.Join(lines, " ")))
		outboxBug = outboxBug && len(lines) > 0 && s.pod.Metadata.Labels["app.kubernetes.io/name"] == "order"
	}
	issue := ""
	if outboxBug {
		issue = findings.OutboxRetriesForever.Known()
	}
	restore := sc.KnownIssueFor(issue)
	sc.Check(invariant, false, expected, describeLoads(loads)+"; "+strings.Join(what, "; "))
	restore()

	loads = measureSidecars(t, c)
	return sc.Check("every sidecar idle once the spinning ones restarted", !slices.ContainsFunc(loads, func(l sidecarLoad) bool { return l.cores > idleSidecarCores }),
		expected, describeLoads(loads))
}

// measureSidecars returns how much of a core each daprshop sidecar used
// over idleWindow, from its cgroup.
func measureSidecars(t *testing.T, c *shopCluster) []sidecarLoad {
	t.Helper()
	type sample struct {
		pod       pod
		container string
		before    time.Duration
	}
	var samples []sample
	for _, p := range pods(t, c, shopPods) {
		if p.Metadata.Annotations["dapr.io/enabled"] != "true" {
			continue
		}
		id := containerID(t, p, sidecarContainer)
		samples = append(samples, sample{p, id, c.ContainerCPU(t, id)})
	}
	start := time.Now()
	time.Sleep(idleWindow)
	loads := make([]sidecarLoad, 0, len(samples))
	for _, s := range samples {
		used := c.ContainerCPU(t, s.container) - s.before
		loads = append(loads, sidecarLoad{s.pod, float64(used) / float64(time.Since(start))})
	}
	return loads
}

// describeLoads says how much of a core each sidecar used.
func describeLoads(loads []sidecarLoad) string {
	used := make([]string, 0, len(loads))
	for _, l := range loads {
		used = append(used, fmt.Sprintf("%s %.2f", l.pod.Metadata.Name, l.cores))
	}
	return "cores used: " + strings.Join(used, ", ")
}

// quitSidecar sends p's daprd SIGQUIT, waits for the kubelet to restart
// it, keeps the stacks it printed in the cluster's log directory, and
// returns where each goroutine of the outbox forwarder was in them
// ("outbox.go:319" each).
func quitSidecar(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, p pod) (forwarders []string, kept string) {
	t.Helper()
	killSidecar(t, c, sc, p, "SIGQUIT", p.Metadata.Name+"'s daprd restarted after SIGQUIT")
	stacks, err := c.KubectlContext(context.Background(), "-n", shopNamespace, "logs", p.Metadata.Name, "-c", sidecarContainer, "--previous")
	if err != nil {
		t.Logf("%s's daprd's stacks: %v", p.Metadata.Name, err)
	}
	kept = filepath.Join(c.LogDir(), p.Metadata.Name+"-daprd-stacks.log")
	if err := os.WriteFile(kept, []byte(stacks), 0o644); err != nil {
		t.Logf("keeping %s's daprd's stacks: %v", p.Metadata.Name, err)
	}
	return forwarderPositions(stacks), kept
}

// outboxLine is where in outbox.go a goroutine's frame is.
var outboxLine = regexp.MustCompile(`outbox\.go:\d+`)

// forwarderPositions returns, for each goroutine of stacks (what a Go
// program prints on SIGQUIT) that runs the outbox forwarder, the first
// outbox.go line in its stack: the forwarder's state lookup or its delete.
func forwarderPositions(stacks string) []string {
	var at []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && strings.Contains(g, outboxForwarder) {
			at = append(at, cmp.Or(outboxLine.FindString(g), "outbox.go"))
		}
	}
	return at
}
