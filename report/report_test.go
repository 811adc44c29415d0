package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixture loads testdata/runs/NAME (a synthetic run.json and cell files).
func fixture(t *testing.T, name string) (string, *results.Run) {
	t.Helper()
	dir := filepath.Join("testdata", "runs", name)
	run, err := results.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, run
}

// golden compares got with testdata/golden/NAME, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(run go test -update to accept)", path, i+1, g, w)
			}
		}
	}
}

func render(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGoldenRunReport(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	r := Build(dir, run, nil)
	golden(t, "vmsplice.report.md", render(t, func(b *bytes.Buffer) error { return r.Markdown(b) }))
	golden(t, "vmsplice.junit.xml", render(t, func(b *bytes.Buffer) error { return JUnit(b, dir, run) }))
	golden(t, "vmsplice.report.json", render(t, func(b *bytes.Buffer) error { return r.JSON(b) }))
}

func TestGoldenCompare(t *testing.T) {
	dirA, a := fixture(t, "before")
	dirB, b := fixture(t, "vmsplice")
	r := Compare(dirA, a, dirB, b)
	golden(t, "compare.report.md", render(t, func(b *bytes.Buffer) error { return r.Markdown(b) }))
}

func TestRunComparison(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	r := Build(dir, run, nil)
	if r.ExitCode != results.ExitInfra {
		t.Errorf("exit code %d, want 3 (a cell did not build)", r.ExitCode)
	}
	pair := findPair(t, r, "6.12-vmsplice-copy-minimal")
	kinds := map[string]string{}
	for _, c := range pair.Changes {
		kinds[c.Name()] = c.Kind
	}
	want := map[string]string{
		"vmsplice/TestStable":                           KindFix,
		"vmsplice/TestEPIPE":                            KindRegression,
		"vmsplice/TestKnownBroken":                      KindUnexpectedPass,
		"vmsplice/TestEscape/<script>alert(1)</script>": KindNew,
	}
	for name, k := range want {
		if kinds[name] != k {
			t.Errorf("%s: kind %q, want %q", name, kinds[name], k)
		}
	}
	if len(pair.Changes) != len(want) {
		t.Errorf("changes %v, want %v", kinds, want)
	}
	if len(pair.Missed) != 1 || pair.Missed[0].Test != "TestNonblock" {
		t.Errorf("missed expected differences: %+v, want TestNonblock", pair.Missed)
	}
	for _, c := range pair.Changes {
		if c.Test == "TestStable" && (!c.Declared || c.Unexpected) {
			t.Errorf("TestStable fix: declared %v unexpected %v, want declared and expected", c.Declared, c.Unexpected)
		}
	}
	if len(pair.Findings) != 1 || pair.Findings[0].Class != "warning" {
		t.Errorf("new findings %+v", pair.Findings)
	}
	if len(pair.Taint) != 1 || !strings.HasPrefix(pair.Taint[0].Flags, "W ") {
		t.Errorf("taint %+v", pair.Taint)
	}
	if p := findPair(t, r, "6.1-vmsplice-copy-minimal"); p.NotCompared == "" {
		t.Error("a pair with a build-failed base was compared")
	}
	// Infrastructure failures are listed apart, never as unexpected test results.
	infra := map[string]bool{}
	for _, c := range r.Infra {
		infra[c.ID] = true
	}
	if !infra["6.1-base-minimal"] || !infra["6.12-base-debug"] || len(r.Infra) != 2 {
		t.Errorf("infra %v", infra)
	}
	for _, u := range r.Unexpected {
		if infra[u.Cell] {
			t.Errorf("infrastructure failure %s listed with the unexpected test results", u.Cell)
		}
	}
}

func findPair(t *testing.T, r *Report, head string) *Pair {
	t.Helper()
	for _, g := range r.Groups {
		for _, p := range g.Pairs {
			if p.Head.ID == head {
				return p
			}
		}
	}
	t.Fatalf("no comparison for %s", head)
	return nil
}

func TestBaselineFromMatrixOrRecord(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	for _, c := range run.Cells {
		c.Baseline = ""
	}
	if r := Build(dir, run, nil); len(r.Groups) != 0 {
		t.Errorf("without baselines recorded or a matrix: %d comparisons", len(r.Groups))
	}
}

func TestCompareExitCodes(t *testing.T) {
	dirA, a := fixture(t, "before")
	dirB, b := fixture(t, "vmsplice")

	if r := Compare(dirA, a, dirA, a); r.ExitCode != 0 {
		t.Errorf("a run against itself: exit %d (%s), want 0", r.ExitCode, r.Verdict)
	}
	if r := Compare(dirA, a, dirB, b); r.ExitCode != results.ExitInfra {
		t.Errorf("against a run with infrastructure failures: exit %d, want 3", r.ExitCode)
	}
	// Only the 6.12 minimal cells: unexpected differences, exit 1.
	keep := func(r *results.Run, ids ...string) *results.Run {
		out := *r
		out.Cells = nil
		for _, id := range ids {
			out.Cells = append(out.Cells, r.Cell(id))
		}
		return &out
	}
	b2 := keep(b, "6.12-base-minimal", "6.12-vmsplice-copy-minimal")
	r := Compare(dirA, a, dirB, b2)
	if r.ExitCode != results.ExitFailed {
		t.Errorf("regressed run: exit %d, want 1", r.ExitCode)
	}
	if len(r.Unmatched) != 1 || !strings.Contains(r.Unmatched[0], "6.1-base-minimal: only in A") {
		t.Errorf("unmatched %v", r.Unmatched)
	}
	// Differences the matrix expects (the patch fixes what base fails) are
	// not a reason to fail: compare base cells against patched ones by
	// giving B's patched cell the axes of A's base... simpler: B equal to
	// A except one fix that B's matrix expects.
	a2 := keep(a, "6.12-base-minimal")
	bFix := keep(a, "6.12-base-minimal")
	c := *bFix.Cells[0]
	s := *c.Suites[0]
	s.Tests = append([]*results.Test(nil), s.Tests...)
	fixed := *s.Tests[0] // TestStable: fail as expected in A
	fixed.Status, fixed.Expected, fixed.AsExpected = results.Pass, "", true
	s.Tests[0] = &fixed
	c.Suites = []*results.Suite{&s}
	bFix.Cells = []*results.Cell{&c}
	if r := Compare(dirA, a2, dirA, bFix); r.ExitCode != 0 || r.Counts.Fixes != 1 {
		t.Errorf("an expected fix: exit %d, fixes %d (%s), want 0 and 1", r.ExitCode, r.Counts.Fixes, r.Verdict)
	}
}

func TestJUnitCounts(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	out := render(t, func(b *bytes.Buffer) error { return JUnit(b, dir, run) })
	var doc junitSuites
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	byName := map[string]junitSuite{}
	for _, s := range doc.Suites {
		byName[s.Name] = s
	}
	base := byName["6.12-base-minimal/vmsplice"]
	if base.Failures != 0 || base.Skipped != 4 || base.Tests != 6 {
		t.Errorf("base suite: %d tests %d failures %d skipped; want 6, 0 (expected failures are not failures), 4", base.Tests, base.Failures, base.Skipped)
	}
	head := byName["6.12-vmsplice-copy-minimal/vmsplice"]
	if head.Failures != 3 {
		t.Errorf("head suite: %d failures, want 3 (regression, missed fix, unexpected pass)", head.Failures)
	}
	for _, tc := range head.Cases {
		if tc.Name == "TestEPIPE" {
			if tc.Failure == nil || !strings.Contains(tc.Failure.Message, "want EPIPE") || !strings.Contains(tc.Failure.Body, "WARNING: CPU: 0 PID: 61") {
				t.Errorf("TestEPIPE failure lacks its message or the console excerpt: %+v", tc.Failure)
			}
		}
	}
	if s := byName["6.1-base-minimal"]; s.Errors != 1 || s.Failures != 0 {
		t.Errorf("build failure: %d errors %d failures, want an error, not a failure", s.Errors, s.Failures)
	}
	if s := byName["6.12-vmsplice-copy-minimal/console"]; s.Failures != 1 {
		t.Errorf("console findings suite: %+v", s)
	}
	if bytes.Contains(out, []byte("\x1b")) {
		t.Error("junit.xml holds an escape character")
	}
}

func TestGitHubActions(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	r := Build(dir, run, nil)
	summary := filepath.Join(t.TempDir(), "summary.md")
	os.WriteFile(summary, []byte("earlier step\n"), 0o644)
	var out bytes.Buffer
	if err := r.GitHub(&out, summary); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var regression bool
	for _, l := range lines {
		if !strings.HasPrefix(l, "::error title=") {
			t.Errorf("not an annotation: %q", l)
		}
		if strings.HasPrefix(l, "::error title=kvmtest REGRESSION%3A 6.12-vmsplice-copy-minimal::vmsplice/TestEPIPE") {
			regression = true
		}
	}
	if !regression {
		t.Errorf("no annotation for the regression:\n%s", out.String())
	}
	if strings.Contains(out.String(), "<script>alert(1)</script> |") && strings.Contains(out.String(), "\n\n") {
		t.Error("annotations hold raw newlines")
	}
	b, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(b), "earlier step\n# kvmtest report") {
		t.Errorf("step summary not appended: %.80q", b)
	}
}

