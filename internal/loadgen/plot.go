package loadgen

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// PlotSeries is one line group of the latency plot.
type PlotSeries struct {
	Name   string
	Points []Point
}

var plotColours = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

// WriteSVG draws p99 (solid) and p50 (dashed) latency over time of each
// series into a small standalone SVG.
func WriteSVG(w io.Writer, title string, series []PlotSeries) error {
	const width, height, left, right, top, bottom = 760.0, 360.0, 60.0, 190.0, 30.0, 40.0
	plotW, plotH := width-left-right, height-top-bottom
	maxT, maxMs := 0.0, 0.0
	for _, s := range series {
		for _, p := range s.Points {
			maxT = math.Max(maxT, p.At)
			maxMs = math.Max(maxMs, p.P99)
		}
	}
	maxT = math.Max(maxT, 1)
	maxMs = niceCeil(math.Max(maxMs, 0.1))
	x := func(t float64) float64 { return left + t/maxT*plotW }
	y := func(v float64) float64 { return top + plotH - math.Min(v, maxMs)/maxMs*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="13">%s</text>`+"\n", left, html.EscapeString(title))
	for i := 0; i <= 4; i++ {
		v := maxMs * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n", left-4, y(v)+4, round3(v))
	}
	fmt.Fprintf(&b, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">latency (ms)</text>`+"\n", top+plotH/2, top+plotH/2)
	for i := 0; i <= 4; i++ {
		t := maxT * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x(t), top+plotH+14, round3(t))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">time (s)</text>`+"\n", left+plotW/2, height-6)
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`+"\n", left, top, plotW, plotH)
	for i, s := range series {
		c := plotColours[i%len(plotColours)]
		for _, line := range []struct {
			val  func(Point) float64
			dash string
		}{{func(p Point) float64 { return p.P99 }, ""}, {func(p Point) float64 { return p.P50 }, ` stroke-dasharray="4 3"`}} {
			var pts []string
			for _, p := range s.Points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.At), y(line.val(p))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", c, line.dash, strings.Join(pts, " "))
		}
		ly := top + 10 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", left+plotW+10, ly, left+plotW+28, ly, c)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", left+plotW+32, ly+4, html.EscapeString(s.Name))
	}
	ly := top + 10 + float64(len(series))*16 + 8
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" fill="#555">solid p99, dashed p50</text>`+"\n", left+plotW+10, ly)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
