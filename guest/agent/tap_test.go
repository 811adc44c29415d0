package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// tapRecord is what a tapParser reported.
type tapRecord struct {
	p      *tapParser
	events []tapEvent
}

// tickingClock returns a clock that advances a millisecond at each call.
func tickingClock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}

// newTAPRecord returns a parser that records what it reports.
func newTAPRecord() *tapRecord {
	r := &tapRecord{}
	r.p = newTAPParser(tickingClock(), func(e tapEvent) { r.events = append(r.events, e) })
	return r
}

// splitLines splits a test input into lines.
func splitLines(in string) []string {
	return strings.Split(strings.TrimSuffix(in, "\n"), "\n")
}

// parseTAP feeds in to a parser, finishes it and checks what every
// parse must satisfy.
func parseTAP(t *testing.T, in string, interrupted bool) *tapRecord {
	t.Helper()
	r := newTAPRecord()
	lines := splitLines(in)
	for _, l := range lines {
		r.p.Line(l)
	}
	r.p.Finish(interrupted)
	if err := checkTAPEvents(lines, r.events); err != nil {
		t.Error(err)
	}
	if r.p.held != 0 || r.p.heldBytes != 0 {
		t.Errorf("%d events (%d bytes) still held after Finish", r.p.held, r.p.heldBytes)
	}
	return r
}

// checkTAPEvents checks that events report every line exactly once, in
// order, and that each case runs once before its output and has at most
// one result, after which only output (a YAML block) may follow.
func checkTAPEvents(lines []string, events []tapEvent) error {
	var got []string
	state := map[string]string{}
	for i, e := range events {
		switch e.Action {
		case "output":
			if !e.Note {
				got = append(got, e.Output)
			}
			if e.Test != "" && state[e.Test] == "" {
				return fmt.Errorf("event %d: output of %q before it runs", i, e.Test)
			}
		case "run":
			if e.Test == "" || state[e.Test] != "" {
				return fmt.Errorf("event %d: %q runs again (it was %q)", i, e.Test, state[e.Test])
			}
			state[e.Test] = "run"
		case "pass", "fail", "skip":
			if state[e.Test] != "run" {
				return fmt.Errorf("event %d: %s of %q, which is %q", i, e.Action, e.Test, state[e.Test])
			}
			state[e.Test] = e.Action
			if e.Elapsed < 0 {
				return fmt.Errorf("event %d: negative elapsed time", i)
			}
		default:
			return fmt.Errorf("event %d: unknown action %q", i, e.Action)
		}
		if e.Action != "output" && (e.Output != "" || e.Note) {
			return fmt.Errorf("event %d: %s event with output %q", i, e.Action, e.Output)
		}
		if e.Time.IsZero() {
			return fmt.Errorf("event %d has no time", i)
		}
	}
	if !slices.Equal(got, lines) {
		return fmt.Errorf("lines reported:\n%q\nwant each input line once, in order:\n%q", got, lines)
	}
	return nil
}

// results returns "name=action" for every case with a result, in the
// order of the results.
func (r *tapRecord) results() []string {
	var out []string
	for _, e := range r.events {
		switch e.Action {
		case "pass", "fail", "skip":
			out = append(out, e.Test+"="+e.Action)
		}
	}
	return out
}

// running returns the cases that ran but have no result.
func (r *tapRecord) running() []string {
	var names []string
	done := map[string]bool{}
	for _, e := range r.events {
		switch e.Action {
		case "run":
			names = append(names, e.Test)
		case "pass", "fail", "skip":
			done[e.Test] = true
		}
	}
	return slices.DeleteFunc(names, func(n string) bool { return done[n] })
}

// runs returns the names of the cases in the order they started.
func (r *tapRecord) runs() []string {
	var names []string
	for _, e := range r.events {
		if e.Action == "run" {
			names = append(names, e.Test)
		}
	}
	return names
}

// output returns the output lines of test ("" for the suite itself).
func (r *tapRecord) output(test string) []string {
	var out []string
	for _, e := range r.events {
		if e.Action == "output" && e.Test == test {
			out = append(out, e.Output)
		}
	}
	return out
}

