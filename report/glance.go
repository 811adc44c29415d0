package report

import (
	"fmt"
	"math"
	"strings"
)

// Glance is the one-line summary of one comparison (a patchset against the
// baseline on one kernel and config, or a cell in two runs): what a reader
// wants before the tables.
type Glance struct {
	Group string `json:"group"` // "vmsplice-v1 vs base"
	Title string `json:"title"` // "6.12 / minimal"
	Head  string `json:"head"`  // head cell id
	// NotCompared says why the pair was not compared ("" when it was).
	NotCompared string `json:"not_compared,omitempty"`
	// Regressions and Unexpected name the tests that regressed, and those
	// that changed in a way the matrix does not expect otherwise.
	Regressions []string `json:"regressions,omitempty"`
	Unexpected  []string `json:"unexpected,omitempty"`
	// Fixes counts tests that failed in base and pass now; Expected the
	// other changes the matrix declares; Missed the declared differences
	// that did not happen.
	Fixes int `json:"fixes"`
	// Differences counts tests whose status differs between the two
	// cells' kernels (KindDiffers).
	Differences int `json:"differences,omitempty"`
	Expected    int `json:"expected"`
	Missed      int `json:"missed_expected"`
	Findings    int `json:"new_findings"`
	Taint       int `json:"taint"`
	// BenchMoved of BenchTotal benchmark rows changed significantly;
	// Largest is the one that moved most, as "Name unit delta (test)".
	BenchMoved int    `json:"bench_moved"`
	BenchTotal int    `json:"bench_total"`
	Largest    string `json:"bench_largest,omitempty"`
}

// Text is the summary as one plain sentence (no markup).
func (g Glance) Text() string {
	var parts []string
	if g.NotCompared != "" {
		return "not compared: " + g.NotCompared
	}
	if n := len(g.Regressions); n > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s)", plural(n, "REGRESSION", "REGRESSIONS"), listSome(g.Regressions, 3)))
	}
	if n := len(g.Unexpected); n > 0 {
		parts = append(parts, fmt.Sprintf("%s not as expected (%s)", plural(n, "change", "changes"), listSome(g.Unexpected, 3)))
	}
	if g.Findings > 0 {
		parts = append(parts, plural(g.Findings, "new console finding", "new console findings"))
	}
	if g.Taint > 0 {
		parts = append(parts, "kernel tainted")
	}
	if g.Missed > 0 {
		parts = append(parts, plural(g.Missed, "expected difference", "expected differences")+" did not happen")
	}
	if g.Fixes > 0 {
		parts = append(parts, plural(g.Fixes, "fix", "fixes"))
	}
	if g.Differences > 0 {
		parts = append(parts, plural(g.Differences, "difference", "differences")+" between the kernels")
	}
	if g.Expected > 0 {
		parts = append(parts, plural(g.Expected, "other change", "other changes")+" as expected")
	}
	if len(parts) == 0 {
		parts = append(parts, "no test changed")
	}
	if g.BenchTotal > 0 {
		b := fmt.Sprintf("benchmarks: %d of %d moved", g.BenchMoved, g.BenchTotal)
		if g.Largest != "" {
			b += ", most " + g.Largest
		}
		parts = append(parts, b)
	}
	return strings.Join(parts, "; ")
}

// Bad says the comparison found something the matrix does not expect.
func (g Glance) Bad() bool {
	return len(g.Regressions) > 0 || len(g.Unexpected) > 0 || g.Findings > 0 || g.Taint > 0 || g.Missed > 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func listSome(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}

// glances summarizes every comparison of the report, in order. Pairs in
// which the head cell did not run at all (a skipped patchset) are left
// out: the cells table says why.
func (r *Report) glances() []Glance {
	var out []Glance
	for _, grp := range r.Groups {
		for _, p := range grp.Pairs {
			if p.NotCompared != "" && (p.Head.Status == "skipped" || p.Head.Status == "") {
				continue
			}
			g := Glance{Group: grp.Title, Title: p.Title, Head: p.Head.ID, NotCompared: p.NotCompared,
				Missed: len(p.Missed), Findings: len(p.Findings), Taint: len(p.Taint)}
			for _, c := range p.Changes {
				switch {
				case c.Kind == KindRegression:
					g.Regressions = append(g.Regressions, c.Name())
				case c.Unexpected:
					g.Unexpected = append(g.Unexpected, c.Name())
				case c.Kind == KindFix:
					g.Fixes++
				case c.Kind == KindDiffers:
					g.Differences++
				case c.Declared || c.Kind == KindExpected:
					g.Expected++
				}
			}
			g.BenchMoved, g.BenchTotal, g.Largest = benchGlance(p.Bench)
			out = append(out, g)
		}
	}
	return out
}

// benchGlance counts a comparison's benchmark rows, those that changed
// significantly, and describes the one that moved most.
func benchGlance(b *Bench) (moved, total int, largest string) {
	if b == nil {
		return 0, 0, ""
	}
	best := 0.0
	for _, t := range b.Tables {
		for _, row := range t.Rows {
			if row.Base == nil || row.Head == nil {
				continue
			}
			total++
			if !row.Significant {
				continue
			}
			moved++
			if row.Ratio <= 0 {
				continue
			}
			if d := math.Abs(math.Log(row.Ratio)); d > best {
				best = d
				largest = strings.TrimSpace(fmt.Sprintf("%s %s %s %s", row.Name, t.Unit, row.Delta, row.Test))
			}
		}
	}
	return moved, total, largest
}
