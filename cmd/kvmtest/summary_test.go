package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/results"
)

// TestSummaryShowsMultiLineReasons: a reason of several lines is shown
// whole up to 8 lines (the 6 options a config's drift check found, with
// their unmet dependencies), beyond that by its first 8 lines and how
// many more run.json has (a compiler's errors in a suite's message), each
// line indented under its cell and made one line.
func TestSummaryShowsMultiLineReasons(t *testing.T) {
	var missing []builder.MissingOption
	for i := range 6 {
		missing = append(missing, builder.MissingOption{Symbol: fmt.Sprintf("CONFIG_OPT%d", i), Want: "y", Got: "is not set",
			Why: fmt.Sprintf("defined at drivers/x/Kconfig:%d, depends on DEP%d (not set)", 10+i, i)})
	}
	drift := "config: " + (&builder.ConfigError{Missing: missing}).Error()
	var compiler []string
	for i := range 20 {
		compiler = append(compiler, fmt.Sprintf("./x_test.go:%d:2: undefined: thing%d", i+1, i))
	}
	run := &results.Run{
		Matrix: results.Matrix{Name: "m"},
		Cells: []*results.Cell{
			{ID: "6.12-base-drift", Status: results.StatusBuildFailed, Reason: drift},
			{ID: "6.12-base-minimal", Status: results.StatusFailed, Reason: "gotest: error exit status 1",
				Suites: []*results.Suite{{Name: "gotest", Status: results.Error,
					Message: "exit status 1\n# example.com/x\n" + strings.Join(compiler, "\n") + "\n\x1b[2Jhidden\r"}}},
		},
	}
	var b bytes.Buffer
	printSummary(&b, run, "out")
	out := b.String()
	for _, m := range missing {
		if want := "\n        " + m.String() + "\n"; !strings.Contains(out, want) {
			t.Errorf("the summary lacks the option line %q:\n%s", want, out)
		}
	}
	if want := "      " + strings.ReplaceAll(drift, "\n", "\n      ") + "\n  6.12-base-minimal"; !strings.Contains(out, want) {
		t.Errorf("the drift reason (7 lines) is not shown whole:\n%s", out)
	}
	suite := "      suite gotest             error   0 passed, 0 failed, 0 skipped; NOT as expected\n"
	i := strings.Index(out, suite)
	if i < 0 {
		t.Fatalf("no suite line %q:\n%s", suite, out)
	}
	got := strings.Split(out[i+len(suite):], "\n")[:9]
	want := append([]string{"        exit status 1", "        # example.com/x"}, indentAll("        ", compiler[:6])...)
	want = append(want, "        … 15 more line(s) in run.json")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the suite's message:\n got %q\nwant %q", got, want)
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\r") {
		t.Errorf("an escape or a CR in the summary:\n%q", out)
	}
}

func indentAll(indent string, lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, indent+l)
	}
	return out
}

// TestPrintLinesCaps: the last line of a message after the cap is
// counted, and one very long line is cut.
func TestPrintLinesCaps(t *testing.T) {
	var b bytes.Buffer
	printLines(&b, "  ", strings.Repeat("x", 1000)+"\nsecond\r\n")
	want := "  " + strings.Repeat("x", summaryLineRunes) + "…\n  second\n"
	if b.String() != want {
		t.Errorf("printLines = %q, want %q", b.String(), want)
	}
	b.Reset()
	printLines(&b, "", strings.Repeat("l\n", 9))
	if want := strings.Repeat("l\n", 8) + "… 1 more line(s) in run.json\n"; b.String() != want {
		t.Errorf("printLines of 9 lines = %q, want %q", b.String(), want)
	}
}

