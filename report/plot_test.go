package report

import (
	"bytes"
	"html"
	"regexp"
	"strconv"
	"testing"
	"unicode/utf8"
)

var (
	plotTag   = regexp.MustCompile(`<svg id="bench-plot"[^>]*>`)
	viewBox   = regexp.MustCompile(` viewBox="0 0 (\d+) (\d+)"`)
	barGroup  = regexp.MustCompile(`(?s)<g class="bar [^"]*" data-delta="[^"]*">.*?</g>`)
	rectTag   = regexp.MustCompile(`<rect x="(\d+)" y="\d+" width="(\d+)"`)
	whiskerXs = regexp.MustCompile(`<line class="whisker" x1="(\d+)" x2="(\d+)"`)
	labelText = regexp.MustCompile(`<text class="label" x="(\d+)"[^>]*text-anchor="end">([^<]*)</text>`)
	valueText = regexp.MustCompile(`<text x="(\d+)" y="\d+">([^<]*)</text></g>`)
)

// Rough widths of the plot's 11px text, in viewBox units, on the wide
// side: to check that text fits in the viewBox.
const plotCharW = 6.5

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPlotFollowsThePageWidth: the benchmark plot in report.html has a
// viewBox and no fixed width or height (CSS makes it as wide as the page),
// every bar's value is right of the bar and of its whisker, and the
// names and values fit in the viewBox.
func TestPlotFollowsThePageWidth(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	var b bytes.Buffer
	if err := Build(dir, run, nil).HTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	tag := plotTag.FindString(page)
	if tag == "" {
		t.Fatal("no plot in the page")
	}
	vb := viewBox.FindStringSubmatch(tag)
	if vb == nil {
		t.Fatalf("the plot has no viewBox: %s", tag)
	}
	if regexp.MustCompile(` (width|height)="\d+(px)?"`).MatchString(tag) || !regexp.MustCompile(` width="100%"`).MatchString(tag) {
		t.Errorf("the plot has a fixed size, or not the page's width: %s", tag)
	}
	if !regexp.MustCompile(`#bench-plot \{[^}]*width: 100%[^}]*height: auto`).MatchString(page) {
		t.Errorf("no style makes the plot as wide as the page")
	}
	width := atoi(t, vb[1])
	groups := barGroup.FindAllString(page, -1)
	if len(groups) != 4 {
		t.Fatalf("%d bars, want 4", len(groups))
	}
	whiskers := 0
	for _, g := range groups {
		r, v, l := rectTag.FindStringSubmatch(g), valueText.FindStringSubmatch(g), labelText.FindStringSubmatch(g)
		if r == nil || v == nil || l == nil {
			t.Fatalf("a bar without its rect, value or name:\n%s", g)
		}
		right := atoi(t, r[1]) + atoi(t, r[2])
		if w := whiskerXs.FindStringSubmatch(g); w != nil {
			whiskers++
			right = max(right, atoi(t, w[1]), atoi(t, w[2]))
		}
		vx, value := atoi(t, v[1]), html.UnescapeString(v[2])
		if vx <= right {
			t.Errorf("value %q at x=%d is on its bar or whisker (which end at %d)", value, vx, right)
		}
		if end := float64(vx) + plotCharW*float64(utf8.RuneCountInString(value)); end > float64(width) {
			t.Errorf("value %q ends at about %.0f, beyond the viewBox's %d", value, end, width)
		}
		name := html.UnescapeString(l[2])
		if start := float64(atoi(t, l[1])) - plotCharW*float64(utf8.RuneCountInString(name)); start < 0 {
			t.Errorf("name %q starts at about %.0f, left of the viewBox", name, start)
		}
	}
	if whiskers == 0 {
		t.Error("no bar of the fixture has a whisker: the test checks nothing")
	}
}

// TestPlotValuesOffTheWhiskers: whatever the bar's sign, and whether its
// whisker reaches past its end, crosses zero or is clipped at the edge,
// its value is drawn right of both, inside the viewBox.
func TestPlotValuesOffTheWhiskers(t *testing.T) {
	row := func(name string, ratio, lo, hi float64) BenchRow {
		return BenchRow{Name: name, Base: &BenchSummary{}, Head: &BenchSummary{}, Delta: strconv.FormatFloat((ratio-1)*100, 'f', 2, 64) + "%",
			Ratio: ratio, RatioLo: lo, RatioHi: hi, Significant: true}
	}
	r := &Report{Groups: []*Group{{Pairs: []*Pair{{Head: CellRef{ID: "h"}, Bench: &Bench{Tables: []*BenchTable{{Unit: "sec/op", Better: -1, Rows: []BenchRow{
		row("Up", 1.20, 1.10, 1.35),         // the whisker reaches past the bar
		row("Down", 0.90, 0.80, 1.05),       // a negative bar whose whisker crosses zero
		row("DownShort", 0.97, 0.90, 1.01),  // small, its whisker on both sides
		row("Clipped", 4.00, 3.50, 4.50),    // beyond the scale (200 %)
		row("NoWhisker", 1.05, 0, 0),        // no interval
		row("Tiny", 1.0001, 0.9999, 1.0003), // a bar of one unit
	}}}}}}}}}
	p := newPlot(r)
	if p == nil || len(p.Bars) != 6 {
		t.Fatalf("plot: %+v", p)
	}
	for _, b := range p.Bars {
		right := b.X + b.W
		if b.Whisker {
			right = max(right, b.WLo, b.WHi)
		}
		if b.DeltaX <= right {
			t.Errorf("%s: value at %d, on the bar or whisker ending at %d", b.Label, b.DeltaX, right)
		}
		if b.DeltaX > p.Right+plotValueGap || b.DeltaX+int(plotCharW*float64(len(b.Delta)+2)) > p.Width {
			t.Errorf("%s: value at %d does not fit in the plot (%d wide)", b.Label, b.DeltaX, p.Width)
		}
	}
}