func TestAnnotationEscaping(t *testing.T) {
	if got := escapeProperty("a: b,c%\nd"); got != "a%3A b%2Cc%25%0Ad" {
		t.Errorf("escapeProperty = %q", got)
	}
	if got := escapeData("50%\r\nok: yes, no"); got != "50%25%0Aok: yes, no" {
		t.Errorf("escapeData = %q", got)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	if got := mdCode("a|b`c"); got != "``a\\|b`c``" {
		t.Errorf("mdCode = %q", got)
	}
	if got := mdText("<b>*x*</b>"); got != `&lt;b>\*x\*&lt;/b>` {
		t.Errorf("mdText = %q", got)
	}
	if got := mdText("> quote"); got != `&gt; quote` {
		t.Errorf("mdText = %q", got)
	}
	var b strings.Builder
	mdDetails(&b, "", "x", "```\nhi")
	if !strings.Contains(b.String(), "````\n```\nhi\n````") {
		t.Errorf("a fence inside the text closes the block:\n%s", b.String())
	}
}

func TestTaintFlags(t *testing.T) {
	if got := TaintFlags(1<<9 | 1<<7); got != "D (kernel died recently (OOPS or BUG)), W (kernel issued warning)" {
		t.Errorf("TaintFlags = %q", got)
	}
}

// WriteAll writes the three files and, on GitHub Actions, the step summary
// and the annotations on standard output.
func TestWriteAllOnGitHubActions(t *testing.T) {
	src, run := fixture(t, "vmsplice")
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "cells"), os.DirFS(filepath.Join(src, "cells"))); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	werr := WriteAll(dir, run, nil)
	os.Stdout = stdout
	w.Close()
	var out bytes.Buffer
	out.ReadFrom(r)
	if werr != nil {
		t.Fatal(werr)
	}
	for _, f := range []string{MarkdownFile, HTMLFile, JUnitFile, Test2JSONFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The run's test2json stream is its cells', in order.
	var cells []byte
	for _, c := range run.Cells {
		cells = append(cells, results.Test2JSON(c)...)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, Test2JSONFile)); !bytes.Equal(b, cells) {
		t.Errorf("%s is not the cells' streams in order:\n%s", Test2JSONFile, b)
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if s, _ := os.ReadFile(summary); !bytes.Equal(bytes.TrimSuffix(s, []byte("\n")), md) {
		t.Error("the step summary is not report.md")
	}
	if !strings.Contains(out.String(), "::error title=kvmtest REGRESSION") {
		t.Errorf("no regression annotation on standard output:\n%s", out.String())
	}
}