func TestTAPParser(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          string
		interrupted bool
		results     []string            // name=action, in order; nil: not checked
		running     []string            // cases left without a result
		runs        []string            // cases in the order they start; nil: not checked
		suite       []string            // the suite's own lines; nil: not checked
		outputs     map[string][]string // per case
		failures    int
		skip        string // the reason of a 1..0 plan, "-" for none
	}{
		{
			name:     "tap13",
			in:       "TAP version 13\n1..3\nok 1 - first\nnot ok 2 second\nok 3 third # SKIP no device\n",
			results:  []string{"first=pass", "second=fail", "third=skip"},
			suite:    []string{"TAP version 13", "1..3"},
			outputs:  map[string][]string{"third": {"ok 3 third # SKIP no device"}},
			failures: 1,
		},
		{
			name:    "diagnostics belong to the next result",
			in:      "1..2\n# setting up\nok 1 a\n# about b\nnot ok 2 b\n",
			results: []string{"a=pass", "b=fail"},
			suite:   []string{"1..2"},
			outputs: map[string][]string{
				"a": {"# setting up", "ok 1 a"},
				"b": {"# about b", "not ok 2 b"},
			},
			failures: 1,
		},
		{
			name:    "kselftest [RUN] lines name cases",
			in:      "TAP version 13\n1..3\n# [RUN] alpha\nok 1 description of alpha\n# [RUN]\tbeta\n# detail\nok 2 # SKIP no THP\nok 3 gamma\n",
			results: []string{"alpha=pass", "beta=skip", "gamma=pass"},
			outputs: map[string][]string{
				"alpha": {"# [RUN] alpha", "ok 1 description of alpha"},
				"beta":  {"# [RUN]\tbeta", "# detail", "ok 2 # SKIP no THP"},
			},
		},
		{
			name:    "repeated names",
			in:      "1..5\nok 1 same\nok 2 same\n# [RUN] same #2\nok 3 x\nok 4 same\nok 5 same #9\n",
			results: []string{"same=pass", "same #2=pass", "same #2 #2=pass", "same #3=pass", "same #4=pass"},
		},
		{
			name: "directives",
			in: "1..7\nnot ok 1 later # TODO not implemented\nok 2 known # XFAIL needs 6.13\nok 3 bonus # todo\n" +
				"not ok 4 absent # skip no device\nok 5 # Skipped: no root\nnot ok 6 fix #12 again\nok 7 - a \\# b # SKIP c\n",
			results: []string{"later=pass", "known=pass", "bonus=pass", "absent=skip", "test 5=skip", "fix=fail", "a # b=skip"},
			outputs: map[string][]string{
				"later": {"not ok 1 later # TODO not implemented", "kvmtest: not ok with a TODO directive: an expected failure, counted as a pass"},
				"known": {"ok 2 known # XFAIL needs 6.13", "kvmtest: XFAIL: an expected failure, counted as a pass"},
			},
			failures: 1,
		},
		{
			name:    "unnamed cases",
			in:      "1..2\nok 1\nnot ok 2 # error failed to open /dev/foo\n",
			results: []string{"test 1=pass", "test 2=fail"},
			// The kselftest "error" is no directive.
			failures: 1,
		},
		{
			name:    "plan not met",
			in:      "TAP version 13\n1..4\nok 1 a\n# working on b\n",
			results: []string{"a=pass", "test 2=fail", "test 3=fail", "test 4=fail"},
			outputs: map[string][]string{
				"test 2": {"# working on b", "kvmtest: planned 4 tests, got 1; no result line for test 2"},
				"test 3": {"kvmtest: planned 4 tests, got 1; no result line for test 3"},
			},
			failures: 3,
		},
		{
			name:    "numbers skip",
			in:      "1..4\nok 1 a\n# about d\nok 4 d\n",
			results: []string{"a=pass", "test 2=fail", "test 3=fail", "d=pass"},
			outputs: map[string][]string{
				"d":      {"# about d", "ok 4 d"},
				"test 2": {"kvmtest: test numbers jumped from 1 to 4; no result line for test 2"},
			},
			failures: 2,
		},
		{
			name:    "too many results",
			in:      "1..1\nok 1 a\nok 2 b\n",
			results: []string{"a=pass", "b=pass"},
			suite:   []string{"1..1", "kvmtest: planned 1 tests, got 2"},
			// A parse error like any TAP harness's, though no case failed.
			failures: 1,
		},
		{
			name:  "skipped plan",
			in:    "TAP version 13\n1..0 # SKIP no THP support\n",
			suite: []string{"TAP version 13", "1..0 # SKIP no THP support"},
			skip:  "no THP support",
		},
		{
			name: "skipped plan without a reason",
			in:   "1..0\n",
			skip: "-",
		},
		{
			name: "trailing plan",
			in:   "ok 1 a\nok 2 b\n1..2\n", results: []string{"a=pass", "b=pass"},
			suite: []string{"1..2"},
		},
		{
			name:    "preamble and trailer are the suite's",
			in:      "starting up\nTAP version 13\n# [INFO] detected PMD size: 2048 KiB\n1..1\nok 1 a\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n",
			results: []string{"a=pass"},
			suite:   []string{"starting up", "TAP version 13", "# [INFO] detected PMD size: 2048 KiB", "1..1", "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0"},
			outputs: map[string][]string{"a": {"ok 1 a"}},
		},
		{
			name:    "concatenated documents",
			in:      "TAP version 13\n1..1\nok 1 a\nTAP version 13\n1..2\nok 1 a\nok 2 b\n",
			results: []string{"a=pass", "a #2=pass", "b=pass"},
		},
		{
			name: "ktap nested, parent named by its result line",
			in: "KTAP version 1\n1..2\n  KTAP version 1\n  1..2\n  ok 1 child_a\n  not ok 2 child_b\n" +
				"not ok 1 parent\nok 2 other\n",
			results:  []string{"parent/child_a=pass", "parent/child_b=fail", "parent=fail", "other=pass"},
			runs:     []string{"parent", "parent/child_a", "parent/child_b", "other"},
			suite:    []string{"KTAP version 1", "1..2"},
			outputs:  map[string][]string{"parent": {"  KTAP version 1", "  1..2", "not ok 1 parent"}},
			failures: 2,
		},
		{
			name: "ktap three levels",
			in: "KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n    KTAP version 1\n    1..1\n    ok 1 test_1\n" +
				"  ok 1 example_test_1\nok 1 example_test_2\n",
			results: []string{"example_test_2/example_test_1/test_1=pass", "example_test_2/example_test_1=pass", "example_test_2=pass"},
		},
		{
			name: "tap14 subtests with Subtest comments",
			in: "TAP version 14\n1..2\n    # Subtest: foo\n    1..2\n    ok 1 - inner one\n    ok 2 - inner two\nok 1 - foo\n" +
				"# Subtest: bar\n    1..1\n    not ok 1 - inner\nnot ok 2 - bar\n",
			results: []string{"foo/inner one=pass", "foo/inner two=pass", "foo=pass", "bar/inner=fail", "bar=fail"},
			outputs: map[string][]string{
				"foo": {"    # Subtest: foo", "    1..2", "ok 1 - foo"},
				"bar": {"# Subtest: bar", "    1..1", "not ok 2 - bar"},
			},
			failures: 2,
		},
		{
			name: "kunit",
			in: `KTAP version 1
1..1
    KTAP version 1
    # Subtest: example
    # module: kunit_example_test
    1..3
    # example_simple_test: initializing
    ok 1 example_simple_test
    # example_skip_test: initializing
    ok 2 example_skip_test # SKIP this test should be skipped
    not ok 3 example_mark_skipped_test # SKIP
# example: pass:1 fail:0 skip:2 total:3
# Totals: pass:1 fail:0 skip:2 total:3
ok 1 example
`,
			results: []string{"example/example_simple_test=pass", "example/example_skip_test=skip", "example/example_mark_skipped_test=skip", "example=pass"},
			outputs: map[string][]string{
				"example/example_simple_test": {"    # example_simple_test: initializing", "    ok 1 example_simple_test"},
				"example": {"    KTAP version 1", "    # Subtest: example", "    # module: kunit_example_test", "    1..3",
					"# example: pass:1 fail:0 skip:2 total:3", "# Totals: pass:1 fail:0 skip:2 total:3", "ok 1 example"},
			},
		},
		{
			name:    "yaml block",
			in:      "TAP version 13\n1..2\nnot ok 1 - broken\n  ---\n  message: \"ok 5 inside yaml\"\n  severity: fail\n  ...\nok 2 - fine\n",
			results: []string{"broken=fail", "fine=pass"},
			outputs: map[string][]string{
				"broken": {"not ok 1 - broken", "  ---", "  message: \"ok 5 inside yaml\"", "  severity: fail", "  ..."},
				"fine":   {"ok 2 - fine"},
			},
			failures: 1,
		},
		{
			name:    "bail out",
			in:      "TAP version 13\n1..3\nok 1 a\nBail out! no memory\n",
			results: []string{"a=pass", "test 2=fail", "test 3=fail"},
			outputs: map[string][]string{
				"test 2": {"Bail out! no memory", "kvmtest: planned 3 tests, got 1; no result line for test 2"},
			},
			failures: 3,
		},
		{
			name:    "a [RUN] line without a result",
			in:      "1..1\n# [RUN] first\n# it starts\n# [RUN] second\nok 1 done\n",
			results: []string{"first=fail", "second=pass"},
			outputs: map[string][]string{
				"first": {"# [RUN] first", "# it starts", "kvmtest: no result line for this case before the next [RUN] line"},
			},
			failures: 1,
		},
		{
			// mm/cow: "[RUN] Non-anonymous memory tests in private
			// mappings" heads the cases that follow.
			name:    "a [RUN] heading",
			in:      "1..2\n# [RUN] Section\n# [RUN] first\nok 1 fine\n# [RUN] Other section\n# [RUN] second\nok 2 # SKIP nope\n",
			results: []string{"first=pass", "second=skip"},
			outputs: map[string][]string{
				"first":  {"# [RUN] first", "ok 1 fine"},
				"second": {"# [RUN] second", "ok 2 # SKIP nope"},
			},
		},
		{
			name:    "crash in a case",
			in:      "1..3\n# [RUN] a\nok 1 x\n# [RUN] b\n# about to fault\n",
			results: []string{"a=pass", "b=fail", "test 3=fail"},
			outputs: map[string][]string{
				"b": {"# [RUN] b", "# about to fault", "kvmtest: no result line for this case (planned 3 tests, got 1)"},
			},
			failures: 2,
		},
		{
			name:        "timeout in a case",
			in:          "1..3\n# [RUN] a\nok 1 x\n# [RUN] b\n# about to hang\n",
			interrupted: true,
			results:     []string{"a=pass", "test 3=fail"},
			running:     []string{"b"},
			outputs: map[string][]string{
				"b": {"# [RUN] b", "# about to hang", "kvmtest: no result line for this case (planned 3 tests, got 1): the suite timed out"},
			},
			failures: 1,
		},
		{
			name: "nested plan not met",
			in: "KTAP version 1\n1..1\n  # Subtest: cow\n  TAP version 13\n  1..3\n  # [RUN] one\n  ok 1 fine\n  # [RUN] two\n" +
				"not ok 1 cow # signal=SIGSEGV\n",
			results: []string{"cow/one=pass", "cow/two=fail", "cow/test 3=fail", "cow=fail"},
			outputs: map[string][]string{
				"cow/two": {"  # [RUN] two", "kvmtest: no result line for this case (planned 3 tests, got 1)"},
			},
			failures: 3,
		},
		{
			name:    "unindented noise inside a subtest",
			in:      "KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n[   12.345] kernel says hi\n  ok 1 child\nok 1 parent\n",
			results: []string{"parent/child=pass", "parent=pass"},
			outputs: map[string][]string{
				"parent":       {"  KTAP version 1", "  1..1", "ok 1 parent"},
				"parent/child": {"[   12.345] kernel says hi", "  ok 1 child"},
			},
		},
		{
			name: "garbage",
			in:   "okay\nnot okay\n1..x\n1..3 of them\nok 99999999999999 big\n\x00\xff\n#\n    \n  ok\n        not ok\n ok 1 -\n\tok 2 - tab\nTAP version\n# Subtest:\n",
			// Only that it holds together: see checkTAPEvents.
			failures: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := parseTAP(t, tc.in, tc.interrupted)
			if tc.results != nil && !slices.Equal(r.results(), tc.results) {
				t.Errorf("results\n %q\nwant\n %q", r.results(), tc.results)
			}
			if tc.failures >= 0 {
				if got := r.running(); !slices.Equal(got, tc.running) {
					t.Errorf("cases left running %q, want %q", got, tc.running)
				}
				if r.p.Failures() != tc.failures {
					t.Errorf("%d failures, want %d", r.p.Failures(), tc.failures)
				}
			}
			if tc.runs != nil && !slices.Equal(r.runs(), tc.runs) {
				t.Errorf("cases started in the order %q, want %q", r.runs(), tc.runs)
			}
			if tc.suite != nil && !slices.Equal(r.output(""), tc.suite) {
				t.Errorf("suite lines %q, want %q", r.output(""), tc.suite)
			}
			for name, want := range tc.outputs {
				if got := r.output(name); !slices.Equal(got, want) {
					t.Errorf("output of %q:\n %q\nwant\n %q", name, got, want)
				}
			}
			skipped, reason := r.p.Skipped()
			switch {
			case tc.skip == "" && skipped:
				t.Errorf("skipped (%q), want not", reason)
			case tc.skip == "-" && (!skipped || reason != ""):
				t.Errorf("skipped %v (%q), want skipped without a reason", skipped, reason)
			case tc.skip != "" && tc.skip != "-" && (!skipped || reason != tc.skip):
				t.Errorf("skipped %v (%q), want skipped because %q", skipped, reason, tc.skip)
			}
		})
	}
}

