package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

func TestJudgeCell(t *testing.T) {
	cell := func(status, reason string, tests ...string) *results.Cell {
		c := &results.Cell{ID: "c", Status: status, Reason: reason}
		s := &results.Suite{Name: "vmsplice"}
		for _, tt := range tests {
			name, st, _ := strings.Cut(tt, "=")
			s.Tests = append(s.Tests, &results.Test{Name: name, Status: st})
		}
		c.Suites = []*results.Suite{s}
		return c
	}
	re := regexp.MustCompile(`^TestPartial$`)
	suiteRE := regexp.MustCompile(`^vmsplice/TestPartial$`)
	tests := []struct {
		name string
		c    *results.Cell
		re   *regexp.Regexp
		want bisect.Verdict
		why  string
	}{
		{"test fails", cell("failed", "x", "TestPartial=fail", "TestOther=pass"), re, bisect.Bad, "vmsplice/TestPartial: fail"},
		{"test passes, others fail", cell("failed", "x", "TestPartial=pass", "TestOther=fail"), re, bisect.Good, "vmsplice/TestPartial: pass"},
		{"suite-qualified name", cell("failed", "x", "TestPartial=timeout"), suiteRE, bisect.Bad, "vmsplice/TestPartial: timeout"},
		{"crash before the test", cell("crashed", "kernel crashed: BUG: x\nmore"), re, bisect.Bad, "crashed before a matching test ran: kernel crashed: BUG: x"},
		{"build failure is untestable", cell("build-failed", "build: error"), re, bisect.Skip, "build-failed: build: error"},
		{"boot failure is untestable", cell("boot-failed", "no hello"), nil, bisect.Skip, "boot-failed: no hello"},
		{"test skipped", cell("passed", "", "TestPartial=skip"), re, bisect.Skip, "no test matching the --test expression passed or failed (passed)"},
		{"no such test", cell("passed", "", "TestOther=pass"), re, bisect.Skip, "no test matching the --test expression passed or failed (passed)"},
		{"cell passes", cell("passed", ""), nil, bisect.Good, "passed"},
		{"cell fails", cell("failed", "vmsplice/TestX: fail (expected pass)"), nil, bisect.Bad, "failed: vmsplice/TestX: fail (expected pass)"},
		{"cell times out", cell("timed-out", "no done"), nil, bisect.Bad, "timed-out: no done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, why := judgeCell(tt.c, tt.re)
			if v != tt.want || why != tt.why {
				t.Errorf("judgeCell = %s (%s), want %s (%s)", v, why, tt.want, tt.why)
			}
		})
	}
}