// TestCompareMatchesArch: two runs of a matrix with several architectures
// compare each cell with the cell of the same architecture (a record
// without one is x86_64's), and a run's pairs are titled by theirs.
func TestCompareMatchesArch(t *testing.T) {
	dirA, a := fixture(t, "before")
	base := a.Cell("6.12-base-minimal")
	if base == nil {
		t.Fatal("fixture has no 6.12-base-minimal")
	}
	// A: x86_64 (no arch recorded) passes, arm64 fails everything.
	x86 := *base
	x86.Arch = ""
	arm := *base
	arm.ID, arm.Arch, arm.Status, arm.Reason = base.ID+"-arm64", "arm64", results.StatusBootFailed, "no console"
	runA := *a
	runA.Cells = []*results.Cell{&x86, &arm}
	// B: the same x86_64 cell, now recorded as x86_64.
	x86b := x86
	x86b.Arch = "x86_64"
	runB := *a
	runB.Cells = []*results.Cell{&x86b}
	r := Compare(dirA, &runA, dirA, &runB)
	if len(r.Cells) != 1 || r.Cells[0].Before != x86.Status {
		t.Errorf("B's x86_64 cell compared with A's %+v; want A's x86_64 cell (%s)", r.Cells, x86.Status)
	}
	if len(r.Unmatched) != 1 || !strings.Contains(r.Unmatched[0], arm.ID+": only in A") {
		t.Errorf("unmatched %v, want A's arm64 cell", r.Unmatched)
	}

	// One run with both: each pair's title names its architecture.
	head := *base
	head.ID, head.Patchset, head.Arch, head.Baseline = "6.12-v2-minimal-arm64", "v2", "arm64", arm.ID
	runC := *a
	runC.Cells = []*results.Cell{&x86, &arm, &head}
	rep := Build(dirA, &runC, nil)
	var titles []string
	for _, g := range rep.Groups {
		for _, p := range g.Pairs {
			titles = append(titles, p.Title)
		}
	}
	if strings.Join(titles, ",") != "6.12 / minimal / arm64" {
		t.Errorf("pair titles %q, want the arm64 pair titled with its arch", titles)
	}
}
