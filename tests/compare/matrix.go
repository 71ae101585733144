package compare

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/daprshop/daprshop/tests/report"
)

// Matrix sets the reports of several daprd versions side by side, oldest
// first, on one backend profile or more (version x profile): per
// scenario, the invariants that held, latency and the sidecars' memory,
// each version compared with the one before it on the same profile.
type Matrix struct {
	Versions []string `json:"versions"`
	// Profiles are the backend profile of each column (its report's).
	Profiles []string    `json:"profiles"`
	Passed   []bool      `json:"passed"`
	Rows     []MatrixRow `json:"rows"`
	// Steps are the comparisons of each version with the one before it
	// on the same profile.
	Steps []Result `json:"steps"`
	// Stopped are the known Dapr issues that stopped reproducing: an
	// invariant a known issue failed on one version that holds on the
	// next.
	Stopped []StoppedIssue `json:"stopped,omitempty"`
}

// StoppedIssue is a known issue no longer seen on Version: Invariant of
// Scenario failed by it (Known, as the report says it) on the version
// before, and holds here.
type StoppedIssue struct {
	Version   string `json:"version"`
	Scenario  string `json:"scenario"`
	Invariant string `json:"invariant"`
	Known     string `json:"known"`
}

// MatrixRow is one scenario across the versions; a cell is empty where a
// version's report has no such scenario.
type MatrixRow struct {
	Scenario string       `json:"scenario"`
	Cells    []MatrixCell `json:"cells"`
}

// MatrixCell is one scenario on one version.
type MatrixCell struct {
	Ran        bool `json:"ran"`
	Held       int  `json:"held"`
	Invariants int  `json:"invariants"`
	// Known counts the invariants that failed by a known Dapr issue.
	Known int     `json:"known,omitempty"`
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	// SidecarRSSMB is the largest daprd's resident memory.
	SidecarRSSMB float64 `json:"sidecarRSSMB"`
	// Regressed says what got worse than on the version before.
	Regressed []string `json:"regressed,omitempty"`
}

// NewMatrix builds the matrix of reports, oldest version first on each
// backend profile.
func NewMatrix(reports []report.Report, th Thresholds) Matrix {
	m := Matrix{}
	index := map[string]int{}
	for _, r := range reports {
		m.Versions = append(m.Versions, r.Environment.DaprdVersion)
		m.Profiles = append(m.Profiles, r.Environment.Profile())
		m.Passed = append(m.Passed, r.Passed)
		for _, s := range r.Scenarios {
			if _, ok := index[s.Name]; !ok {
				index[s.Name] = len(m.Rows)
				m.Rows = append(m.Rows, MatrixRow{Scenario: s.Name, Cells: make([]MatrixCell, len(reports))})
			}
		}
	}
	// before is the column of the version before each one on its
	// profile's, -1 for the first.
	before := make([]int, len(reports))
	last := map[string]int{}
	for col, profile := range m.Profiles {
		before[col] = -1
		if prev, ok := last[profile]; ok {
			before[col] = prev
		}
		last[profile] = col
	}
	for col, r := range reports {
		for _, s := range r.Scenarios {
			c := MatrixCell{Ran: true, Invariants: len(s.Invariants), P50Ms: s.Latency.P50, P99Ms: s.Latency.P99}
			for _, inv := range s.Invariants {
				switch {
				case inv.Passed:
					c.Held++
				case inv.Known != "":
					c.Known++
				}
			}
			for _, p := range s.Resources {
				if strings.HasPrefix(p.Process, "daprd-") {
					c.SidecarRSSMB = max(c.SidecarRSSMB, p.RSSMB)
				}
			}
			m.Rows[index[s.Name]].Cells[col] = c
		}
		if before[col] < 0 {
			continue
		}
		m.Stopped = append(m.Stopped, stoppedIssues(reports[before[col]], r)...)
		step := Compare(Side{Suite: reports[before[col]]}, Side{Suite: r}, th)
		m.Steps = append(m.Steps, step)
		for _, ch := range step.Changes {
			if i, ok := index[ch.Scenario]; ok && ch.Regression {
				cell := &m.Rows[i].Cells[col]
				cell.Regressed = append(cell.Regressed, ch.What+": "+ch.Base+" → "+ch.Candidate)
			}
		}
	}
	return m
}

