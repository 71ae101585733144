package report

import (
	"bytes"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
)

// HTML renders the report as report.html: one self-contained page (inline
// CSS and SVG, nothing fetched) for people who look rather than read. The
// verdict and the findings come first, then latency per scenario, each
// load scenario's throughput, errors and p99 over time with its fault
// windows shaded, and what each sidecar used.
func HTML(r Report) (string, error) {
	passed, total := r.invariantsHeld()
	data := struct {
		Report
		Held, Total int
		Latency     template.HTML
		Timelines   []timelineView
		Progress    []template.HTML
		Resources   []template.HTML
	}{Report: r, Held: passed, Total: total, Latency: latencyChart(r.Scenarios),
		Timelines: timelineViews(r.Scenarios), Progress: progressCharts(r.Scenarios), Resources: resourceCharts(r.Scenarios)}
	var b bytes.Buffer
	if err := reportPage.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render report.html: %w", err)
	}
	return b.String(), nil
}

func latencyChart(scenarios []Scenario) template.HTML {
	var groups []BarGroup
	for _, s := range scenarios {
		if s.Latency.Count == 0 {
			continue
		}
		groups = append(groups, BarGroup{Label: s.Name, Bars: []Bar{
			{Label: "p50", Value: s.Latency.P50}, {Label: "p90", Value: s.Latency.P90}, {Label: "p99", Value: s.Latency.P99},
		}})
	}
	return BarChart("Client latency per scenario (ms)", "ms", groups)
}

type timelineView struct {
	Name                string
	Throughput, Latency template.HTML
	Faults              []FaultWindow
}

// timelineViews draws the scenarios that ran long enough for a timeline
// to say something.
func timelineViews(scenarios []Scenario) []timelineView {
	var out []timelineView
	for _, s := range scenarios {
		if len(s.Timeline) < 5 && len(s.Faults) == 0 {
			continue
		}
		x0 := s.Timeline[0].At
		reqs, errs, p99 := make([]float64, len(s.Timeline)), make([]float64, len(s.Timeline)), make([]float64, len(s.Timeline))
		for i, sec := range s.Timeline {
			reqs[i], errs[i], p99[i] = float64(sec.Requests), float64(sec.Errors), sec.P99Ms
		}
		windows := make([]Window, len(s.Faults))
		for i, f := range s.Faults {
			windows[i] = Window{Label: f.Name, Start: f.StartSeconds, End: f.EndSeconds}
		}
		out = append(out, timelineView{
			Name: s.Name,
			Throughput: TimeChart(s.Name+": requests and errors per second", "req/s", x0, []LineSeries{
				{Label: "requests/s", Points: reqs}, {Label: "errors/s", Bars: true, Color: "#d62728", Points: errs},
			}, windows),
			Latency: TimeChart(s.Name+": p99 latency per second", "ms", x0, []LineSeries{{Label: "p99 ms", Points: p99}}, windows),
			Faults:  s.Faults,
		})
	}
	return out
}

// progressCharts draws, for each scenario that measured figures as it went
// (named "<figure> at <N>%", as the soak does), each figure against how far
// into the run it was taken. A figure measured per process ("<figure> of
// <process>") is one line per process on its figure's chart.
func progressCharts(scenarios []Scenario) []template.HTML {
	var charts []template.HTML
	for _, s := range scenarios {
		type chart struct {
			unit   string
			series map[string]map[int]float64 // line, then percent
		}
		byFigure := map[string]*chart{}
		var figures []string
		percents := map[int]bool{}
		for _, m := range s.Measurements {
			i := strings.LastIndex(m.Name, " at ")
			var percent int
			if i < 0 || !strings.HasSuffix(m.Name, "%") {
				continue
			}
			if _, err := fmt.Sscanf(m.Name[i+len(" at "):], "%d%%", &percent); err != nil {
				continue
			}
			figure, line, found := strings.Cut(m.Name[:i], " of ")
			if !found {
				line = figure
			}
			c := byFigure[figure]
			if c == nil {
				c = &chart{unit: m.Unit, series: map[string]map[int]float64{}}
				byFigure[figure] = c
				figures = append(figures, figure)
			}
			if c.series[line] == nil {
				c.series[line] = map[int]float64{}
			}
			c.series[line][percent] = m.Value
			percents[percent] = true
		}
		steps := slices.Sorted(maps.Keys(percents))
		label := func(x int) string { return fmt.Sprintf("%d%%", steps[x]) }
		for _, figure := range figures {
			c := byFigure[figure]
			var series []LineSeries
			for _, line := range slices.Sorted(maps.Keys(c.series)) {
				points := make([]float64, len(steps))
				for x, p := range steps {
					points[x] = c.series[line][p]
				}
				series = append(series, LineSeries{Label: line, Points: points})
			}
			charts = append(charts, LineChart(s.Name+": "+figure+", by share of the run", c.unit, 0, label, series, nil))
		}
	}
	return charts
}