// TestTAPKselftestCow parses a real kselftest's output (mm/cow, trimmed).
func TestTAPKselftestCow(t *testing.T) {
	b, err := os.ReadFile("testdata/kselftest-mm-cow.tap")
	if err != nil {
		t.Fatal(err)
	}
	r := parseTAP(t, string(b), false)
	want := []string{
		"Basic COW after fork() ... with base page=pass",
		"Basic COW after fork() ... with hugetlb (2048 kB)=skip",
		"vmsplice() + unmap in child ... with base page=pass",
		"vmsplice() + unmap in child ... with hugetlb (2048 kB)=skip",
		"vmsplice() + unmap in child with mprotect() optimization ... with base page=pass",
		"vmsplice() before fork(), unmap in parent after fork() ... with base page=pass",
		"R/O-mapping a page registered as iouring fixed buffer ... with base page=skip",
		"fork() with an iouring fixed buffer ... with base page=skip",
		"Basic COW after fork() when collapsing before fork()=pass",
		"Basic COW ... with shared zeropage=pass",
		"Basic COW ... with huge zeropage=skip",
		"R/O longterm GUP pin ... with memfd=pass",
	}
	if !slices.Equal(r.results(), want) {
		t.Errorf("results\n %q\nwant\n %q", r.results(), want)
	}
	if got, want := r.output("vmsplice() + unmap in child ... with base page"),
		[]string{"# [RUN] vmsplice() + unmap in child ... with base page", "ok 3 No leak from child into parent"}; !slices.Equal(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}
	if got := r.output("Basic COW after fork() when collapsing before fork()"); len(got) != 3 || got[0] != "# [INFO] Anonymous THP tests" {
		t.Errorf("output %q, want the [INFO] line, the [RUN] line and the result", got)
	}
	if got := r.output(""); len(got) != 7 || got[0] != "TAP version 13" || got[5] != "1..12" || !strings.HasPrefix(got[6], "# Totals:") {
		t.Errorf("suite lines %q, want the version, 4 [INFO] lines, the plan and the totals", got)
	}
	if r.p.Failures() != 0 {
		t.Errorf("%d failures", r.p.Failures())
	}
	var sum float64
	for _, e := range r.events {
		sum += e.Elapsed
	}
	if sum <= 0 {
		t.Error("no case has an elapsed time")
	}
}

