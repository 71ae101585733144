package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/daprshop/daprshop/tests/harness/repo"
)

// promtool runs Debian's promtool, which make unpacks into out/ (make
// monitoring-check, make test), in this directory, and fails t with what
// it printed unless it succeeds.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin := filepath.Join(repo.Root(t), "out", "promtool", "usr", "bin", "promtool")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no promtool at %s: run make monitoring-check, which unpacks it from Debian's prometheus package", bin)
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The alerts are valid rules, and each fires on the series its test
// feeds it that must fire it, and on no other.
func TestAlerts(t *testing.T) {
	promtool(t, "check", "rules", "daprshop-alerts.yaml")
	promtool(t, "test", "rules", "daprshop-alerts.test.yaml")
}

// Every query of the dashboard parses: promtool checks them as the
// expressions of recording rules.
func TestDashboardQueries(t *testing.T) {
	data, err := Files.ReadFile("daprshop-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, target := range p.Targets {
			rules = append(rules, rule{Record: "dashboard:query", Expr: target.Expr})
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", file)
}

// MetricNames finds the names in the expressions, the sidecars' as well as
// the services', and nothing else.
func TestMetricNames(t *testing.T) {
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"daprshop_http_requests_total", "daprshop_http_request_duration_seconds_bucket",
		"daprshop_notification_dead_letters_total", "dapr_resiliency_count", "dapr_component_pubsub_ingress_count"} {
		if !slices.Contains(names, want) {
			t.Errorf("MetricNames() = %v, want it to hold %s", names, want)
		}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "daprshop_") && !strings.HasPrefix(n, "dapr_") {
			t.Errorf("MetricNames() holds %q, not a metric's name", n)
		}
	}
}
