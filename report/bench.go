package report

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"

	"github.com/kvmtest/kvmtest/internal/guesttext"
)

// Confidence is the confidence level of the intervals around medians.
const Confidence = 0.95

// Bench is the benchmark comparison of two cells, computed as benchstat
// does: per benchmark and unit, the median of each side with its
// confidence interval, and the Mann-Whitney U test's p-value (or exact
// comparison for units declared `assume=exact`); a delta is shown only
// when p < α, "~" otherwise.
type Bench struct {
	Tables []*BenchTable `json:"tables"`
	// Notes are the warnings the statistics raised (too few samples...),
	// referred to by number from the rows.
	Notes []string `json:"notes,omitempty"`
	// Errors are problems reading bench.txt (syntax errors).
	Errors []string `json:"errors,omitempty"`
}

// BenchTable holds the benchmarks of one unit.
type BenchTable struct {
	Unit    string     `json:"unit"`
	Better  int        `json:"better"` // +1 higher is better, -1 lower is better, 0 unknown
	Rows    []BenchRow `json:"rows"`
	Geomean *BenchRow  `json:"geomean,omitempty"`
}

// BenchRow is one benchmark in one unit.
type BenchRow struct {
	Name string        `json:"name"`
	Base *BenchSummary `json:"base,omitempty"`
	Head *BenchSummary `json:"head,omitempty"`
	// Delta is benchstat's delta column: "+12.34%", "~" when the
	// difference is not significant, "?" when it cannot be computed, ""
	// when a side is missing.
	Delta string `json:"delta"`
	// Ratio is head's center over base's (0 when unknown).
	Ratio float64 `json:"ratio"`
	// RatioLo and RatioHi bound the ratio by the confidence intervals
	// (head's low over base's high, head's high over base's low).
	RatioLo     float64 `json:"ratio_lo,omitempty"`
	RatioHi     float64 `json:"ratio_hi,omitempty"`
	P           float64 `json:"p"`
	Alpha       float64 `json:"alpha"`
	Test        string  `json:"test,omitempty"` // "(p=0.000 n=10)" as benchstat prints it
	Significant bool    `json:"significant"`
	Notes       []int   `json:"notes,omitempty"` // 1-based indices into Bench.Notes
}

