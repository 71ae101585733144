package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
		"-l", shopAppPods, "-c", sidecarContainer,
		"--since-time", start.UTC().Format(time.RFC3339))
	if err != nil && ctx.Err() == nil {
		t.Fatalf("the sidecars' logs: %v", err)
	}
	reloads := reloadsLogged(logs)
	sc.Check("no sidecar restarts its runtime for another app's Configuration (dapr/dapr#10132)", len(reloads) == 0,
		fmt.Sprintf("none in the %s after %s was created, changed and deleted", reloadWatch, anotherAppsConfiguration),
		fmt.Sprintf("%d: %s", len(reloads), strings.Join(reloads, "; ")))
}

// reloadsLogged are the reloads that logs (kubectl logs --prefix of
// sidecars, daprd's JSON lines) show, each as "APP's sidecar: message".
func reloadsLogged(logs string) []string {
	var reloads []string
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, reloadLogged) {
			continue
		}
		var entry struct {
			AppID string `json:"app_id"`
			Msg   string `json:"msg"`
		}
		_, entryJSON, _ := strings.Cut(line, "] ")
		if json.Unmarshal([]byte(entryJSON), &entry) != nil || entry.AppID == "" {
			reloads = append(reloads, strings.TrimSpace(line))
			continue
		}
		reloads = append(reloads, entry.AppID+"'s sidecar: "+entry.Msg)
	}
	return reloads
}

func TestReloadsLogged(t *testing.T) {
	logs := `[pod/order-746697db49-84g2x/daprd] {"app_id":"order","level":"info","msg":"Received Configuration CREATED event: another-app - triggering SIGHUP reload","scope":"dapr.runtime.hotreload.reconciler"}
[pod/order-746697db49-84g2x/daprd] {"app_id":"order","level":"info","msg":"HTTP API Called","method":"POST /v1.0/state/orderstore"}
[pod/inventory-56887744d8-rzjbh/daprd] time="..." level=info msg="Received Configuration UPDATED event: another-app - triggering SIGHUP reload"
`
	want := []string{
		"order's sidecar: Received Configuration CREATED event: another-app - triggering SIGHUP reload",
		`[pod/inventory-56887744d8-rzjbh/daprd] time="..." level=info msg="Received Configuration UPDATED event: another-app - triggering SIGHUP reload"`,
	}
	if got := reloadsLogged(logs); !slices.Equal(got, want) {
		t.Errorf("reloadsLogged =\n%q\nwant\n%q", got, want)
	}
}
