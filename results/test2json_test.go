package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"gotest.tools/gotestsum/testjson"
)

// t2jCell is a judged cell with every kind of suite and result.
func t2jCell() *Cell {
	one := 1
	started := time.Date(2026, 12, 1, 5, 35, 44, 0, time.UTC)
	return &Cell{
		ID: "6.12-base-minimal", Kernel: "6.12", Patchset: "base", Config: "minimal", Status: StatusFailed,
		Reason: "vmsplice/TestBad: fail (expected pass)", Started: started, Finished: started.Add(90 * time.Second),
		Timings: map[string]float64{"vm": 30},
		Suites: []*Suite{
			{Name: "vmsplice", Status: Fail, ExitCode: &one, Elapsed: 4.5, Tests: []*Test{
				{Name: "TestGood", Status: Pass, Elapsed: 0.1, AsExpected: true, Output: "=== RUN   TestGood\n--- PASS: TestGood (0.10s)\n"},
				{Name: "TestShared", Status: Fail, Expected: Fail, AsExpected: true, Elapsed: 0.2,
					Output: "=== RUN   TestShared\n    vmsplice_test.go:50: read back 'B'\n--- FAIL: TestShared (0.20s)\n"},
				{Name: "TestBad", Status: Fail, Elapsed: 0.3, Output: "=== RUN   TestBad\n    x_test.go:9: \x1b]0;pwned\x07boom \x1b[2J\n--- FAIL: TestBad (0.30s)\n"},
				{Name: "TestParent", Status: Fail, Elapsed: 0.4, Output: "=== RUN   TestParent\n--- FAIL: TestParent (0.40s)\n"},
				{Name: "TestParent/child", Status: Fail, Elapsed: 0.1, Output: "=== RUN   TestParent/child\n    --- FAIL: TestParent/child (0.10s)\n"},
				{Name: "TestParent/ok", Status: Pass, AsExpected: true, Output: "=== RUN   TestParent/ok\n    --- PASS: TestParent/ok (0.00s)\n"},
				{Name: "TestSecret", Status: Skip, AsExpected: true, Output: "--- SKIP: TestSecret (0.00s)\n"},
				{Name: "TestFixed", Status: Pass, Expected: Fail},
				{Name: "TestSlow", Status: Timeout},
				{Name: "Test\x1b[31mRed", Status: Pass, AsExpected: true},
			}},
			{Name: "kselftest-mm", Status: Pass, AsExpected: true, Elapsed: 2, Tests: []*Test{
				{Name: "cow", Status: Pass, AsExpected: true, Output: "  # Subtest: cow\nok 1 cow\n"},
				{Name: "cow/vmsplice() + unmap in child ... with base page", Status: Pass, AsExpected: true, Output: "    ok 1 vmsplice() + unmap in child ... with base page\n"},
				{Name: "cow/with THP", Status: Skip, AsExpected: true, Output: "    ok 2 with THP # SKIP no THP\n"},
			}},
			{Name: "splice-selftest", Status: Fail, ExitCode: &one, Elapsed: 1, Message: "exit status 1"},
			{Name: "exit-ok", Status: Pass, AsExpected: true, Elapsed: 1},
			{Name: "expected-exit", Status: Fail, Expected: Fail, AsExpected: true, Elapsed: 1, Message: "exit status 1"},
			{Name: "needs-thp", Status: Skip, AsExpected: true, Message: "requires CONFIG_TRANSPARENT_HUGEPAGE"},
		},
		Findings: []Finding{{Class: "warning", Title: "WARNING in vmsplice_to_pipe \x1b[1m", Line: 312, Suite: "vmsplice",
			Excerpt: "------------[ cut here ]------------\nWARNING: CPU: 0 PID: 61 at fs/splice.c:1475\n"}},
	}
}

// scan reads a stream with gotestsum's own parser.
func scan(t *testing.T, stream []byte) *testjson.Execution {
	t.Helper()
	exec, err := testjson.ScanTestOutput(testjson.ScanConfig{Stdout: bytes.NewReader(stream)})
	if err != nil {
		t.Fatalf("gotestsum cannot read the stream: %v\n%s", err, stream)
	}
	return exec
}