// BenchSummary summarizes one side's sample.
type BenchSummary struct {
	Center float64 `json:"center"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	N      int     `json:"n"`
	// Text is the center scaled with the row's common scale, "±" and the
	// interval as a percentage: "5.000µ ± 2%".
	Text string `json:"text"`
}

// benchSet is the samples read from one bench.txt.
type benchSet struct {
	order []benchKey
	vals  map[benchKey][]float64
	units benchfmt.UnitMetadataMap
	errs  []string
}

type benchKey struct{ name, unit string }

// readBench reads cells/ID/bench.txt of a run directory; nil when there is
// none.
func readBench(dir, id string) *benchSet {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, "cells", id, "bench.txt")
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	s := parseBench(f, filepath.Join("cells", id, "bench.txt"))
	if len(s.order) == 0 && len(s.errs) == 0 {
		return nil
	}
	return s
}

// parseBench reads Go benchmark format with benchfmt.
func parseBench(r io.Reader, name string) *benchSet {
	s := &benchSet{vals: map[benchKey][]float64{}}
	rd := benchfmt.NewReader(r, name)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.Result:
			for _, v := range rec.Values {
				k := benchKey{guesttext.Line(rec.Name.String()), v.Unit} // the unit is shown through its table
				if _, ok := s.vals[k]; !ok {
					s.order = append(s.order, k)
				}
				s.vals[k] = append(s.vals[k], v.Value)
			}
		case *benchfmt.SyntaxError:
			s.errs = append(s.errs, guesttext.Clean(rec.Error()))
		}
	}
	if err := rd.Err(); err != nil {
		s.errs = append(s.errs, guesttext.Clean(err.Error()))
	}
	s.units = rd.Units()
	return s
}

// compareBench compares the benchmarks of two cells; nil when neither has
// any.
func compareBench(base, head side) *Bench {
	bs, hs := readBench(base.dir, base.cell.ID), readBench(head.dir, head.cell.ID)
	if bs == nil && hs == nil {
		return nil
	}
	return compareSets(bs, hs)
}

// compareSets compares two sets of samples, as benchstat does with the
// first as the baseline.
func compareSets(bs, hs *benchSet) *Bench {
	if bs == nil {
		bs = &benchSet{vals: map[benchKey][]float64{}}
	}
	if hs == nil {
		hs = &benchSet{vals: map[benchKey][]float64{}}
	}
	out := &Bench{}
	for _, e := range bs.errs {
		out.Errors = append(out.Errors, "base: "+e)
	}
	for _, e := range hs.errs {
		out.Errors = append(out.Errors, "head: "+e)
	}
	units := hs.units
	if units == nil {
		units = bs.units
	}
	note := func(errs []error) []int {
		var idx []int
		for _, e := range errs {
			msg := e.Error()
			found := 0
			for i, n := range out.Notes {
				if n == msg {
					found = i + 1
				}
			}
			if found == 0 {
				out.Notes = append(out.Notes, msg)
				found = len(out.Notes)
			}
			idx = appendUnique(idx, found)
		}
		return idx
	}

	// Rows in order of first appearance (base, then what only head has),
	// grouped by unit in order of first appearance.
	var order []benchKey
	seen := map[benchKey]bool{}
	for _, k := range append(append([]benchKey{}, bs.order...), hs.order...) {
		if !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	tables := map[string]*BenchTable{}
	for _, k := range order {
		t := tables[k.unit]
		if t == nil {
			t = &BenchTable{Unit: guesttext.Line(k.unit), Better: units.GetBetter(k.unit)}
			tables[k.unit] = t
			out.Tables = append(out.Tables, t)
		}
		assume := units.GetAssumption(k.unit)
		row := BenchRow{Name: k.name, Alpha: benchmath.DefaultThresholds.CompareAlpha}
		var bSample, hSample *benchmath.Sample
		var bSum, hSum benchmath.Summary
		var centers []float64
		if v := bs.vals[k]; len(v) > 0 {
			bSample = benchmath.NewSample(append([]float64(nil), v...), &benchmath.DefaultThresholds)
			bSum = assume.Summary(bSample, Confidence)
			centers = append(centers, bSum.Center)
			row.Notes = append(row.Notes, note(bSum.Warnings)...)
		}
		if v := hs.vals[k]; len(v) > 0 {
			hSample = benchmath.NewSample(append([]float64(nil), v...), &benchmath.DefaultThresholds)
			hSum = assume.Summary(hSample, Confidence)
			centers = append(centers, hSum.Center)
			for _, n := range note(hSum.Warnings) {
				row.Notes = appendUnique(row.Notes, n)
			}
		}
		scaler := benchunit.CommonScale(centers, benchunit.ClassOf(k.unit))
		if bSample != nil {
			row.Base = summary(bSum, len(bSample.Values), scaler)
		}
		if hSample != nil {
			row.Head = summary(hSum, len(hSample.Values), scaler)
		}
		if bSample != nil && hSample != nil {
			cmp := assume.Compare(bSample, hSample)
			row.P, row.Alpha = cmp.P, cmp.Alpha
			row.Delta = cmp.FormatDelta(bSum.Center, hSum.Center)
			row.Test = "(" + cmp.String() + ")"
			row.Significant = row.Delta != "~" && row.Delta != "?" && row.Delta != "0.00%"
			if bSum.Center != 0 {
				row.Ratio = hSum.Center / bSum.Center
				if bSum.Hi > 0 && bSum.Lo > 0 && !math.IsInf(bSum.Lo, 0) && !math.IsInf(bSum.Hi, 0) &&
					!math.IsInf(hSum.Lo, 0) && !math.IsInf(hSum.Hi, 0) {
					row.RatioLo, row.RatioHi = hSum.Lo/bSum.Hi, hSum.Hi/bSum.Lo
				}
			} else if hSum.Center == 0 {
				row.Ratio = 1
			}
			for _, n := range note(cmp.Warnings) {
				row.Notes = appendUnique(row.Notes, n)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	for _, t := range out.Tables {
		t.Geomean = geomean(t, note)
	}
	return out
}

func summary(s benchmath.Summary, n int, scaler benchunit.Scaler) *BenchSummary {
	return &BenchSummary{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: n,
		Text: scaler.Format(s.Center) + " ± " + s.PctRangeString()}
}

// geomean is benchstat's summary row: the geometric mean of each side's
// centers and of the per-row ratios; nil for fewer than two rows.
func geomean(t *BenchTable, note func([]error) []int) *BenchRow {
	if len(t.Rows) < 2 {
		return nil
	}
	var bc, hc, ratios []float64
	nBoth := 0
	bad := false
	for _, r := range t.Rows {
		if r.Base != nil {
			bc = append(bc, r.Base.Center)
		}
		if r.Head != nil {
			hc = append(hc, r.Head.Center)
		}
		if r.Base != nil && r.Head != nil {
			nBoth++
			if r.Ratio <= 0 {
				bad = true
				continue
			}
			ratios = append(ratios, r.Ratio)
		}
	}
	row := &BenchRow{Name: "geomean"}
	cls := benchunit.ClassOf(t.Unit)
	if g, ok := geo(bc); ok {
		row.Base = &BenchSummary{Center: g, Text: benchunit.Scale(g, cls)}
	}
	if g, ok := geo(hc); ok {
		row.Head = &BenchSummary{Center: g, Text: benchunit.Scale(g, cls)}
	}
	if g, ok := geo(ratios); ok && !bad {
		row.Ratio = g
		row.Delta = fmt.Sprintf("%+.2f%%", (g-1)*100)
	} else {
		row.Delta = "?"
	}
	if nBoth != len(t.Rows) {
		row.Notes = note([]error{errors.New("benchmark set differs from baseline; geomeans may not be comparable")})
	}
	if row.Base == nil || row.Head == nil {
		row.Notes = appendUnique(row.Notes, note([]error{errors.New("summaries must be >0 to compute geomean")})...)
	}
	return row
}

func geo(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	sum := 0.0
	for _, x := range xs {
		if x <= 0 {
			return 0, false
		}
		sum += math.Log(x)
	}
	return math.Exp(sum / float64(len(xs))), true
}

func appendUnique(xs []int, ys ...int) []int {
	for _, y := range ys {
		dup := false
		for _, x := range xs {
			dup = dup || x == y
		}
		if !dup {
			xs = append(xs, y)
		}
	}
	return xs
}
