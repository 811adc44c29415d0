package report

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// samples writes n Go benchmark lines around center with normal noise of
// the given relative spread.
func samples(rng *rand.Rand, name string, center, spread float64, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Benchmark%s-2 \t 1000\t %.1f ns/op\n", name, center*(1+spread*rng.NormFloat64()))
	}
	return b.String()
}

func TestBenchSignificance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := parseBench(strings.NewReader("goos: linux\n"+samples(rng, "Double", 5000, 0.03, 10)+samples(rng, "Same", 3000, 0.03, 10)), "base")
	head := parseBench(strings.NewReader("goos: linux\n"+samples(rng, "Double", 10000, 0.03, 10)+samples(rng, "Same", 3000, 0.03, 10)), "head")
	b := compareSets(base, head)
	if len(b.Errors) > 0 {
		t.Fatalf("errors: %v", b.Errors)
	}
	if len(b.Tables) != 1 || b.Tables[0].Unit != "sec/op" || len(b.Tables[0].Rows) != 2 {
		t.Fatalf("tables: %+v", b.Tables)
	}
	double, same := b.Tables[0].Rows[0], b.Tables[0].Rows[1]
	if double.Name != "Double-2" || !double.Significant || double.P >= 0.05 || !strings.HasPrefix(double.Delta, "+") {
		t.Errorf("a 2x slowdown: %+v, want significant and positive", double)
	}
	if double.Ratio < 1.9 || double.Ratio > 2.1 || double.RatioLo > double.Ratio || double.RatioHi < double.Ratio {
		t.Errorf("2x: ratio %.3f in [%.3f, %.3f]", double.Ratio, double.RatioLo, double.RatioHi)
	}
	if double.Test != "(p=0.000 n=10)" {
		t.Errorf("test column %q, want benchstat's (p=0.000 n=10)", double.Test)
	}
	if same.Significant || same.Delta != "~" {
		t.Errorf("two samples of one distribution: %+v, want ~", same)
	}
	if !strings.Contains(double.Head.Text, "µ ± ") {
		t.Errorf("summary text %q, want benchstat's scaled median ± CI", double.Head.Text)
	}
	if g := b.Tables[0].Geomean; g == nil || g.Delta == "" || g.Delta == "?" {
		t.Errorf("geomean %+v", g)
	}
}

func TestBenchTooFewSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := parseBench(strings.NewReader(samples(rng, "X", 5000, 0.01, 3)), "base")
	head := parseBench(strings.NewReader(samples(rng, "X", 10000, 0.01, 3)), "head")
	b := compareSets(base, head)
	row := b.Tables[0].Rows[0]
	if row.Significant || row.Delta != "~" {
		t.Errorf("3 samples a side cannot show a difference at α=0.05: %+v", row)
	}
	var notes []string
	for _, n := range row.Notes {
		notes = append(notes, b.Notes[n-1])
	}
	if !strings.Contains(strings.Join(notes, "; "), "need >= 4 samples to detect a difference") {
		t.Errorf("notes %v", notes)
	}
}

func TestBenchOneSided(t *testing.T) {
	head := parseBench(strings.NewReader("BenchmarkNew-1 100 5 ns/op\nBenchmarkNew-1 100 6 ns/op\nnot a benchmark line\nBenchmarkBad-1 x 5 ns/op\n"), "head")
	b := compareSets(nil, head)
	if len(b.Errors) != 1 || !strings.Contains(b.Errors[0], "iteration count") {
		t.Errorf("syntax errors %v", b.Errors)
	}
	row := b.Tables[0].Rows[0]
	if row.Base != nil || row.Head == nil || row.Delta != "" {
		t.Errorf("a benchmark only in head: %+v", row)
	}
}
