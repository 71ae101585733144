package compare

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/daprshop/daprshop/tests/report"
)

// HTML renders the comparison as compare.html, one self-contained page: the
// verdict, the regressions, then baseline and candidate side by side per
// scenario (latency, throughput, sidecar memory), candidate bars red where
// they regressed, and every measurement compared.
func HTML(r Result, base, candidate report.Report) (string, error) {
	regressed := map[string]bool{} // scenario + "\x00" + what
	var regressions []Change
	for _, c := range r.Changes {
		if c.Regression {
			regressed[c.Scenario+"\x00"+c.What] = true
			regressions = append(regressions, c)
		}
	}
	// A scenario whose latencies the statistical test found slower has
	// both its bars red.
	slowerByTest := map[string]bool{}
	for _, lt := range r.LatencyTests {
		slowerByTest[lt.Scenario] = lt.Regression
	}
	baseByName := map[string]report.Scenario{}
	for _, s := range base.Scenarios {
		baseByName[s.Name] = s
	}
	var latency, throughput, rss []report.BarGroup
	for _, cs := range candidate.Scenarios {
		bs, ok := baseByName[cs.Name]
		if !ok {
			continue
		}
		bad := func(what string) bool { return regressed[cs.Name+"\x00"+what] }
		if cs.Latency.Count > 0 && bs.Latency.Count > 0 {
			slower := slowerByTest[cs.Name]
			latency = append(latency, report.BarGroup{Label: cs.Name, Bars: []report.Bar{
				{Label: r.Base + " p50", Value: bs.Latency.P50},
				{Label: r.Candidate + " p50", Value: cs.Latency.P50, Bad: slower || bad("latency p50 ms")},
				{Label: r.Base + " p99", Value: bs.Latency.P99},
				{Label: r.Candidate + " p99", Value: cs.Latency.P99, Bad: slower || bad("latency p99 ms")},
			}})
		}
		if cs.Throughput > 0 && bs.Throughput > 0 {
			throughput = append(throughput, report.BarGroup{Label: cs.Name, Bars: []report.Bar{
				{Label: r.Base, Value: bs.Throughput},
				{Label: r.Candidate, Value: cs.Throughput, Bad: bad("throughput req/s")},
			}})
		}
		baseRSS := map[string]float64{}
		for _, p := range bs.Resources {
			baseRSS[p.Process] = p.RSSMB
		}
		for _, p := range cs.Resources {
			if b, ok := baseRSS[p.Process]; ok && strings.HasPrefix(p.Process, "daprd-") {
				rss = append(rss, report.BarGroup{Label: cs.Name + " · " + p.Process, Bars: []report.Bar{
					{Label: r.Base, Value: b},
					{Label: r.Candidate, Value: p.RSSMB, Bad: bad(p.Process + " RSS MB")},
				}})
			}
		}
	}
	var charts []template.HTML
	if len(latency) > 0 {
		charts = append(charts, report.BarChart("Client latency (ms): baseline beside candidate", "ms", latency))
	}
	if len(throughput) > 0 {
		charts = append(charts, report.BarChart("Throughput (req/s)", "req/s", throughput))
	}
	if len(rss) > 0 {
		charts = append(charts, report.BarChart("Sidecar memory (RSS MB)", "MB", rss))
	}
	data := struct {
		Result
		BasePassed, CandidatePassed bool
		Regressions                 []Change
		Charts                      []template.HTML
		SelfHosted                  string
	}{r, base.Passed, candidate.Passed, regressions, charts, SelfHosted}
	var b bytes.Buffer
	if err := comparePage.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render compare.html: %w", err)
	}
	return b.String(), nil
}

var comparePage = template.Must(template.New("compare").Funcs(template.FuncMap{
	"style": report.PageStyle,
	"check": report.RenderedCheck,
	"ratio": func(v float64) string {
		if v == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f×", v)
	},
	"regressedWord": verdictOf,
	"verdict": func(passed bool) string {
		if passed {
			return "passed"
		}
		return "FAILED"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>daprd {{.Candidate}} vs {{.Base}}: {{regressedWord .Regressed}}</title>
<style>{{style}}</style></head>
<body>
<h1>daprd {{.Candidate}} (candidate) vs {{.Base}} (baseline)</h1>
<p class="muted">baseline suite {{verdict .BasePassed}} · candidate suite {{verdict .CandidatePassed}}</p>
{{if .Regressed}}<div class="verdict fail" id="verdict"><div class="big">REGRESSED: {{len .Regressions}} regression(s)</div>the candidate is worse beyond the noise thresholds</div>
{{else}}<div class="verdict pass" id="verdict"><div class="big">No regression</div>every measurement within the noise thresholds, no invariant newly broken</div>{{end}}
<table><tr><th>platform</th><th>verdict</th></tr>
{{range .Platforms}}<tr{{if .Regressed}} class="bad"{{end}}><td>{{.Platform}}</td><td>{{regressedWord .Regressed}}</td></tr>
{{end}}</table>
{{if .Regressions}}<h2>Regressions</h2>
<table><tr><th>platform</th><th>scenario</th><th>what</th><th class="n">{{.Base}}</th><th class="n">{{.Candidate}}</th><th class="n">ratio</th></tr>
{{range .Regressions}}<tr class="bad"><td>{{or .Platform $.SelfHosted}}</td><td>{{.Scenario}}</td><td>{{.What}}</td><td class="n">{{.Base}}</td><td class="n">{{.Candidate}}</td><td class="n">{{ratio .Ratio}}</td></tr>
{{end}}</table>{{end}}
<h2>Side by side</h2>
<p class="muted">Red: the candidate regressed on that measurement.</p>
{{range .Charts}}{{.}}{{end}}
{{range .Platforms}}<h2>Every measurement: {{.Platform}}: {{regressedWord .Regressed}}</h2>
<table><tr><th>scenario</th><th>what</th><th class="n">{{$.Base}}</th><th class="n">{{$.Candidate}}</th><th class="n">ratio</th></tr>
{{range .Changes}}<tr{{if .Regression}} class="bad"{{end}}><td>{{.Scenario}}</td><td>{{.What}}</td><td class="n">{{.Base}}</td><td class="n">{{.Candidate}}</td><td class="n">{{ratio .Ratio}}</td></tr>
{{end}}</table>
{{end}}
<script>{{check}}</script>
</body></html>
`))
