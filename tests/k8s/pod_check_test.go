package k8s

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestSidecarProblems shows the sidecar check failing: on a pod whose
// daprd says other than its annotations, it names each difference.
func TestSidecarProblems(t *testing.T) {
	var p pod
	if err := json.Unmarshal([]byte(`{
		"metadata": {"name": "order-1", "annotations": {
			"dapr.io/enabled": "true", "dapr.io/app-id": "order", "dapr.io/app-port": "8080",
			"dapr.io/log-as-json": "true", "dapr.io/sidecar-cpu-limit": "1",
			"dapr.io/api-token-secret": "daprshop-dapr-api-token", "dapr.io/made-up": "x"}},
		"spec": {"containers": [{"name": "daprd",
			"args": ["--app-id", "order", "--app-port", "8081", "--enable-mtls"],
			"resources": {"limits": {"cpu": "2"}},
			"securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}
	}`), &p); err != nil {
		t.Fatal(err)
	}
	got := sidecarProblems(p)
	for _, want := range []string{"dapr.io/app-port", "dapr.io/log-as-json", "dapr.io/sidecar-cpu-limit", "dapr.io/api-token-secret", "dapr.io/made-up"} {
		if !slices.ContainsFunc(got, func(problem string) bool { return strings.Contains(problem, want) }) {
			t.Errorf("no problem about %s in %q", want, got)
		}
	}
	if slices.ContainsFunc(got, func(problem string) bool { return strings.Contains(problem, "dapr.io/app-id") }) {
		t.Errorf("app-id matches, yet %q", got)
	}
}