func TestCombineAndFlip(t *testing.T) {
	g, b, s := bisect.Good, bisect.Bad, bisect.Skip
	for _, tt := range []struct {
		in   []bisect.Verdict
		want bisect.Verdict
	}{
		{[]bisect.Verdict{g, g, g}, g},
		{[]bisect.Verdict{g, b, g}, b},
		{[]bisect.Verdict{g, s}, s},
		{[]bisect.Verdict{s, b}, b},
	} {
		if got := combine(tt.in); got != tt.want {
			t.Errorf("combine(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if flip(g) != b || flip(b) != g || flip(s) != s {
		t.Error("flip swaps good and bad and keeps skip")
	}
}

func TestSeriesStates(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0001-a.patch", "0002-b.patch", "0003-c.patch"} {
		os.WriteFile(filepath.Join(dir, n), []byte("Subject: [PATCH] "+n+"\n\n--- a/x\n+++ b/x\n"), 0o644)
	}
	c := matrices.Cell{ID: "6.12-s-minimal", Kernel: &matrices.Kernel{Name: "6.12"}, Patchset: &matrices.Patchset{Name: "s", Series: dir, SeriesFormat: "dir"}}
	tests := []struct {
		good, bad string
		labels    []string
		err       string
	}{
		{"", "", []string{"0/3 (no patches)", "1/3 0001-a.patch", "2/3 0002-b.patch", "3/3 0003-c.patch"}, ""},
		{"1", "0003-c.patch", []string{"1/3 0001-a.patch", "2/3 0002-b.patch", "3/3 0003-c.patch"}, ""},
		{"base", "2", []string{"0/3 (no patches)", "1/3 0001-a.patch", "2/3 0002-b.patch"}, ""},
		{"2", "2", nil, "--good (2 patches) must come before --bad (2 patches)"},
		{"", "4", nil, "--bad 4: the series has 3 patches (0..3)"},
		{"0009-x.patch", "", nil, `--good "0009-x.patch": not a count, base, all or a patch of the series (0001-a.patch, 0002-b.patch, 0003-c.patch)`},
	}
	for _, tt := range tests {
		states, err := seriesStates(c, filepath.Join(t.TempDir(), "split"), tt.good, tt.bad)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("good %q bad %q: err %v, want %q", tt.good, tt.bad, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for i, s := range states {
			labels = append(labels, s.Label)
			if s.Index != i {
				t.Errorf("state %d has index %d", i, s.Index)
			}
		}
		if strings.Join(labels, "|") != strings.Join(tt.labels, "|") {
			t.Errorf("good %q bad %q: %q, want %q", tt.good, tt.bad, labels, tt.labels)
		}
		if last := states[len(states)-1]; last.What != "[PATCH] "+filepath.Base(last.Patches[len(last.Patches)-1]) {
			t.Errorf("last state's subject %q", last.What)
		}
	}
	noSeries := c
	noSeries.Patchset = &matrices.Patchset{Name: "base"}
	if _, err := seriesStates(noSeries, t.TempDir(), "", ""); err == nil || !strings.Contains(err.Error(), "has no patch series") {
		t.Errorf("base cell: %v", err)
	}
}

// TestStateCell: a state's cell keeps the id, and its series holds
// exactly the state's patches, in order, whatever their names.
func TestStateCell(t *testing.T) {
	dir := t.TempDir()
	var patches []string
	for _, n := range []string{"z-first.diff", "a-second.diff"} {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte(n+"\n"), 0o644)
		patches = append(patches, p)
	}
	c := matrices.Cell{ID: "6.12-s-minimal", Kernel: &matrices.Kernel{Name: "6.12"}, Patchset: &matrices.Patchset{Name: "s", Series: dir}}
	got, err := stateCell(c, bisectState{Index: 2, Patches: patches}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files, err := builder.SeriesFiles(got.Patchset.Series)
	if err != nil {
		t.Fatal(err)
	}
	var content []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		content = append(content, strings.TrimSpace(string(b)))
	}
	if got.ID != c.ID || strings.Join(content, ",") != "z-first.diff,a-second.diff" {
		t.Errorf("state cell %s applies %v", got.ID, content)
	}
	if c.Patchset.Series != dir {
		t.Error("stateCell changed the matrix's own patch set")
	}
	base, err := stateCell(c, bisectState{Index: 0}, t.TempDir())
	if err != nil || base.Patchset.Series != "" {
		t.Errorf("state 0: series %q, %v; want none", base.Patchset.Series, err)
	}
	commit, err := stateCell(matrices.Cell{ID: "x", Kernel: &matrices.Kernel{Source: matrices.Source{Git: &matrices.GitSource{Repo: "/r", Ref: "main"}}}, Patchset: c.Patchset},
		bisectState{Commit: "abc"}, t.TempDir())
	if err != nil || commit.Kernel.Source.Git.Ref != "abc" {
		t.Errorf("git state: %+v, %v", commit.Kernel.Source.Git, err)
	}
}

func TestPickCell(t *testing.T) {
	m := &matrices.Matrix{
		Kernels:   []*matrices.Kernel{{Name: "6.12"}, {Name: "6.1"}},
		Patchsets: []*matrices.Patchset{{Name: "base"}},
		Configs:   []*matrices.Config{{Name: "minimal"}},
	}
	for _, tt := range []struct{ arg, want, err string }{
		{"6.1-base-minimal", "6.1-base-minimal", ""},
		{"6.12-*", "6.12-base-minimal", ""},
		{"6.1*", "", `--cell "6.1*" matches 2 cells (6.12-base-minimal, 6.1-base-minimal): name one`},
		{"next-*", "", `--cell "next-*" matches no cell (cells: 6.12-base-minimal, 6.1-base-minimal)`},
		{"[", "", `--cell "[": syntax error in pattern`},
	} {
		c, err := pickCell(m, tt.arg)
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) || c.ID != tt.want {
			t.Errorf("pickCell(%q) = %q, %v; want %q, %s", tt.arg, c.ID, err, tt.want, tt.err)
		}
	}
}