func names(tcs []testjson.TestCase) []string {
	var out []string
	for _, tc := range tcs {
		out = append(out, tc.Package+" "+tc.Test.Name())
	}
	slices.Sort(out)
	return out
}

// The stream of a judged cell, read by gotestsum: one package per suite
// and one for the console findings, the tests of the TAP suite too, the
// actions kvmtest's verdict.
func TestTest2JSONGotestsum(t *testing.T) {
	c := t2jCell()
	stream := Test2JSON(c)
	exec := scan(t, stream)

	const cell = "6.12-base-minimal"
	wantPkgs := []string{cell + "/console", cell + "/exit-ok", cell + "/expected-exit", cell + "/kselftest-mm",
		cell + "/needs-thp", cell + "/splice-selftest", cell + "/vmsplice"}
	if got := exec.Packages(); !slices.Equal(got, wantPkgs) {
		t.Errorf("packages %q, want %q", got, wantPkgs)
	}
	if got, want := exec.Total(), 10+3+1; got != want {
		t.Errorf("%d tests, want %d", got, want)
	}
	wantFailed := []string{
		cell + "/console finding-1-warning",
		cell + "/splice-selftest ", // the package itself: an exit-code suite that failed
		cell + "/vmsplice TestBad",
		cell + "/vmsplice TestFixed",
		cell + "/vmsplice TestParent",
		cell + "/vmsplice TestParent/child",
		cell + "/vmsplice TestSlow",
	}
	if got := names(exec.Failed()); !slices.Equal(got, wantFailed) {
		t.Errorf("failed %q,\nwant %q", got, wantFailed)
	}
	wantSkipped := []string{
		cell + "/kselftest-mm cow/with THP",
		cell + "/vmsplice TestSecret",
		cell + "/vmsplice TestShared", // failed as expected
	}
	if got := names(exec.Skipped()); !slices.Equal(got, wantSkipped) {
		t.Errorf("skipped %q,\nwant %q", got, wantSkipped)
	}
	for pkg, want := range map[string]testjson.Action{
		"vmsplice": testjson.ActionFail, "kselftest-mm": testjson.ActionPass, "splice-selftest": testjson.ActionFail,
		"exit-ok": testjson.ActionPass, "console": testjson.ActionFail,
		"expected-exit": "", "needs-thp": "", // skipped packages: gotestsum records no result
	} {
		if got := exec.Package(cell + "/" + pkg).Result(); got != want {
			t.Errorf("package %s: result %q, want %q", pkg, got, want)
		}
	}
	if len(exec.Errors()) != 0 {
		t.Errorf("errors %q", exec.Errors())
	}
	// The expected failure says so, and keeps its output.
	var shared testjson.TestCase
	for _, tc := range exec.Skipped() {
		if tc.Test == "TestShared" {
			shared = tc
		}
	}
	out := strings.Join(exec.OutputLines(shared), "")
	if !strings.Contains(out, "read back 'B'") || !strings.Contains(out, "kvmtest: fail as the matrix expects: an expected failure, reported as skipped") {
		t.Errorf("TestShared's output:\n%s", out)
	}
	if bytes.ContainsAny(stream, "\x1b\x07") || bytes.Contains(stream, []byte(`\u001b`)) || bytes.Contains(stream, []byte(`\u0007`)) {
		t.Errorf("the stream holds the guest's escape sequences:\n%s", stream)
	}
	if !bytes.Contains(stream, []byte(`"Test":"TestRed"`)) {
		t.Errorf("the test name with an escape sequence is not cleaned:\n%s", stream)
	}
}

