package report

import (
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// TestAcrossKernels: compared with a baseline cell of another kernel, a
// test that passes only on the older kernel is a difference between the
// kernels, not a fix or a regression; on one kernel, the same changes
// keep their words.
func TestAcrossKernels(t *testing.T) {
	cell := func(id, kernel, status string, asExpected bool) *results.Cell {
		return &results.Cell{ID: id, Kernel: kernel, Patchset: "base", Config: "minimal", Status: results.StatusPassed,
			Suites: []*results.Suite{{Name: "s", Status: results.Pass, AsExpected: true, Tests: []*results.Test{
				{Name: "TestOld", Status: status, AsExpected: asExpected},
				{Name: "TestSame", Status: results.Pass, AsExpected: true},
			}}}}
	}
	old := cell("6.1-base-minimal", "6.1", results.Pass, true)
	for _, tc := range []struct {
		name      string
		head      *results.Cell
		kind      string
		label     string
		unexpeced bool
	}{
		{"fails only on the newer kernel", cell("6.12-base-minimal", "6.12", results.Fail, false), KindDiffers, "differs: fail on 6.12, pass on 6.1", true},
		{"the same, one kernel", cell("6.1-v1-minimal", "6.1", results.Fail, false), KindRegression, "REGRESSION", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := comparePair(side{cell: old}, side{cell: tc.head})
			if len(p.Changes) != 1 {
				t.Fatalf("changes %+v, want one", p.Changes)
			}
			c := p.Changes[0]
			if c.Kind != tc.kind || c.Label() != tc.label || c.Unexpected != tc.unexpeced {
				t.Errorf("change %s: kind %s label %q unexpected %v; want %s %q %v", c.Name(), c.Kind, c.Label(), c.Unexpected, tc.kind, tc.label, tc.unexpeced)
			}
		})
	}
	// The other way: a test that passes only on the newer kernel is no fix.
	p := comparePair(side{cell: cell("6.1-base-minimal", "6.1", results.Fail, true)}, side{cell: cell("6.12-base-minimal", "6.12", results.Pass, true)})
	if c := p.Changes[0]; c.Kind != KindDiffers || c.Label() != "differs: pass on 6.12, fail on 6.1" {
		t.Errorf("passes only on the newer kernel: %s %q, want a difference", c.Kind, c.Label())
	}
	r := &Report{Groups: []*Group{{Pairs: []*Pair{p}}}}
	r.count()
	if r.Counts.Fixes != 0 || r.Counts.Differences != 1 || !strings.Contains(r.verdict(), "1 difference between kernels") {
		t.Errorf("counts %+v, verdict %q; want one difference and no fix", r.Counts, r.verdict())
	}
	if g := r.glances(); len(g) != 1 || g[0].Fixes != 0 || !strings.Contains(g[0].Text(), "1 difference between the kernels") {
		t.Errorf("glance %+v", g)
	}
}
