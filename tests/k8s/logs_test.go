package k8s

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// logErrorsSince logs what the shop's apps and their sidecars logged as
// errors or warnings since start, each distinct message once with its
// count: a failed scenario then names what broke in the test's own
// output, which is all a CI run keeps of a cluster that is gone.
func logErrorsSince(t *testing.T, c *shopCluster, start time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, app := range []string{"order", "inventory", "notification"} {
		names, err := c.KubectlContext(ctx, "-n", shopNamespace, "get", "pods", "-l", "app.kubernetes.io/name="+app, "-o", "name")
		if err != nil {
			t.Logf("%s's pods: %v", app, err)
			continue
		}
		for _, name := range strings.Fields(names) {
			for _, ctr := range []string{app, sidecarContainer} {
				out, err := c.KubectlContext(ctx, "-n", shopNamespace, "logs", name, "-c", ctr, "--since-time", start.UTC().Format(time.RFC3339))
				if err != nil {
					t.Logf("logs of %s/%s: %v", name, ctr, err)
					continue
				}
				if digest := errorDigest(out, 8); len(digest) > 0 {
					t.Logf("%s/%s logged since %s:\n  %s", name, ctr, start.Format(time.TimeOnly), strings.Join(digest, "\n  "))
				}
			}
		}
	}
}

// errorDigest reads JSON log lines (the apps' slog and daprd's) and returns
// the distinct errors and warnings among them, most frequent first, at most
// limit, each as "N× level: message (error)". Ids and numbers are blanked
// so that one cause is one entry.
func errorDigest(logs string, limit int) []string {
	counts := map[string]int{}
	for line := range strings.Lines(logs) {
		var entry struct {
			Level, Msg, Error string
		}
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		level := strings.ToLower(entry.Level)
		if level != "error" && level != "warning" && level != "warn" && level != "fatal" {
			continue
		}
		text := level + ": " + entry.Msg
		if entry.Error != "" {
			text += " (" + entry.Error + ")"
		}
		counts[variable.ReplaceAllString(text, "#")]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(counts[b]-counts[a], strings.Compare(a, b)) })
	digest := make([]string, 0, min(limit, len(keys)))
	for _, k := range keys[:min(limit, len(keys))] {
		digest = append(digest, fmt.Sprintf("%d× %s", counts[k], k))
	}
	if len(keys) > limit {
		digest = append(digest, fmt.Sprintf("and %d more kinds", len(keys)-limit))
	}
	return digest
}

// variable matches what differs between lines of one cause: uuids, hex
// ids, addresses and numbers.
var variable = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{8,}\b|\d+(\.\d+)*`)

func TestErrorDigest(t *testing.T) {
	logs := `{"time":"t","level":"ERROR","msg":"http request","route":"/orders","status":500,"error":"reserve stock for 53d21b32-0174-4502-b205-5d1336e92eaf: circuit breaker is open"}
{"time":"t","level":"ERROR","msg":"http request","route":"/orders","status":500,"error":"reserve stock for 9a2637ef-ec38-4a88-acb6-9bf27f14b653: circuit breaker is open"}
{"level":"info","msg":"serving"}
{"app_id":"order","level":"warning","msg":"Error processing operation DaprBuiltInServiceRetries. Retrying in 1s…","scope":"dapr.resiliency"}
not json at all
{"time":"t","level":"ERROR","msg":"http request","error":"store order 1b2c3d4e5f: timeout after 5000ms"}
`
	got := errorDigest(logs, 2)
	want := []string{
		"2× error: http request (reserve stock for #: circuit breaker is open)",
		"1× error: http request (store order #: timeout after #ms)",
		"and 1 more kinds",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("errorDigest =\n%q\nwant\n%q", got, want)
	}
	if got := errorDigest(`{"level":"info","msg":"fine"}`, 5); len(got) != 0 {
		t.Fatalf("errorDigest of info lines = %q; want nothing", got)
	}
}
