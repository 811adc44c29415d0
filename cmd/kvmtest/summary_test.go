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