// stoppedIssues lists the invariants a known issue failed on before that
// hold on after.
func stoppedIssues(before, after report.Report) []StoppedIssue {
	held := map[[2]string]bool{}
	for _, s := range after.Scenarios {
		for _, inv := range s.Invariants {
			held[[2]string{s.Name, inv.Name}] = inv.Passed
		}
	}
	var out []StoppedIssue
	for _, s := range before.Scenarios {
		for _, inv := range s.Invariants {
			if !inv.Passed && inv.Known != "" && held[[2]string{s.Name, inv.Name}] {
				out = append(out, StoppedIssue{Version: after.Environment.DaprdVersion, Scenario: s.Name, Invariant: inv.Name, Known: inv.Known})
			}
		}
	}
	return out
}

// HeldText is the cell's invariants held, e.g. "7/7", or "0/2 (2 known)".
func (c MatrixCell) HeldText() string {
	if c.Known > 0 {
		return fmt.Sprintf("%d/%d (%d known)", c.Held, c.Invariants, c.Known)
	}
	return fmt.Sprintf("%d/%d", c.Held, c.Invariants)
}

// Markdown is the matrix as a table, regressions marked ❌ and listed.
func (m Matrix) Markdown() string {
	var b strings.Builder
	b.WriteString("# daprshop e2e across daprd versions\n\n")
	b.WriteString("Each cell: invariants held · p50 / p99 ms · largest sidecar RSS MB; ❌ worse than the version before it on the same backend profile.\n\n| scenario |")
	for i := range m.Versions {
		verdict := "passed"
		if !m.Passed[i] {
			verdict = "FAILED"
		}
		fmt.Fprintf(&b, " %s (%s) |", m.Column(i), verdict)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(m.Versions)) + "\n")
	var regressions []string
	for _, row := range m.Rows {
		fmt.Fprintf(&b, "| %s |", row.Scenario)
		for i, c := range row.Cells {
			if !c.Ran {
				b.WriteString(" — |")
				continue
			}
			mark := ""
			if len(c.Regressed) > 0 {
				mark = " ❌"
				for _, r := range c.Regressed {
					regressions = append(regressions, fmt.Sprintf("- %s · %s: %s", m.Column(i), row.Scenario, r))
				}
			}
			fmt.Fprintf(&b, " %s · %.1f / %.1f · %.0f%s |", c.HeldText(), c.P50Ms, c.P99Ms, c.SidecarRSSMB, mark)
		}
		b.WriteString("\n")
	}
	if len(regressions) > 0 {
		b.WriteString("\n## Regressions, each against the version before\n\n" + strings.Join(regressions, "\n") + "\n")
	}
	if len(m.Stopped) > 0 {
		b.WriteString("\n## Known issues that stopped reproducing\n\n")
		for _, st := range m.Stopped {
			fmt.Fprintf(&b, "- %s · %s · %s: holds; on the version before, a known issue failed it: %s\n", st.Version, st.Scenario, st.Invariant, st.Known)
		}
	}
	return b.String()
}

// Column names column i: its version, and its backend profile when the
// matrix has more than one.
func (m Matrix) Column(i int) string {
	if slices.ContainsFunc(m.Profiles, func(p string) bool { return p != m.Profiles[0] }) {
		return m.Versions[i] + " · " + m.Profiles[i]
	}
	return m.Versions[i]
}

// HTML is the matrix as one self-contained page, regressions in red.
func (m Matrix) HTML() (string, error) {
	var b bytes.Buffer
	err := matrixPage.Execute(&b, m)
	return b.String(), err
}

var matrixPage = template.Must(template.New("matrix").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>daprshop e2e across daprd versions</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}.bad{background:#fdd;color:#900}.failed{color:#900}
small{color:#666}
</style></head><body>
<h1>daprshop e2e across daprd versions</h1>
<p>Each cell: invariants held · p50 / p99 ms · largest sidecar RSS MB. Red: worse than the version before it on the same backend profile (hover for what).</p>
<table><tr><th>scenario</th>{{range $i, $v := .Versions}}<th>{{$.Column $i}}<br><small {{if not (index $.Passed $i)}}class="failed"{{end}}>{{if index $.Passed $i}}passed{{else}}FAILED{{end}}</small></th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Scenario}}</td>{{range .Cells}}{{if .Ran}}<td{{if .Regressed}} class="bad" title="{{range .Regressed}}{{.}}&#10;{{end}}"{{end}}>{{.HeldText}} · {{printf "%.1f" .P50Ms}} / {{printf "%.1f" .P99Ms}} · {{printf "%.0f" .SidecarRSSMB}}</td>{{else}}<td>—</td>{{end}}{{end}}</tr>
{{end}}</table>
{{if .Stopped}}<h2>Known issues that stopped reproducing</h2><ul>{{range .Stopped}}<li>{{.Version}} · {{.Scenario}} · {{.Invariant}}: holds; on the version before, a known issue failed it: {{.Known}}</li>{{end}}</ul>{{end}}
</body></html>
`))