// TestTAPStreaming checks that cases are reported as their lines arrive
// when they are named in advance, and held until named otherwise.
func TestTAPStreaming(t *testing.T) {
	reported := func(r *tapRecord, s string) bool { return slices.Contains(r.results(), s) }

	r := newTAPRecord()
	for _, l := range splitLines("KTAP version 1\n1..1\n  # Subtest: cow\n  TAP version 13\n  1..2\n  # [RUN] a\n  ok 1 x") {
		r.p.Line(l)
	}
	if !reported(r, "cow/a=pass") || r.p.held != 0 {
		t.Errorf("with a Subtest header, cow/a not reported at once (%d events held): %q", r.p.held, r.results())
	}

	r = newTAPRecord()
	for _, l := range splitLines("KTAP version 1\n1..1\n  KTAP version 1\n  1..2\n  ok 1 a") {
		r.p.Line(l)
	}
	if len(r.results()) != 0 || r.p.held == 0 {
		t.Errorf("without a header, a was reported before its parent was named: %q", r.results())
	}
	r.p.Line("not ok 1 cow")
	r.p.Finish(false)
	if want := []string{"cow/a=pass", "cow/test 2=fail", "cow=fail"}; !slices.Equal(r.results(), want) {
		t.Errorf("results %q, want %q", r.results(), want)
	}
}

