package k8s

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/harness/proc"
	"github.com/daprshop/daprshop/tests/harness/system"
	"github.com/daprshop/daprshop/tests/report"
	"github.com/daprshop/daprshop/tests/suite"
)

// daprRelease is Dapr as the cluster runs it: the chart make k8s-e2e
// rendered, and the versions its control plane and its sidecars say, as
// they start, they run.
type daprRelease struct {
	// chartDir holds the rendered chart: dapr-crds.yaml and dapr.yaml.
	chartDir string
	// controlPlane and sidecar are versions without their v.
	controlPlane, sidecar string
}

func (r daprRelease) String() string {
	if r.controlPlane == r.sidecar {
		return "Dapr " + r.controlPlane
	}
	return fmt.Sprintf("Dapr %s's control plane with daprd %s", r.controlPlane, r.sidecar)
}

// daprReleases returns what is under test on the cluster (the control
// plane of K8S_E2E_DAPR_VERSION, the sidecars the daprd under test) and,
// when K8S_E2E_UPGRADE_FROM names one, the release the cluster starts on,
// is upgraded from and rolled back to (nil otherwise).
func daprReleases(t *testing.T, root string) (underTest daprRelease, from *daprRelease) {
	t.Helper()
	_, sidecar, err := system.CheckDaprd(root)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out", "k8s-e2e")
	underTest = daprRelease{chartDir: out, controlPlane: controlPlaneRelease(t, root), sidecar: strings.TrimPrefix(sidecar, "v")}
	if !knobs.K8SUpgradeFrom.Set() {
		return underTest, nil
	}
	version, err := knobs.K8SUpgradeFrom.Release()
	if err != nil {
		t.Fatal(err)
	}
	from = &daprRelease{chartDir: filepath.Join(out, "from"), controlPlane: strings.TrimPrefix(version, "v"), sidecar: strings.TrimPrefix(version, "v")}
	if _, err := os.Stat(filepath.Join(from.chartDir, "dapr.yaml")); err != nil {
		t.Fatalf("no chart of %s to start from: run make k8s-e2e %s=%s (%v)", version, knobs.K8SUpgradeFrom.Name, version, err)
	}
	return underTest, from
}

// applyDapr installs release r's chart over whatever runs, as helm
// upgrade (and helm rollback, whose charts hold the same objects) does:
// its CRDs first, established, then the rest; and checks that each
// control plane service rolls out and runs r. The sidecars are the apps'
// to restart.
//
// The CRDs are applied with --force-conflicts: helm upgrade leaves them
// alone, Dapr's upgrade notes have them replaced, and the operator owns a
// field of each (the conversion webhook's service namespace, which it
// sets again), so a plain server-side apply of a release's CRDs over a
// running one is refused.
func applyDapr(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, r daprRelease) {
	t.Helper()
	crds := filepath.Join(r.chartDir, "dapr-crds.yaml")
	c.Kubectl(t, "apply", "--server-side", "--force-conflicts", "-f", crds)
	c.Kubectl(t, "wait", "--for", "condition=Established", "--timeout", "60s", "-f", crds)
	c.Kubectl(t, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(r.chartDir, "dapr.yaml"))
	sc.Phase("waiting for the control plane")
	for _, w := range []string{"deployment/dapr-operator", "deployment/dapr-sentry", "deployment/dapr-sidecar-injector",
		"statefulset/dapr-placement-server", "statefulset/dapr-scheduler-server"} {
		out, err := c.KubectlContext(context.Background(), "-n", daprNamespace, "rollout", "status", w, "--timeout", rolloutTimeout.String())
		sc.Check(w+" ready", err == nil, "rolled out within "+rolloutTimeout.String(), why(c, daprNamespace, w, out, err))
		// kubectl logs of a workload reads one of its pods, which may be
		// one the rollout is still terminating: asked again until it is
		// the release's.
		ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
		got, err := proc.Await(ctx, func(ctx context.Context) (startLine, bool) {
			logs, err := c.KubectlContext(ctx, "-n", daprNamespace, "logs", w)
			got := startLine{version: system.LoggedDaprVersion(logs), err: err}
			return got, err == nil && got.version == r.controlPlane
		})
		cancel()
		sc.Check(w+" runs the release applied", err == nil, "its start logged: -- version "+r.controlPlane+" -- within "+rolloutTimeout.String(), got.String())
	}
	c.dapr = r
}

// startLine is what a Dapr process's log says of its version.
type startLine struct {
	version string
	err     error // the log could not be read
}

func (l startLine) String() string {
	if l.err != nil {
		return fmt.Sprintf("its log unread: %v", l.err)
	}
	return fmt.Sprintf("version %q logged", l.version)
}

// checkSidecars checks that every sidecar of pods runs the daprd of the
// release the cluster runs: the image its injector injects now, and the
// version that daprd logged as it started.
func checkSidecars(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder, pods []pod) {
	t.Helper()
	image := c.Kubectl(t, "-n", daprNamespace, "get", "deployment", "dapr-sidecar-injector",
		"-o", `jsonpath={.spec.template.spec.containers[0].env[?(@.name=="SIDECAR_IMAGE")].value}`)
	for _, p := range pods {
		sidecar, ok := p.container(sidecarContainer)
		if !ok {
			continue
		}
		logs, err := c.KubectlContext(context.Background(), "-n", shopNamespace, "logs", p.Metadata.Name, "-c", sidecarContainer)
		got := startLine{version: system.LoggedDaprVersion(logs), err: err}
		sc.Check("sidecar of "+podName(p, pods)+" runs the daprd of the release applied", err == nil && sidecar.Image == image && got.version == c.dapr.sidecar,
			fmt.Sprintf("image %s (the injector's), its start logged: -- version %s --", image, c.dapr.sidecar),
			fmt.Sprintf("%s: image %s, %s", p.Metadata.Name, sidecar.Image, got))
	}
}

// moveDaprUnderLoad moves the cluster from the Dapr it runs to r under
// the suite's load, as a platform team upgrades (or rolls back): r's chart
// over the running control plane, then every Deployment restarted so that
// its pods get r's sidecar. Every order of the load must be answered and
// kept (suite.Load), and afterwards every workload, sidecar and control
// plane service runs r.
func moveDaprUnderLoad(t *testing.T, c *shopCluster, name string, r daprRelease) {
	t.Run(name, func(t *testing.T) {
		sc := run.Scenario(t, name)
		duration, err := knobs.E2ELoadDuration.Duration()
		if err != nil {
			t.Fatal(err)
		}
		suite.Load(t, sc, shopOn(t, c, sc), suite.LoadOptions{
			Duration:  duration,
			FaultName: name,
			Fault: func() {
				applyDapr(t, c, sc, r)
				restartApps(t, c, sc)
			},
		})
		checkRollout(t, c, sc, shopApps)
	})
}
