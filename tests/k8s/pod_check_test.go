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

func TestPodName(t *testing.T) {
	of := func(app, name string) pod {
		var p pod
		p.Metadata.Name, p.Metadata.Labels = name, map[string]string{"app.kubernetes.io/name": app}
		return p
	}
	pods := []pod{of("order", "order-7b-zz"), of("inventory", "inventory-5c-aa"), of("order", "order-7b-aa")}
	for i, want := range []string{"order's pod 2", "inventory's pod 1", "order's pod 1"} {
		if got := podName(pods[i], pods); got != want {
			t.Errorf("podName(%s) = %q, want %q", pods[i].Metadata.Name, got, want)
		}
	}
}