// TestSummaryScales: a cell of 30 suites of 100 tests each (upstream Go
// test packages) gives a summary of a few lines: no line for a suite
// that is as expected, a line for each suite not as expected, and at most
// summaryTests tests not as expected per cell, then how many more
// report.md lists.
func TestSummaryScales(t *testing.T) {
	c := &results.Cell{ID: "6.12-base-minimal", Status: results.StatusFailed, ArtifactKey: "k", BuildCached: true}
	for i := range 30 {
		s := &results.Suite{Name: fmt.Sprintf("pkg%02d", i), Status: results.Pass, AsExpected: true}
		for j := range 100 {
			s.Tests = append(s.Tests, &results.Test{Name: fmt.Sprintf("Test%03d", j), Status: results.Pass, AsExpected: true})
		}
		if i%10 == 3 { // three suites with 8 unexpected failures each
			s.Status, s.AsExpected = results.Fail, false
			for j := range 8 {
				s.Tests[j].Status, s.Tests[j].AsExpected = results.Fail, false
			}
		}
		c.Suites = append(c.Suites, s)
	}
	run := &results.Run{Matrix: results.Matrix{Name: "m"}, Cells: []*results.Cell{c}}
	var b bytes.Buffer
	printSummary(&b, run, "out")
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 20 {
		t.Errorf("the summary of 3000 tests has %d lines:\n%s", len(lines), out)
	}
	if strings.Contains(out, "suite pkg00") {
		t.Errorf("a suite as expected has a line:\n%s", out)
	}
	for _, want := range []string{"suite pkg03", "suite pkg13", "suite pkg23",
		"2976 passed, 24 failed, 0 skipped", "… 14 more test(s) not as expected in report.md"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, ": fail, expected pass"); n != summaryTests {
		t.Errorf("%d unexpected tests listed, want %d:\n%s", n, summaryTests, out)
	}
}

// TestSummarySkippedSuite: a suite skipped as a whole has its line in the
// summary, with the reason it gave; a suite that passed has none.
func TestSummarySkippedSuite(t *testing.T) {
	run := &results.Run{Matrix: results.Matrix{Name: "m"}, Cells: []*results.Cell{{ID: "6.12-base-minimal", Status: results.StatusPassed,
		Suites: []*results.Suite{
			{Name: "ebpf", Status: results.Skip, AsExpected: true, Message: "skipped: kernel lacks CONFIG_BPF_SYSCALL"},
			{Name: "ok", Status: results.Pass, AsExpected: true},
		}}}}
	var b bytes.Buffer
	printSummary(&b, run, "out")
	want := "      suite ebpf               skip    0 passed, 0 failed, 0 skipped; as expected\n        skipped: kernel lacks CONFIG_BPF_SYSCALL\n"
	if !strings.Contains(b.String(), want) || strings.Contains(b.String(), "suite ok") {
		t.Errorf("summary:\n%s\nwant the skipped suite with its reason, no line for the suite that passed", b.String())
	}
}

// TestSummaryCrashedBinary: a suite whose Go test binary panicked says so
// plainly, names the test running then, and counts the tests that never
// reported as not run, not as failed.
func TestSummaryCrashedBinary(t *testing.T) {
	s := &results.Suite{Name: "strings", Status: results.Fail, Message: "exit status 2; test2json reported no package result",
		Crash: &results.Crash{Message: "panic: runtime error: index out of range", Test: "TestX", NotRun: []string{"TestP1", "TestP2"}}}
	for _, n := range []string{"TestOK", "TestX", "TestP1", "TestP2"} {
		st := results.Fail
		if n == "TestOK" {
			st = results.Pass
		}
		s.Tests = append(s.Tests, &results.Test{Name: n, Status: st, AsExpected: st == results.Pass})
	}
	run := &results.Run{Matrix: results.Matrix{Name: "m"}, Cells: []*results.Cell{{ID: "6.12-base-minimal", Status: results.StatusFailed, Suites: []*results.Suite{s}}}}
	var b bytes.Buffer
	printSummary(&b, run, "out")
	out := b.String()
	for _, want := range []string{
		"1 passed, 1 failed, 2 not run, 0 skipped; NOT as expected\n",
		"        the test binary crashed: panic: runtime error: index out of range in TestX\n",
		"        2 test(s) never reported, not run: TestP1, TestP2\n",
		"        TestX: fail, expected pass\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "TestP1: fail") {
		t.Errorf("a test that never reported is listed as failed:\n%s", out)
	}
}
