package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daprshop/daprshop/tests/harness/knobs"
)

// sampleReport is a failed run with a load scenario whose timeline holds a
// fault window and an error burst, and sidecar resources.
func sampleReport() Report {
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var tl []Second
	for i := range 20 {
		sec := Second{At: i + 2, Requests: 120, P99Ms: 8}
		if i >= 5 && i < 9 {
			sec.Requests, sec.Errors, sec.P99Ms = 40, 7, 900
		}
		tl = append(tl, sec)
	}
	res := []Resource{{Process: "daprd-order", CPUSeconds: 4.2, RSSMB: 96}, {Process: "daprd-inventory", CPUSeconds: 3.1, RSSMB: 92}, {Process: "order", CPUSeconds: 1, RSSMB: 20}}
	return Report{
		SchemaVersion: SchemaVersion, StartedAt: start, FinishedAt: start.Add(time.Minute), Passed: false,
		Environment: Environment{DaprdVersion: "1.16.5", Components: []Component{{Name: "statestore", Type: "state.redis", Version: "v1"}}},
		Scenarios: []Scenario{
			{Name: "happy path", Invariants: []Invariant{{Name: "order confirmed", Passed: true, Expected: "201", Observed: "201"}},
				Latency: Latency{Count: 5, P50: 3, P90: 4, P99: 5, Max: 5}, Requests: 5, Resources: res},
			{Name: "fault: inventory sidecar crash <b>", Invariants: []Invariant{{Name: "no oversell", Passed: false, Expected: "0", Observed: "3 <script>"}},
				Latency: Latency{Count: 2000, P50: 6, P90: 12, P99: 700, Max: 1500}, Requests: 2000, Errors: 28, Throughput: 100,
				Resources: res, Timeline: tl, Faults: []FaultWindow{{Name: "daprd-inventory killed", StartSeconds: 7, EndSeconds: 11.5}},
				Counters: map[string]float64{`order daprshop_order_orders_total{status="confirmed"}`: 1800, `daprd-order dapr_resiliency_count{policy="retry"}`: 31}},
		},
		Findings: []Finding{{Severity: SeverityCritical, Scenario: "fault: inventory sidecar crash <b>", Invariant: "no oversell", Expected: "0", Observed: "3 <script>"}},
	}
}

func TestHTMLIsSelfContainedAndPutsTheVerdictFirst(t *testing.T) {
	page, err := HTML(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"src=", "href=", "@import", "url("} {
		if strings.Contains(page, ref) {
			t.Errorf("report.html contains %q: it must fetch nothing", ref)
		}
	}
	if strings.Contains(page, "3 <script>") || strings.Contains(page, "crash <b>") {
		t.Error("report.html does not escape what the run observed")
	}
	verdict, scenarios := strings.Index(page, "FAILED: 1 finding(s)"), strings.Index(page, "<h2>Scenarios</h2>")
	if verdict < 0 || scenarios < 0 || verdict > scenarios {
		t.Errorf("the verdict (at %d) must come before the scenarios (at %d)", verdict, scenarios)
	}
	if !strings.Contains(page, `class="fault"`) {
		t.Error("the fault window is not drawn")
	}
}

// TestHTMLRendersInChromium opens report.html in headless Chromium: every
// chart must render, nothing may reach the console, and the screenshot is
// a PNG of the page.
func TestHTMLRendersInChromium(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleReport()); err != nil {
		t.Fatal(err)
	}
	p, err := CheckAndScreenshot(context.Background(), filepath.Join(dir, "report.html"), filepath.Join(dir, "report.png"))
	if err != nil {
		t.Fatal(err)
	}
	// 1 latency chart, 2 timeline charts, 2 sidecar charts.
	if !strings.Contains(p.DOM, `data-rendered="5"`) {
		t.Errorf("the page did not mark 5 charts rendered; its body tag: %s", bodyTag(p.DOM))
	}
	png, err := os.ReadFile(filepath.Join(dir, "report.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Errorf("report.png is not a screenshot: %d bytes, starts %q", len(png), png[:min(8, len(png))])
	}
	if out := knobs.ReportSampleOut.Value(); out != "" {
		// Keep the sample for a person to look at.
		_ = os.MkdirAll(out, 0o755)
		for _, f := range []string{"report.html", "report.png"} {
			data, _ := os.ReadFile(filepath.Join(dir, f))
			_ = os.WriteFile(filepath.Join(out, f), data, 0o644)
		}
	}
}

// TestBrowserCatchesABrokenPage shows the browser check can fail: a script
// error reaches the console, and the page is not marked rendered.
func TestBrowserCatchesABrokenPage(t *testing.T) {
	page, err := HTML(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(page, "<script>", "<script>undefinedFunction();", 1)
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := FindBrowser()
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Console) == 0 || !strings.Contains(strings.Join(p.Console, " "), "undefinedFunction") {
		t.Errorf("console = %q, want the script error", p.Console)
	}
	if p.RenderedHeight() != 0 {
		t.Errorf("a page whose script failed is marked rendered")
	}
}

func bodyTag(dom string) string {
	i := strings.Index(dom, "<body")
	if i < 0 {
		return "(none)"
	}
	j := strings.Index(dom[i:], ">")
	return dom[i : i+j+1]
}

func TestHTMLChartsFiguresMeasuredAsTheRunWent(t *testing.T) {
	r := sampleReport()
	r.Scenarios = append(r.Scenarios, Scenario{Name: "soak", Measurements: []Measurement{
		{Name: "answer p50 at 10%", Value: 6, Unit: "ms"}, {Name: "answer p50 at 20%", Value: 7, Unit: "ms"},
		{Name: "resident memory of daprd-order at 10%", Value: 110, Unit: "MB"},
		{Name: "resident memory of daprd-order at 20%", Value: 111, Unit: "MB"},
		{Name: "resident memory of order at 10%", Value: 29, Unit: "MB"},
		{Name: "resident memory of order at 20%", Value: 30, Unit: "MB"},
		{Name: "hot / spread throughput", Value: 0.2, Unit: "ratio"},
	}})
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"soak: answer p50, by share of the run", "soak: resident memory, by share of the run",
		">daprd-order</text>", ">order</text>", ">10%</text>", ">20%</text>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html has no %q", want)
		}
	}
	if strings.Contains(page, "hot / spread throughput, by share") {
		t.Error("a figure measured once is charted as if measured as the run went")
	}
}
