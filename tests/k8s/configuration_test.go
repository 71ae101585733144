package k8s

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/report"
)

// anotherAppsConfiguration is a Dapr Configuration in the shop's namespace
// that no daprshop pod names in its dapr.io/config annotation: another
// team's, sharing the namespace.
const anotherAppsConfiguration = "another-app"

// configurationOf is a Configuration named name in the shop's namespace,
// sampling traces at rate.
const configurationOf = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: %s
  namespace: %s
spec:
  tracing:
    samplingRate: "%s"
`

// reloadWatch is how long the sidecars' logs are watched for a reload
// after another app's Configuration changed: a sidecar of Dapr 1.18.1
// reloads within a second of the change.
const reloadWatch = 15 * time.Second

// reloadLogged is what a sidecar logs as it restarts its runtime for a
// changed Configuration (pkg/runtime/hotreload/reconciler/sighup.go).
const reloadLogged = "triggering SIGHUP reload"

// changeAnotherAppsConfiguration creates, changes and deletes another
// app's Configuration in the shop's namespace, and checks that no
// sidecar of the shop reloads for it. A sidecar restarts its runtime when
// the Configuration its pod names changes (hot reload, on by default from
// Dapr 1.18); 1.18.0's and 1.18.1's operator streamed every Configuration
// of the namespace to every sidecar, so each restarted on any change, its
// app briefly without a sidecar (findings.ConfigurationReloadsEverySidecar,
// fixed in 1.18.2: on an older control plane this fails, as every replay
// of a fixed bug does).
func changeAnotherAppsConfiguration(t *testing.T, c *shopCluster, sc *report.ScenarioRecorder) {
	t.Helper()
	start := time.Now()
	for _, rate := range []string{"0", "1"} {
		c.ApplyYAML(t, fmt.Sprintf(configurationOf, anotherAppsConfiguration, shopNamespace, rate))
	}
	c.Kubectl(t, "-n", shopNamespace, "delete", "configuration", anotherAppsConfiguration)

	// Every sidecar's log from the first change on, followed for the
	// watch: nothing to poll for, since what is checked is that nothing
	// comes.
	ctx, cancel := context.WithTimeout(context.Background(), reloadWatch)
	defer cancel()
	logs, err := c.KubectlContext(ctx, "-n", shopNamespace, "logs", "--follow", "--prefix", "--max-log-requests", "16",
		"-l", "app.kubernetes.io/name in (order,inventory,notification)", "-c", sidecarContainer,
		"--since-time", start.UTC().Format(time.RFC3339))
	if err != nil && ctx.Err() == nil {
		t.Fatalf("the sidecars' logs: %v", err)
	}
	reloads := linesWith(logs, reloadLogged)
	sc.Check("no sidecar restarts its runtime for another app's Configuration (dapr/dapr#10132)", len(reloads) == 0,
		fmt.Sprintf("none in the %s after %s was created, changed and deleted", reloadWatch, anotherAppsConfiguration),
		fmt.Sprintf("%d: %s", len(reloads), strings.Join(reloads, "; ")))
}

// linesWith are the lines of text that contain s.
func linesWith(text, s string) []string {
	var found []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			found = append(found, strings.TrimSpace(line))
		}
	}
	return found
}
