package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The charts are inline SVG drawn here, so that report.html is one file
// that opens anywhere, offline, with nothing fetched and no chart library
// to keep up to date.

// Series colours, distinguishable in greyscale too.
var palette = []string{"#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#a463f2"}

// Bar is one bar of a BarChart.
type Bar struct {
	Label string
	Value float64
	// Bad marks the bar red: a regression, a failure.
	Bad bool
}

// BarGroup is a labelled row of bars, one per series.
type BarGroup struct {
	Label string
	Bars  []Bar
}

// BarChart draws groups of horizontal bars sharing one scale, with a legend
// naming the series (the bars' labels in the first group).
func BarChart(title, unit string, groups []BarGroup) template.HTML {
	const width, labelW, barH, gap, top = 760.0, 230.0, 14.0, 10.0, 44.0
	maxV := 0.0
	series := 0
	for _, g := range groups {
		series = max(series, len(g.Bars))
		for _, b := range g.Bars {
			maxV = math.Max(maxV, b.Value)
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	plotW := width - labelW - 70
	height := top + float64(len(groups))*(float64(series)*barH+gap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`, width, height, width, height)
	fmt.Fprintf(&b, `<title>%s</title><text x="0" y="16" class="title">%s</text>`, esc(title), esc(title))
	if len(groups) > 0 {
		x := labelW
		for i, bar := range groups[0].Bars {
			fmt.Fprintf(&b, `<rect x="%.0f" y="26" width="10" height="10" fill="%s"/><text x="%.0f" y="35" class="small">%s</text>`,
				x, palette[i%len(palette)], x+14, esc(bar.Label))
			x += 14 + 8*float64(len(bar.Label)) + 16
		}
	}
	y := top
	for _, g := range groups {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" class="label">%s</text>`, labelW-8, y+float64(len(g.Bars))*barH/2+4, esc(truncate(g.Label, 34)))
		for i, bar := range g.Bars {
			y := y + float64(i)*barH
			w := bar.Value / maxV * plotW
			fill := palette[i%len(palette)]
			if bar.Bad {
				fill = "#d62728"
			}
			fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s %s: %s %s</title></rect>`,
				labelW, y, math.Max(w, 1), barH-2, fill, esc(g.Label), esc(bar.Label), num(bar.Value), esc(unit))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="small">%s</text>`, labelW+math.Max(w, 1)+4, y+barH-4, num(bar.Value))
		}
		y += float64(len(g.Bars))*barH + gap
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Window is a span of the x axis to shade, such as a fault.
type Window struct {
	Label      string
	Start, End float64
}

// LineSeries is one line of a TimeChart.
type LineSeries struct {
	Label string
	// Bars draws the series as bars rather than a line (error counts).
	Bars   bool
	Color  string
	Points []float64 // one per x step
}

// TimeChart draws series over seconds x0, x0+1, ... with windows shaded
// behind them.
func TimeChart(title, unit string, x0 int, series []LineSeries, windows []Window) template.HTML {
	return LineChart(title, unit, x0, func(x int) string { return fmt.Sprintf("%ds", x) }, series, windows)
}

// LineChart draws series over the steps x0, x0+1, ..., each step named on
// the axis by xLabel, with windows (in steps) shaded behind them.
func LineChart(title, unit string, x0 int, xLabel func(x int) string, series []LineSeries, windows []Window) template.HTML {
	const width, height, left, right, top, bottom = 760.0, 200.0, 50.0, 12.0, 40.0, 28.0
	n, maxV := 0, 0.0
	for _, s := range series {
		n = max(n, len(s.Points))
		for _, p := range s.Points {
			maxV = math.Max(maxV, p)
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	maxV = niceCeil(maxV)
	plotW, plotH := width-left-right, height-top-bottom
	xAt := func(i float64) float64 {
		if n <= 1 {
			return left
		}
		return left + (i-float64(x0))/float64(n-1)*plotW
	}
	yAt := func(v float64) float64 { return top + plotH - v/maxV*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`, width, height, width, height)
	fmt.Fprintf(&b, `<title>%s</title><text x="0" y="16" class="title">%s</text>`, esc(title), esc(title))
	for _, w := range windows {
		x1 := math.Max(left, xAt(w.Start))
		x2 := math.Min(left+plotW, math.Max(xAt(w.End), x1+2))
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="%.0f" width="%.1f" height="%.0f"><title>%s: %.1fs to %.1fs</title></rect>`,
			x1, top, x2-x1, plotH, esc(w.Label), w.Start, w.End)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="small fault-label">%s</text>`, x1+2, top+10, esc(truncate(w.Label, 30)))
	}
	// Axes and gridlines at 0, half and the top.
	for _, v := range []float64{0, maxV / 2, maxV} {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/><text x="%.0f" y="%.1f" text-anchor="end" class="small">%s</text>`,
			left, left+plotW, yAt(v), yAt(v), left-4, yAt(v)+4, num(v))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="small">%s</text>`, left, top-6, esc(unit))
	for i := 0; i < n; i += max(1, n/10) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" class="small">%s</text>`, xAt(float64(x0+i)), height-10, esc(xLabel(x0+i)))
	}
	lx := left + 60
	for i, s := range series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="26" width="10" height="10" fill="%s"/><text x="%.0f" y="35" class="small">%s</text>`, lx, color, lx+14, esc(s.Label))
		lx += 14 + 7*float64(len(s.Label)) + 16
		if s.Bars {
			bw := math.Max(1, plotW/float64(max(n, 1))*0.6)
			for j, p := range s.Points {
				if p > 0 {
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
						xAt(float64(x0+j))-bw/2, yAt(p), bw, top+plotH-yAt(p), color, esc(xLabel(x0+j)), num(p))
				}
			}
			continue
		}
		pts := make([]string, len(s.Points))
		for j, p := range s.Points {
			pts[j] = fmt.Sprintf("%.1f,%.1f", xAt(float64(x0+j)), yAt(p))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, color, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func esc(s string) string { return html.EscapeString(s) }

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// num prints a value briefly: 3 significant digits at most.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for an axis.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