func TestTAPBounds(t *testing.T) {
	t.Run("held events", func(t *testing.T) {
		r := newTAPRecord()
		in := []string{"KTAP version 1", "1..1", "  KTAP version 1"}
		n := maxTAPHeldEvents/3 + 10 // run, output and pass each
		in = append(in, fmt.Sprintf("  1..%d", n))
		for i := 1; i <= n; i++ {
			in = append(in, fmt.Sprintf("  ok %d c%d", i, i))
		}
		in = append(in, "ok 1 parent")
		for _, l := range in {
			r.p.Line(l)
			if r.p.held > maxTAPHeldEvents+3 {
				t.Fatalf("%d events held", r.p.held)
			}
		}
		r.p.Finish(false)
		if err := checkTAPEvents(in, r.events); err != nil {
			t.Error(err)
		}
		res := r.results()
		if len(res) != n+1 || res[0] != "test 1/c1=pass" || res[n] != "test 1=pass" {
			t.Errorf("%d results from %q to %q, want %d under the provisional name \"test 1\"", len(res), res[0], res[len(res)-1], n+1)
		}
		if out := r.output("test 1"); out[len(out)-1] != "ok 1 parent" {
			t.Errorf("the parent's result line is not in its output: %q", out[len(out)-1])
		}
	})
	t.Run("held bytes", func(t *testing.T) {
		r := newTAPRecord()
		long := "# " + strings.Repeat("x", maxOutputLine-2)
		in := []string{"1..1"}
		for range maxTAPHeldBytes/maxOutputLine + 2 {
			in = append(in, long)
		}
		for _, l := range in {
			r.p.Line(l)
		}
		if r.p.heldBytes > maxTAPHeldBytes {
			t.Errorf("%d bytes held", r.p.heldBytes)
		}
		r.p.Line("ok 1 chatty")
		r.p.Finish(false)
		if want := []string{"test 1=pass"}; !slices.Equal(r.results(), want) {
			t.Errorf("results %q, want %q", r.results(), want)
		}
	})
	t.Run("depth", func(t *testing.T) {
		r := newTAPRecord()
		var in []string
		for i := range 100 {
			in = append(in, strings.Repeat(" ", 2*i)+"KTAP version 1")
		}
		in = append(in, strings.Repeat(" ", 200)+"ok 1 deep")
		for _, l := range in {
			r.p.Line(l)
		}
		if len(r.p.stack) > maxTAPDepth {
			t.Errorf("%d levels open", len(r.p.stack))
		}
		r.p.Finish(false)
		if err := checkTAPEvents(in, r.events); err != nil {
			t.Error(err)
		}
	})
	t.Run("missing cases", func(t *testing.T) {
		r := parseTAP(t, "1..999999999\nok 1 a\nok 2000 b\n", false)
		want := []string{"a=pass", "tests 2-1999=fail", "b=pass", "tests 2001-999999999=fail"}
		if !slices.Equal(r.results(), want) {
			t.Errorf("results %q, want %q", r.results(), want)
		}
	})
	t.Run("names", func(t *testing.T) {
		r := parseTAP(t, "ok 1 "+strings.Repeat("n", 10000)+"\n", false)
		if res := r.results(); len(res) != 1 || len(res[0]) > maxTAPNameBytes+len("=pass") {
			t.Errorf("a name of %d bytes", len(res[0]))
		}
	})
}

func TestParseTAPLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want tapLine
	}{
		{"TAP version 14", tapLine{kind: tapVersion}},
		{"  KTAP version 1", tapLine{kind: tapVersion, indent: 2}},
		{"1..12", tapLine{kind: tapPlan, num: 12}},
		{"1..0 # SKIP no THP", tapLine{kind: tapPlan, reason: "no THP"}},
		{"1..0 # not here", tapLine{kind: tapPlan, reason: "not here"}},
		{"1..x", tapLine{kind: tapOther}},
		{"ok", tapLine{kind: tapResult, ok: true}},
		{"ok 3 No leak from child into parent", tapLine{kind: tapResult, ok: true, num: 3, desc: "No leak from child into parent"}},
		{"ok 3- three", tapLine{kind: tapResult, ok: true, num: 3, desc: "three"}},
		{"not ok 4 - four # TIMEOUT 45 seconds", tapLine{kind: tapResult, num: 4, desc: "four", reason: "TIMEOUT 45 seconds"}},
		{"not ok 5 selftests: mm: cow # exit=1", tapLine{kind: tapResult, num: 5, desc: "selftests: mm: cow", reason: "exit=1"}},
		{"ok 6 # SKIP MADV_PAGEOUT did not work, is swap enabled?", tapLine{kind: tapResult, ok: true, num: 6, directive: tapSkip, reason: "MADV_PAGEOUT did not work, is swap enabled?"}},
		{"ok 7 mremap # XFAIL not on 6.1", tapLine{kind: tapResult, ok: true, num: 7, desc: "mremap", directive: tapXFail, reason: "not on 6.1"}},
		{"ok 8 issue#8", tapLine{kind: tapResult, ok: true, num: 8, desc: "issue#8"}},
		{"ok 9 7 dwarves", tapLine{kind: tapResult, ok: true, num: 9, desc: "7 dwarves"}},
		{"okay", tapLine{kind: tapOther}},
		{"# [RUN] vmsplice() + unmap in child ... with base page", tapLine{kind: tapDiag, name: "vmsplice() + unmap in child ... with base page"}},
		{"# [RUN]", tapLine{kind: tapDiag}},
		{"    # Subtest: foo", tapLine{kind: tapSubtest, indent: 4, name: "foo"}},
		{"Bail out! out of memory", tapLine{kind: tapBail, reason: "out of memory"}},
	} {
		got := parseTAPLine(tc.line)
		got.text = ""
		if got != tc.want {
			t.Errorf("parseTAPLine(%q) =\n %+v, want\n %+v", tc.line, got, tc.want)
		}
	}
}

// FuzzTAPParser checks that no input breaks the parser's promises.
func FuzzTAPParser(f *testing.F) {
	for _, s := range []string{
		"TAP version 13\n1..2\nok 1 a\n  ---\n  x\nnot ok 2 b # TODO\n",
		"KTAP version 1\n1..1\n  KTAP version 1\n  1..2\n  ok 1 a\n# x\nnot ok 1 p\n",
		"1..3\n# [RUN] a\n    # Subtest: s\n  ok 1\n# [RUN] b\nBail out!\n",
	} {
		f.Add(s, false)
	}
	if b, err := os.ReadFile("testdata/kselftest-mm-cow.tap"); err == nil {
		f.Add(string(b), true)
	}
	f.Fuzz(func(t *testing.T, in string, interrupted bool) {
		r := newTAPRecord()
		lines := splitLines(in)
		for _, l := range lines {
			r.p.Line(l)
		}
		r.p.Finish(interrupted)
		if err := checkTAPEvents(lines, r.events); err != nil {
			t.Error(err)
		}
		if r.p.held != 0 || r.p.heldBytes != 0 {
			t.Errorf("%d events (%d bytes) still held after Finish", r.p.held, r.p.heldBytes)
		}
	})
}