// resourceCharts draws the sidecars' memory and CPU per scenario.
func resourceCharts(scenarios []Scenario) []template.HTML {
	var rss, cpu []BarGroup
	for _, s := range scenarios {
		var rb, cb []Bar
		for _, res := range s.Resources {
			if !strings.HasPrefix(res.Process, "daprd-") {
				continue
			}
			rb = append(rb, Bar{Label: res.Process, Value: res.RSSMB})
			cb = append(cb, Bar{Label: res.Process, Value: res.CPUSeconds})
		}
		if len(rb) > 0 {
			rss = append(rss, BarGroup{Label: s.Name, Bars: rb})
			cpu = append(cpu, BarGroup{Label: s.Name, Bars: cb})
		}
	}
	if len(rss) == 0 {
		return nil
	}
	return []template.HTML{
		BarChart("Sidecar memory at the end of each scenario (RSS MB)", "MB", rss),
		BarChart("Sidecar CPU used by the end of each scenario (s)", "s", cpu),
	}
}

// pageStyle is shared by report.html and compare.html.
const pageStyle = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 980px; color: #1d1d1f; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.verdict { padding: 14px 18px; border-radius: 6px; color: #fff; margin-bottom: 12px; }
.pass { background: #2e7d32; } .fail { background: #c62828; }
.verdict .big { font-size: 24px; font-weight: 700; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdecea; } .ok { color: #2e7d32; } .no { color: #c62828; font-weight: 600; }
.chart { display: block; margin: 8px 0 16px; max-width: 100%; height: auto; }
.chart .title { font-weight: 600; font-size: 13px; } .chart .label { font-size: 12px; } .chart .small { font-size: 11px; fill: #555; }
.chart .grid { stroke: #e5e5e5; } .chart .fault { fill: #ffb74d; fill-opacity: .35; } .chart .fault-label { fill: #b35c00; }
details { margin: 4px 0; } .muted { color: #666; }
`

// renderedCheck marks the page as rendered once every chart has drawn: a
// browser test reads the mark from the DOM, so a script error, which stops
// this script, shows as a missing mark.
const renderedCheck = `
(function () {
  var charts = document.querySelectorAll('svg.chart');
  for (var i = 0; i < charts.length; i++) {
    if (charts[i].getBBox().width === 0) { throw new Error('chart ' + i + ' did not render'); }
  }
  document.body.setAttribute('data-rendered', String(charts.length));
  document.body.setAttribute('data-height', String(document.documentElement.scrollHeight));
})();
`

// PageStyle is the CSS of report.html, for other pages of the suite to look
// the same.
func PageStyle() template.CSS { return template.CSS(pageStyle) }

// RenderedCheck is the script that marks a page's charts rendered, for
// CheckAndScreenshot; every page of the suite ends with it.
func RenderedCheck() template.JS { return template.JS(renderedCheck) }

// Num prints a measurement briefly, as the charts do.
func Num(v float64) string { return num(v) }

type counter struct {
	Name  string
	Value float64
}

var funcs = template.FuncMap{
	"num":     num,
	"style":   PageStyle,
	"check":   RenderedCheck,
	"held":    func(invs []Invariant) string { return fmt.Sprintf("%d/%d", held(invs), len(invs)) },
	"allHeld": func(invs []Invariant) bool { return held(invs) == len(invs) },
	"measured": func(ss []Scenario) bool {
		return slices.ContainsFunc(ss, func(s Scenario) bool { return len(s.Measurements) > 0 })
	},
	"counters": func(m map[string]float64) []counter {
		out := make([]counter, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, counter{Name: k, Value: m[k]})
		}
		return out
	},
	"utc": func(r Report) string {
		return r.StartedAt.UTC().Format("2006-01-02 15:04:05") + " → " + r.FinishedAt.UTC().Format("15:04:05 MST")
	},
}

var reportPage = template.Must(template.New("report").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>daprshop e2e: {{if .Passed}}passed{{else}}FAILED{{end}} · daprd {{.Environment.DaprdVersion}}</title>
<style>{{style}}</style></head>
<body>
<h1>daprshop end-to-end report</h1>
<p class="muted">daprd {{.Environment.DaprdVersion}} · {{len .Scenarios}} scenarios · {{utc .Report}}</p>
{{if .Passed}}<div class="verdict pass" id="verdict"><div class="big">PASSED</div>every invariant held: {{.Held}}/{{.Total}}</div>
{{else}}<div class="verdict fail" id="verdict"><div class="big">FAILED: {{len .Findings}} finding(s)</div>{{.Held}}/{{.Total}} invariants held</div>{{end}}

{{if .Findings}}<h2>Findings</h2>
<table><tr><th>severity</th><th>scenario</th><th>invariant</th><th>expected</th><th>observed</th></tr>
{{range .Findings}}<tr class="bad"><td>{{.Severity}}</td><td>{{.Scenario}}</td><td>{{.Invariant}}</td><td>{{.Expected}}</td><td>{{.Observed}}</td></tr>
{{end}}</table>{{end}}

{{if .Rates}}<h2>Failure rates (scenarios run more than once)</h2>
<table><tr><th>scenario</th><th>invariant</th><th class="n">runs</th><th class="n">failed</th><th class="n">of which known</th></tr>
{{range .Rates}}<tr{{if .Failed}} class="bad"{{end}}><td>{{.Scenario}}</td><td>{{.Invariant}}</td><td class="n">{{.Runs}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Known}}</td></tr>
{{end}}</table>{{end}}

<h2>Scenarios</h2>
<table><tr><th>scenario</th><th>invariants</th><th class="n">requests</th><th class="n">errors</th><th class="n">p50 ms</th><th class="n">p90 ms</th><th class="n">p99 ms</th><th class="n">max ms</th><th class="n">req/s</th></tr>
{{range .Scenarios}}<tr{{if not (allHeld .Invariants)}} class="bad"{{end}}><td>{{.Name}}</td><td class="{{if allHeld .Invariants}}ok{{else}}no{{end}}">{{held .Invariants}}</td>
<td class="n">{{.Requests}}</td><td class="n">{{.Errors}}</td><td class="n">{{num .Latency.P50}}</td><td class="n">{{num .Latency.P90}}</td><td class="n">{{num .Latency.P99}}</td><td class="n">{{num .Latency.Max}}</td><td class="n">{{num .Throughput}}</td></tr>
{{end}}</table>
{{.Latency}}

{{if .Timelines}}<h2>Over time</h2>
<p class="muted">Shaded: a fault injected, until the system recovered.</p>
{{range .Timelines}}{{.Throughput}}{{.Latency}}{{end}}{{end}}

{{if .Progress}}<h2>As the run went on</h2>{{range .Progress}}{{.}}{{end}}{{end}}
{{if .Resources}}<h2>Sidecars</h2>{{range .Resources}}{{.}}{{end}}{{end}}

<h2>Invariants</h2>
{{range .Scenarios}}<details{{if not (allHeld .Invariants)}} open{{end}}><summary>{{.Name}} ({{held .Invariants}})</summary><table>
{{range .Invariants}}<tr{{if not .Passed}} class="bad"{{end}}><td class="{{if .Passed}}ok{{else}}no{{end}}">{{if .Passed}}held{{else}}FAILED{{end}}</td><td>{{.Name}}</td><td>expected {{.Expected}}</td><td>observed {{.Observed}}</td></tr>
{{end}}</table></details>
{{end}}

{{if measured .Scenarios}}<h2>Measurements</h2>
<table><tr><th>scenario</th><th>measurement</th><th>value</th><th>unit</th></tr>
{{range .Scenarios}}{{$s := .Name}}{{range .Measurements}}<tr><td>{{$s}}</td><td>{{.Name}}</td><td class="n">{{num .Value}}</td><td>{{.Unit}}</td></tr>
{{end}}{{end}}</table>{{end}}

<h2>What the system counted</h2>
<p class="muted">The apps' business counters and their sidecars' retries and pub/sub outcomes, read from /metrics as each scenario ended: what explains a finding.</p>
{{range .Scenarios}}{{if .Counters}}<details{{if or .Faults (not (allHeld .Invariants))}} open{{end}}><summary>{{.Name}}</summary><table>
{{range counters .Counters}}<tr><td><code>{{.Name}}</code></td><td class="n">{{num .Value}}</td></tr>
{{end}}</table></details>
{{end}}{{end}}

<h2>Environment</h2>
{{with .Environment}}<table>
<tr><th>daprd</th><td>{{.DaprdVersion}} ({{.DaprdPath}})</td></tr>
<tr><th>Go SDK, Go</th><td>{{.GoSDKVersion}}, {{.GoVersion}}</td></tr>
<tr><th>backend, NATS</th><td>{{.Backend}}; {{.NATSVersion}}</td></tr>
<tr><th>machine</th><td>{{.Machine.OS}}/{{.Machine.Arch}}, {{.Machine.CPUs}} CPUs, kernel {{.Machine.Kernel}}</td></tr>
<tr><th>components</th><td>{{range .Components}}{{.Name}} ({{.Type}}/{{.Version}}) {{end}}</td></tr>
</table>{{end}}
<script>{{check}}</script>
</body></html>
`))
