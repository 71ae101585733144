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

// spentAfter is how long an outbox event whose record is gone must have
// been pending to count as spent. With no load on the shop a forward
// acknowledges its event as soon as it deletes the record, so a few
// seconds are plenty; the pub/sub component's processingTimeout (15 s,
// deploy/k8s/base/dapr/pubsub.yaml) is not: the broker hands a stuck
// entry to a consumer again every processingTimeout, which starts its
// idle time anew, so it is never pending that long (CI's run of 6758a46
// acknowledged none so, and the event spun in the other replica).
const spentAfter = 3 * time.Second

// restartRounds is how many times a spinning sidecar's remedy is applied
// before the suite gives up: a restarted sidecar's pending events go to
// the other replica, whose forwarder may spin on them in turn (CI's run of
// 6758a46: order's second replica spun once the first had restarted).
const restartRounds = 3

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
// sends nothing: when is "before the load" or "after the load" (checked
// after the load's invariants, which wait until everything it sent is
// handled), so that a sidecar that began to spin during a scenario is
// that scenario's known issue, and what the scenario measured is read
// knowing it. On Kubernetes a spinning sidecar starves its node: its
// neighbours' probes and DNS lookups time out and every scenario after it
// fails, each after its whole time (CI's run of 163e4a7 spent its last 18
// minutes so).
//
// A spinning sidecar is stopped as deploy/k8s/README.md tells operators
// to (stopSpinning), and again if another spins then, up to restartRounds
// times. When the stacks show the outbox forwarder still running in every
// spinning sidecar, all of them order's, each such round is the known
// findings.OutboxRetriesForever; anything else is not. It returns false,
// and the suite stops, only if a sidecar still spins after the last round.
func checkSidecarsIdle(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, when string) bool {
	t.Helper()
	expected := fmt.Sprintf("no daprd above %.1f of a core over %s with no load", idleSidecarCores, idleWindow)
	invariant := "every sidecar idle " + when
	restarted := "every sidecar idle " + when + ", once the spinning ones restarted"
	loads := measureSidecars(t, c)
	spinning := spinningOf(loads)
	if len(spinning) == 0 {
		return sc.Check(invariant, true, expected, describeLoads(loads))
	}
	for round := 1; ; round++ {
		if round > 1 {
			invariant = fmt.Sprintf("%s (round %d)", restarted, round-1)
		}
		what, issue := stopSpinning(t, c, sc, spinning, loads)
		restore := sc.KnownIssueFor(issue)
		sc.Check(invariant, false, expected, describeLoads(loads)+"; "+what)
		restore()
		loads = measureSidecars(t, c)
		spinning = spinningOf(loads)
		if len(spinning) == 0 || round == restartRounds {
			return sc.Check(restarted, len(spinning) == 0,
				fmt.Sprintf("%s, after at most %d rounds of restarts", expected, restartRounds), describeLoads(loads))
		}
	}
}

// spinningOf returns the sidecars of loads that use more than
// idleSidecarCores.
func spinningOf(loads []sidecarLoad) []sidecarLoad {
	return slices.DeleteFunc(slices.Clone(loads), func(l sidecarLoad) bool { return l.cores <= idleSidecarCores })
}

// stopSpinning stops the spinning sidecars: the outbox events that have
// nothing left to forward are acknowledged, then each sidecar is sent
// SIGQUIT, which has daprd print every goroutine's stack to its log (kept
// in the cluster's log directory) before the kubelet restarts it. It says
// what it did and found, and names the known issue
// (findings.OutboxRetriesForever) when every spinning sidecar is order's
// with the outbox forwarder in its stacks, or "" if not.
func stopSpinning(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, spinning, all []sidecarLoad) (what, issue string) {
	t.Helper()
	var said []string
	if redis := shopOn(t, c, sc).Servers.Redis; redis != nil {
		dropped, err := redis.DropSpentOutboxEvents(context.Background(), redis, outboxRecordPrefix, spentAfter)
		said = append(said, fmt.Sprintf("outbox events acknowledged with their record gone: %d %v", len(dropped), dropped))
		if err != nil {
			said = append(said, "acknowledging them: "+err.Error())
		}
	} else {
		said = append(said, "the outbox's internal topic is on "+c.profile.Name+": no spent event acknowledged")
	}
	pods := make([]pod, len(all))
	for i, l := range all {
		pods[i] = l.pod
	}
	outboxBug := true
	for _, s := range spinning {
		lines, kept := quitSidecar(t, c, sc, s.pod, podName(s.pod, pods))
		said = append(said, fmt.Sprintf("%s: %d goroutines of the outbox forwarder in its stacks (%s), at %s",
			s.pod.Metadata.Name, len(lines), kept, strings.Join(lines, " ")))
		outboxBug = outboxBug && len(lines) > 0 && s.pod.Metadata.Labels["app.kubernetes.io/name"] == "order"
	}
	if outboxBug {
		issue = findings.OutboxRetriesForever.Known()
	}
	return strings.Join(said, "; "), issue
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
// it (name, "order's pod 1", says which in the invariant), keeps the stacks
// it printed in the cluster's log directory, and
// returns where each goroutine of the outbox forwarder was in them
// ("outbox.go:319" each).
func quitSidecar(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, p pod, name string) (forwarders []string, kept string) {
	t.Helper()
	killSidecar(t, c, sc, p, "SIGQUIT", name+"'s daprd restarted after SIGQUIT")
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
