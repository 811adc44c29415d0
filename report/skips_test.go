package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// TestSkipReasons: report.md and report.html say per suite what was
// skipped and why: a whole suite with its reason, tests grouped by
// identical reason (the t.Skip line's file:line left out, so one reason
// given at several lines is one group), each group naming its first 5
// tests and how many more, at most 10 reasons a suite then how many more.
func TestSkipReasons(t *testing.T) {
	s := &results.Suite{Name: "net", Status: results.Pass, AsExpected: true}
	for i := range 8 {
		s.Tests = append(s.Tests, &results.Test{Name: fmt.Sprintf("TestRoot%d", i), Status: results.Skip, AsExpected: true,
			Output: fmt.Sprintf("=== RUN   TestRoot%d\n    net_test.go:%d: requires root\n--- SKIP: TestRoot%d (0.00s)\n", i, 10+i, i)})
	}
	for i := range 11 {
		s.Tests = append(s.Tests, &results.Test{Name: fmt.Sprintf("TestFeature%d", i), Status: results.Skip, AsExpected: true,
			Output: fmt.Sprintf("    net_test.go:99: no feature %d\n", i)})
	}
	s.Tests = append(s.Tests, &results.Test{Name: "TestPass", Status: results.Pass, AsExpected: true})
	whole := &results.Suite{Name: "ebpf", Status: results.Skip, AsExpected: true, Message: "skipped: kernel lacks CONFIG_BPF_SYSCALL"}
	run := &results.Run{Matrix: results.Matrix{Name: "m"}, Cells: []*results.Cell{
		{ID: "6.12-base-minimal", Kernel: "6.12", Patchset: "base", Config: "minimal", Status: results.StatusPassed, Suites: []*results.Suite{s, whole}},
	}}
	r := Build("", run, nil)
	var md, html bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.HTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Skipped",
		"- `6.12-base-minimal/net`: 19 test(s) skipped\n",
		"  - `requires root`: `TestRoot0`, `TestRoot1`, `TestRoot2`, `TestRoot3`, `TestRoot4` and 3 more\n",
		"  - `no feature 0`: `TestFeature0`\n",
		"  - and 2 more reason(s): see junit.xml or run.json\n",
		"- `6.12-base-minimal/ebpf`: the whole suite skipped: `skipped: kernel lacks CONFIG_BPF_SYSCALL`\n",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "no feature 9") {
		t.Errorf("report.md lists more than %d reasons of a suite", skipGroups)
	}
	for _, want := range []string{
		`<section id="skipped">`,
		`<li class="skip-reason"><code>requires root</code>: <code>TestRoot0</code>`,
		"and 3 more</li>",
		"the whole suite skipped: <code>skipped: kernel lacks CONFIG_BPF_SYSCALL</code>",
	} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

// TestCrashedBinaryInReport: report.md and report.html say a suite's test
// binary crashed, in which test, and list the tests it never ran to their
// end as not run (counted so in the cells table), not as failures.
func TestCrashedBinaryInReport(t *testing.T) {
	s := &results.Suite{Name: "strings", Status: results.Fail, Message: "exit status 2; test2json reported no package result",
		Crash: &results.Crash{Message: "panic: boom", Test: "TestX", NotRun: []string{"TestP1", "TestP2"}}}
	for _, n := range []string{"TestOK", "TestX", "TestP1", "TestP2"} {
		st := results.Fail
		if n == "TestOK" {
			st = results.Pass
		}
		s.Tests = append(s.Tests, &results.Test{Name: n, Status: st, AsExpected: st == results.Pass})
	}
	run := &results.Run{Matrix: results.Matrix{Name: "m"}, Cells: []*results.Cell{
		{ID: "6.12-base-minimal", Kernel: "6.12", Patchset: "base", Config: "minimal", Status: results.StatusFailed, Suites: []*results.Suite{s}},
	}}
	r := Build("", run, nil)
	var md, html bytes.Buffer
	r.Markdown(&md)
	r.HTML(&html)
	for _, want := range []string{
		"1 passed, 1 failed, 2 not run",
		"- `strings`: crashed, expected pass: `the test binary crashed: panic: boom in TestX`\n  - not run (never reported): `TestP1`, `TestP2`\n",
		"- `strings/TestX`: fail, expected pass",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "`strings/TestP1`: fail") {
		t.Errorf("report.md lists a test that never reported as failed:\n%s", md.String())
	}
	if !strings.Contains(html.String(), "the test binary crashed: panic: boom in TestX") || !strings.Contains(html.String(), "not run (never reported): <code>TestP1</code>") {
		t.Errorf("report.html does not say the binary crashed")
	}
}