// Every line is one test2json event: only the fields of cmd/test2json,
// with the actions it uses; a package's start comes first and its end
// last; subtests run inside their parent.
func TestTest2JSONEvents(t *testing.T) {
	type event struct {
		Time        *time.Time
		ImportPath  string
		Action      string
		Package     string
		Test        string
		Elapsed     *float64
		Output      string
		FailedBuild string
	}
	c := t2jCell()
	sc := bufio.NewScanner(bytes.NewReader(Test2JSON(c)))
	ended := map[string]bool{}
	running := map[string]bool{}
	var order []string
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var e event
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		if e.Package != "" && ended[e.Package] {
			t.Errorf("event after its package ended: %s", sc.Text())
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "start":
			if !e.Time.Equal(c.Started) || e.Test != "" {
				t.Errorf("start event %s: want the cell's start, no test", sc.Text())
			}
			order = append(order, e.Package)
		case "run":
			running[key] = true
			if p, _, ok := strings.Cut(e.Test, "/"); ok && !running[e.Package+" "+p] && e.Package == c.ID+"/vmsplice" {
				t.Errorf("subtest %s runs outside its parent", e.Test)
			}
		case "pass", "fail", "skip":
			if e.Elapsed == nil || !e.Time.Equal(c.Finished) {
				t.Errorf("end event without elapsed or the cell's finish: %s", sc.Text())
			}
			if e.Test == "" {
				ended[e.Package] = true
				continue
			}
			if !running[key] {
				t.Errorf("end of a test not running: %s", sc.Text())
			}
			for k := range running {
				if strings.HasPrefix(k, key+"/") {
					t.Errorf("%s ended before its subtest %s", key, k)
				}
			}
			delete(running, key)
		case "output":
			if !strings.HasSuffix(e.Output, "\n") {
				t.Errorf("output without its newline: %s", sc.Text())
			}
		default:
			t.Errorf("action %q: %s", e.Action, sc.Text())
		}
	}
	if len(running) != 0 {
		t.Errorf("tests never ended: %v", running)
	}
	want := []string{"vmsplice", "kselftest-mm", "splice-selftest", "exit-ok", "expected-exit", "needs-thp", "console"}
	for i := range want {
		want[i] = c.ID + "/" + want[i]
	}
	if !slices.Equal(order, want) {
		t.Errorf("packages in order %q, want %q", order, want)
	}
}

