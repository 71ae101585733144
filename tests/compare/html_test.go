package compare

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daprshop/daprshop/tests/harness/knobs"
	"github.com/daprshop/daprshop/tests/report"
)

// TestCompareHTMLHighlightsRegressions renders a comparison whose candidate
// doubled its p99, checks the verdict and the red bar, and opens the page
// in headless Chromium: no console message, every chart rendered.
func TestCompareHTMLHighlightsRegressions(t *testing.T) {
	base := run("1.16.0", 6, 14, 20, 100, true)
	cand := run("1.16.5", 6, 40, 20, 100, true)
	base.Scenarios[0].Latency.Count, cand.Scenarios[0].Latency.Count = 400, 400
	res := Compare(Side{Suite: base}, Side{Suite: cand}, DefaultThresholds)
	if !res.Regressed {
		t.Fatal("want a regression to render")
	}
	page, err := HTML(res, base, cand)
	if err != nil {
		t.Fatal(err)
	}
	verdict, sideBySide := strings.Index(page, "REGRESSED: 1 regression(s)"), strings.Index(page, "<h2>Side by side</h2>")
	if verdict < 0 || verdict > sideBySide {
		t.Errorf("the verdict (at %d) must come before the charts (at %d)", verdict, sideBySide)
	}
	if !strings.Contains(page, `fill="#d62728"><title>load 1.16.5 p99`) {
		t.Error("the candidate's p99 bar is not red")
	}
	if strings.Contains(page, `fill="#d62728"><title>load 1.16.5 p50`) {
		t.Error("the candidate's p50, which did not regress, is red")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "compare.html")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := report.CheckAndScreenshot(context.Background(), path, filepath.Join(dir, "compare.png")); err != nil {
		t.Fatal(err)
	}
	if out := knobs.ReportSampleOut.Value(); out != "" {
		data, _ := os.ReadFile(filepath.Join(dir, "compare.png"))
		_ = os.WriteFile(filepath.Join(out, "compare.png"), data, 0o644)
	}
}
