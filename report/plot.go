package report

import (
	"fmt"
	"math"
)

// Plot is a horizontal bar chart of benchmark deltas (head against base,
// in percent), drawn as inline SVG in report.html: one bar per benchmark
// and unit of every compared pair, a whisker for the range the confidence
// intervals allow, grey when the difference is not significant, the
// value right of the bar and of its whisker. Width and Height are the
// viewBox's: the page scales the plot to its own width.
type Plot struct {
	Width, Height int
	Left, Right   int // the chart area's x range
	Zero          int // x of 0 %
	Top, Bottom   int // the bars' y range
	Ticks         []Tick
	Bars          []Bar
	Scale         float64 // percent at the chart's edges (±)
}

// Tick is an axis tick.
type Tick struct {
	X     int
	Label string
}

// Bar is one benchmark's delta.
type Bar struct {
	Label    string // pair, benchmark and unit
	Delta    string // as in the tables: "+12.34%" or "~"
	Title    string // tooltip
	Class    string // worse, better, changed (direction unknown) or same (not significant)
	Y        int
	X, W     int
	TextY    int
	DeltaX   int
	Whisker  bool
	WLo, WHi int
	Clipped  bool
}

// The plot's geometry, in the units of its viewBox: report.html draws it
// as wide as the page (down to a minimum, then it scrolls), so these are
// proportions, not pixels.
const (
	plotWidth    = 900
	plotLabelW   = 380 // the benchmarks' names, right-aligned before the chart area
	plotRight    = 100 // room right of the chart area for a value beyond its edge
	plotRowH     = 22
	plotTop      = 24
	plotValueGap = 5 // from the end of a bar or its whisker to its value
)

// newPlot lays out the deltas of every benchmark compared in r; nil when
// there is none.
func newPlot(r *Report) *Plot {
	type item struct {
		label, delta, title, class string
		pct, lo, hi                float64
		whisker                    bool
	}
	var items []item
	maxAbs := 5.0
	for _, g := range r.Groups {
		for _, p := range g.Pairs {
			if p.Bench == nil {
				continue
			}
			for _, t := range p.Bench.Tables {
				for _, row := range t.Rows {
					if row.Base == nil || row.Head == nil || row.Ratio <= 0 {
						continue
					}
					it := item{
						label: fmt.Sprintf("%s · %s (%s)", p.Head.ID, row.Name, t.Unit),
						delta: row.Delta,
						pct:   (row.Ratio - 1) * 100,
						class: "same",
					}
					it.title = fmt.Sprintf("%s: %s → %s, %s %s", it.label, row.Base.Text, row.Head.Text, row.Delta, row.Test)
					if row.Significant {
						switch {
						case t.Better == 0:
							it.class = "changed"
						case (it.pct > 0) == (t.Better > 0):
							it.class = "better"
						default:
							it.class = "worse"
						}
					}
					if row.RatioLo > 0 && row.RatioHi > 0 {
						it.whisker = true
						it.lo, it.hi = (row.RatioLo-1)*100, (row.RatioHi-1)*100
					}
					maxAbs = math.Max(maxAbs, math.Abs(it.pct))
					items = append(items, it)
				}
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	scale := niceCeil(math.Min(maxAbs*1.1, 200))
	p := &Plot{Width: plotWidth, Left: plotLabelW, Right: plotWidth - plotRight, Top: plotTop, Scale: scale}
	p.Zero = (p.Left + p.Right) / 2
	half := float64(p.Right-p.Zero) / scale
	x := func(pct float64) int {
		pct = math.Max(-scale, math.Min(scale, pct))
		return p.Zero + int(math.Round(pct*half))
	}
	for _, f := range []float64{-1, -0.5, 0, 0.5, 1} {
		p.Ticks = append(p.Ticks, Tick{X: x(f * scale), Label: fmt.Sprintf("%+.0f%%", f*scale)})
	}
	p.Ticks[2].Label = "0"
	for i, it := range items {
		b := Bar{Label: it.label, Delta: it.delta, Title: it.title, Class: it.class}
		b.Y = p.Top + i*plotRowH + 4
		b.TextY = p.Top + i*plotRowH + 15
		xe := x(it.pct)
		b.Clipped = math.Abs(it.pct) > scale
		if xe >= p.Zero {
			b.X, b.W = p.Zero, max(xe-p.Zero, 1)
		} else {
			b.X, b.W = xe, p.Zero-xe
		}
		// The value goes right of whatever is drawn on its row right of
		// zero: the bar, and the whisker when it reaches further.
		right := b.X + b.W
		if it.whisker {
			b.Whisker, b.WLo, b.WHi = true, x(it.lo), x(it.hi)
			right = max(right, b.WLo, b.WHi)
		}
		b.DeltaX = right + plotValueGap
		p.Bars = append(p.Bars, b)
	}
	p.Bottom = p.Top + len(items)*plotRowH
	p.Height = p.Bottom + 28
	return p
}

// niceCeil rounds up to a round multiple of a power of ten (1, 1.2, 1.5,
// 2, 2.5, 3, 4, 5, 6, 8).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}