// A cell that could not be built or booted is a package whose build
// failed: an error, not a failed test. Skipped and interrupted cells are
// skipped packages.
func TestTest2JSONCellsThatDidNotRun(t *testing.T) {
	built := &Cell{ID: "6.1-base-minimal", Status: StatusBuildFailed, Reason: "make -j2: exit status 2",
		FirstError: "fs/splice.c:12:1: error: expected ';'"}
	booted := &Cell{ID: "6.12-base-debug", Status: StatusBootFailed, Reason: "no hello from the guest agent within 60s\nsecond line"}
	skipped := &Cell{ID: "6.1-v1-minimal", Status: StatusSkipped, Reason: "patchset v1 applies to >= 6.12"}
	interrupted := &Cell{ID: "6.12-v2-minimal", Status: StatusInterrupted, Reason: "not run"}
	var b bytes.Buffer
	if err := WriteTest2JSON(&b, []*Cell{built, booted, skipped, interrupted}); err != nil {
		t.Fatal(err)
	}
	exec := scan(t, b.Bytes())
	// gotestsum counts an error per line that is not indented.
	n := 0
	for _, e := range exec.Errors() {
		if !strings.HasPrefix(e, "\t") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d errors %q, want one per cell not built or booted", n, exec.Errors())
	}
	errs := strings.Join(exec.Errors(), "")
	for _, want := range []string{"6.1-base-minimal: build-failed: make -j2: exit status 2", "first error: fs/splice.c:12:1", "6.12-base-debug: boot-failed: no hello"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	if exec.Total() != 0 || len(exec.Skipped()) != 0 {
		t.Errorf("%d tests, %d skipped; want none", exec.Total(), len(exec.Skipped()))
	}
	for _, id := range []string{"6.1-base-minimal", "6.12-base-debug"} {
		if p := exec.Package(id); p == nil || p.Result() != testjson.ActionFail {
			t.Errorf("package %s: %+v, want failed", id, p)
		}
	}
	for _, id := range []string{"6.1-v1-minimal", "6.12-v2-minimal"} {
		p := exec.Package(id)
		if p == nil || p.Result() != "" {
			t.Fatalf("package %s: %+v, want skipped", id, p)
		}
		if out := strings.Join(p.OutputLines(testjson.TestCase{}), ""); !strings.Contains(out, "kvmtest: cell ") {
			t.Errorf("package %s says %q", id, out)
		}
	}
}

// The results of a cell never judged (it crashed) are reported as they
// are: a pass is a pass, the test cut short a failure.
func TestTest2JSONCrashedCell(t *testing.T) {
	c := &Cell{ID: "6.12-v1-minimal", Status: StatusCrashed, Reason: "Kernel panic - not syncing",
		Suites: []*Suite{{Name: "vmsplice", Status: Error, Message: "the suite did not report an end", Tests: []*Test{
			{Name: "TestA", Status: Pass}, {Name: "TestB", Status: "run"}}}},
		Findings: []Finding{{Class: "panic", Title: "Kernel panic - not syncing", Fatal: true}}}
	exec := scan(t, Test2JSON(c))
	want := []string{"6.12-v1-minimal/console finding-1-panic", "6.12-v1-minimal/vmsplice TestB"}
	if got := names(exec.Failed()); !slices.Equal(got, want) {
		t.Errorf("failed %q, want %q", got, want)
	}
	p := exec.Package("6.12-v1-minimal/vmsplice")
	if len(p.Passed) != 1 || p.Result() != testjson.ActionFail {
		t.Errorf("vmsplice: %d passed, result %s; want TestA passed, the package failed", len(p.Passed), p.Result())
	}
	if out := strings.Join(p.OutputLines(testjson.TestCase{}), ""); !strings.Contains(out, "the cell crashed: Kernel panic") {
		t.Errorf("the package's output does not say the cell crashed:\n%s", out)
	}
}

// A long line of output, JSON-escaped, stays within what a line scanner
// takes: it is split, and whole again once read.
func TestTest2JSONLongLines(t *testing.T) {
	long := strings.Repeat("<é>", 16<<10/4) + "\n"
	c := &Cell{ID: "c", Status: StatusPassed, Suites: []*Suite{{Name: "s", Status: Pass, AsExpected: true,
		Tests: []*Test{{Name: "TestLong", Status: Pass, AsExpected: true, Output: long}}}}}
	stream := Test2JSON(c)
	for _, l := range bytes.Split(stream, []byte("\n")) {
		if len(l) > 32<<10 {
			t.Fatalf("a line of %d bytes", len(l))
		}
	}
	var got strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(stream))
	for sc.Scan() {
		var e struct{ Test, Output string }
		json.Unmarshal(sc.Bytes(), &e)
		if e.Test == "TestLong" {
			got.WriteString(e.Output)
		}
	}
	if got.String() != long {
		t.Errorf("the output read back is %d bytes, want %d", got.Len(), len(long))
	}
	scan(t, stream)
}

// The stream is a function of the cell's record: run.json gives it back
// byte for byte.
func TestTest2JSONFromRecord(t *testing.T) {
	c := t2jCell()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Cell
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Test2JSON(c), Test2JSON(&back)) {
		t.Error("the stream of the cell read back from JSON differs")
	}
}

func TestTest2JSONAction(t *testing.T) {
	for _, tc := range []struct {
		status, expected, action string
		note                     bool
	}{
		{Pass, "", "pass", false},
		{Skip, "", "skip", false},
		{Fail, "", "fail", false},
		{Fail, Fail, "skip", true},
		{Timeout, "", "fail", true},
		{Timeout, Timeout, "skip", true},
		{Pass, Fail, "fail", true},
		{Skip, Fail, "fail", true},
		{Skip, Skip, "skip", false},
		{"run", "", "fail", true},
	} {
		action, note := Test2JSONAction(&Test{Status: tc.status, Expected: tc.expected})
		if action != tc.action || (note != "") != tc.note {
			t.Errorf("status %s expected %q: %s %q, want %s (note %v)", tc.status, tc.expected, action, note, tc.action, tc.note)
		}
	}
}
