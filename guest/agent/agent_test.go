package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// Environment variables that make the test binary act as something else.
const (
	envBeAgent   = "KVMTEST_AGENT_TEST_AGENT"      // run hostMain with the arguments
	envCrash     = "KVMTEST_AGENT_TEST_CRASH"      // ... but as a worker, exit 42 at once
	envFakeSuite = "KVMTEST_AGENT_TEST_FAKE_SUITE" // TestFakeGoSuite does its thing
)

var toolDir string // holds test2json once built

func TestMain(m *testing.M) {
	// The kselftest runner and its guard run this binary with their
	// subcommand.
	if code, ok := subcommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	if os.Getenv(envBeAgent) == "1" {
		if os.Getenv(envCrash) == "1" && slices.Contains(os.Args, "-worker") {
			os.Exit(42)
		}
		os.Exit(hostMain(os.Args[1:], os.Stderr))
	}
	code := m.Run()
	if toolDir != "" {
		os.RemoveAll(toolDir)
	}
	os.Exit(code)
}

// collector is a Sink that keeps the events.
type collector struct {
	mu     sync.Mutex
	events []proto.Event
}

func (c *collector) Send(ev proto.Event) error {
	if _, err := encodeEvent(ev); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	return nil
}

func (c *collector) kinds(kind string) []proto.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []proto.Event
	for _, ev := range c.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (c *collector) outputs() []string {
	var out []string
	for _, ev := range c.kinds(proto.KindOutput) {
		out = append(out, ev.Output)
	}
	return out
}

func (c *collector) end(t *testing.T) proto.Event {
	t.Helper()
	ends := c.kinds(proto.KindSuiteEnd)
	if len(ends) != 1 {
		t.Fatalf("%d suite-end events, want 1: %+v", len(ends), c.events)
	}
	return ends[0]
}

// script writes a /bin/sh script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// newRunner returns a runner reporting to a collector, with a taint file.
func newRunner(t *testing.T) (*runner, *collector, string) {
	t.Helper()
	dir := t.TempDir()
	taint := filepath.Join(dir, "tainted")
	if err := os.WriteFile(taint, []byte("4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	return &runner{sink: c, dir: dir, taintFile: taint}, c, dir
}

func exitCode(ev proto.Event) string {
	if ev.ExitCode == nil {
		return "none"
	}
	return strconv.Itoa(*ev.ExitCode)
}

func TestRunSuiteExitCodeOutputAndEnv(t *testing.T) {
	r, c, dir := newRunner(t)
	argv0 := script(t, dir, "s.sh", `echo out 1
echo err 2 >&2
echo "guest=$KVMTEST_GUEST extra=$EXTRA home=$HOME"
echo "pwd=$(pwd)"
printf 'crlf\r\n'
printf 'no newline'
exit 3`)
	status := r.run(context.Background(), proto.Suite{Name: "s", Argv: []string{argv0}, Format: proto.FormatExitCode,
		Timeout: proto.Duration(10 * time.Second), Env: []string{"EXTRA=yes"}})
	want := []string{"out 1", "err 2", "guest=1 extra=yes home=/tmp", "pwd=" + dir, "crlf", "no newline"}
	if got := c.outputs(); !slices.Equal(got, want) {
		t.Errorf("output events:\n got %q\nwant %q", got, want)
	}
	end := c.end(t)
	if status != proto.StatusFail || end.Status != proto.StatusFail || exitCode(end) != "3" || end.Suite != "s" {
		t.Errorf("suite-end %+v (exit %s), want fail with exit code 3", end, exitCode(end))
	}
	if c.events[0].Kind != proto.KindSuiteStart {
		t.Errorf("first event %q, want suite-start", c.events[0].Kind)
	}
	last := c.events[len(c.events)-1]
	if last.Kind != proto.KindTaint || last.Taint == nil || *last.Taint != 4096 {
		t.Errorf("last event %+v, want taint 4096", last)
	}
}

func TestRunSuitePassSkipAndStartError(t *testing.T) {
	r, c, dir := newRunner(t)
	ok := script(t, dir, "ok.sh", "exit 0")
	if s := r.run(context.Background(), proto.Suite{Name: "ok", Argv: []string{ok}, Format: proto.FormatExitCode}); s != proto.StatusPass {
		t.Errorf("exit 0: status %s, want pass", s)
	}
	if e := c.end(t); exitCode(e) != "0" || e.Elapsed <= 0 {
		t.Errorf("suite-end %+v: want exit code 0 and an elapsed time", e)
	}

	r, c, _ = newRunner(t)
	if s := r.run(context.Background(), proto.Suite{Name: "skipped", Argv: []string{ok}, Skip: "not on 6.1"}); s != proto.StatusSkip {
		t.Errorf("skipped suite: status %s", s)
	}
	if e := c.end(t); e.Message != "not on 6.1" || len(c.events) != 2 {
		t.Errorf("skipped suite: events %+v", c.events)
	}

	r, c, _ = newRunner(t)
	if s := r.run(context.Background(), proto.Suite{Name: "missing", Argv: []string{"/nonexistent/prog"}}); s != proto.StatusError {
		t.Errorf("missing program: status %s, want error", s)
	}
	if e := c.end(t); e.ExitCode != nil || !strings.Contains(e.Message, "/nonexistent/prog") {
		t.Errorf("missing program: suite-end %+v", e)
	}
}

// processGone reports whether pid has exited, waiting up to a second.
func processGone(pid int) bool {
	for range 100 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// A zombie (state Z) has exited; its parent has not reaped it yet.
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestRunSuiteTimeoutWithBackgroundChild(t *testing.T) {
	r, c, dir := newRunner(t)
	argv0 := script(t, dir, "hang.sh", "sleep 60 &\necho child $!\nsleep 60")
	const timeout = 300 * time.Millisecond
	start := time.Now()
	status := r.run(context.Background(), proto.Suite{Name: "hang", Argv: []string{argv0}, Timeout: proto.Duration(timeout)})
	took := time.Since(start)
	t.Logf("timed-out suite returned after %v", took)
	if took > timeout+2*time.Second {
		t.Errorf("returned %v after start, want within 2s of the %v timeout", took, timeout)
	}
	end := c.end(t)
	if status != proto.StatusTimeout || !strings.Contains(end.Message, "timed out") {
		t.Errorf("suite-end %+v, want status timeout", end)
	}
	out := c.outputs()
	if len(out) != 1 || !strings.HasPrefix(out[0], "child ") {
		t.Fatalf("output %q", out)
	}
	pid, _ := strconv.Atoi(strings.TrimPrefix(out[0], "child "))
	if !processGone(pid) {
		unix.Kill(pid, unix.SIGKILL)
		t.Errorf("background child %d survived the timeout", pid)
	}
}

func TestRunSuiteExitLeavingChildHoldingOutput(t *testing.T) {
	r, c, dir := newRunner(t)
	argv0 := script(t, dir, "leave.sh", "sleep 60 &\necho child $!\nexit 0")
	start := time.Now()
	status := r.run(context.Background(), proto.Suite{Name: "leave", Argv: []string{argv0}, Timeout: proto.Duration(time.Minute)})
	took := time.Since(start)
	t.Logf("returned after %v", took)
	if took > time.Second {
		t.Errorf("returned after %v: the background child holding stdout stalled the agent", took)
	}
	if status != proto.StatusPass {
		t.Errorf("status %s, want pass: %+v", status, c.end(t))
	}
	out := c.outputs()
	if len(out) != 1 {
		t.Fatalf("output %q", out)
	}
	pid, _ := strconv.Atoi(strings.TrimPrefix(out[0], "child "))
	if !processGone(pid) {
		unix.Kill(pid, unix.SIGKILL)
		t.Errorf("background child %d survived its suite", pid)
	}
}

func TestRunSuiteDescendantLeavingTheGroup(t *testing.T) {
	setsid, err := exec.LookPath("setsid")
	if err != nil {
		t.Skip("no setsid(1)")
	}
	r, c, dir := newRunner(t)
	// From a non-interactive shell the background job is not a group
	// leader, so setsid(1) does not fork: $! is the escaped sleep.
	argv0 := script(t, dir, "escape.sh", setsid+" sleep 60 &\necho child $!\nsleep 0.2\nexit 0")
	start := time.Now()
	status := r.run(context.Background(), proto.Suite{Name: "escape", Argv: []string{argv0}, Timeout: proto.Duration(time.Minute)})
	took := time.Since(start)
	out := c.outputs()
	if len(out) == 1 {
		pid, _ := strconv.Atoi(strings.TrimPrefix(out[0], "child "))
		unix.Kill(pid, unix.SIGKILL)
	}
	t.Logf("returned after %v", took)
	if took > drainDelay+time.Second {
		t.Errorf("returned after %v, want about %v", took, drainDelay)
	}
	if e := c.end(t); status != proto.StatusPass || !strings.Contains(e.Message, "output still open") {
		t.Errorf("suite-end %+v, want pass with a note about the open output", e)
	}
}

func TestRunSuiteTAP(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"all-ok", "echo TAP version 13; echo 1..2; echo ok 1 a; echo 'not ok 2 b # TODO later'", proto.StatusPass},
		{"not-ok", "echo 1..2; echo ok 1 a; echo 'not ok 2 b'", proto.StatusFail},
		{"ktap-nested", "echo 'KTAP version 1'; echo 1..1; echo '    not ok 1 sub'; echo 'ok 1 parent'", proto.StatusFail},
		{"exit-1", "echo 1..1; echo ok 1 a; exit 1", proto.StatusFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, dir := newRunner(t)
			argv0 := script(t, dir, "tap.sh", tc.body)
			if got := r.run(context.Background(), proto.Suite{Name: tc.name, Argv: []string{argv0}, Format: proto.FormatTAP}); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRunSuiteTAPEvents checks what a TAP suite sends: each case as test
// events (run, its lines, its result), the suite's own lines as output
// events, and every line once.
func TestRunSuiteTAPEvents(t *testing.T) {
	r, c, dir := newRunner(t)
	argv0 := script(t, dir, "cow.sh", `echo 'TAP version 13'
echo '1..3'
echo '# [RUN] vmsplice() + unmap in child ... with base page'
echo 'ok 1 No leak from child into parent'
echo 'oops on stderr' >&2
echo 'not ok 2 second'
echo '# Totals: pass:1 fail:1'`)
	status := r.run(context.Background(), proto.Suite{Name: "cow", Argv: []string{argv0}, Format: proto.FormatKTAP, Timeout: proto.Duration(10 * time.Second)})
	if status != proto.StatusFail {
		t.Errorf("status %s, want fail", status)
	}
	if got, want := c.outputs(), []string{"TAP version 13", "1..3"}; !slices.Equal(got, want) {
		t.Errorf("output events %q, want %q", got, want)
	}
	var got []string
	for _, ev := range c.kinds(proto.KindTest) {
		te := ev.Test
		if ev.Suite != "cow" || te.Package != "cow" || te.Time.IsZero() {
			t.Errorf("test event %+v of suite %q: want suite and package cow, and a time", te, ev.Suite)
		}
		if te.Action == "output" && !strings.HasSuffix(te.Output, "\n") {
			t.Errorf("output %q does not end in a newline", te.Output)
		}
		got = append(got, te.Action+" "+te.Test+" "+strings.TrimSuffix(te.Output, "\n"))
	}
	const first = "vmsplice() + unmap in child ... with base page"
	want := []string{
		"run " + first + " ",
		"output " + first + " # [RUN] " + first,
		"output " + first + " ok 1 No leak from child into parent",
		"pass " + first + " ",
		"run second ",
		"output second oops on stderr",
		"output second not ok 2 second",
		"fail second ",
		"run test 3 ",
		// What follows the last result belongs to the case that never reported.
		"output test 3 # Totals: pass:1 fail:1",
		"output test 3 kvmtest: planned 3 tests, got 2; no result line for test 3",
		"fail test 3 ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("test events:\n got %q\nwant %q", got, want)
	}
}

func TestRunSuiteTAPSkippedPlan(t *testing.T) {
	r, c, dir := newRunner(t)
	argv0 := script(t, dir, "skip.sh", "echo 'TAP version 13'; echo '1..0 # SKIP no THP'")
	if status := r.run(context.Background(), proto.Suite{Name: "s", Argv: []string{argv0}, Format: proto.FormatTAP}); status != proto.StatusSkip {
		t.Errorf("status %s, want skip", status)
	}
	if e := c.end(t); e.Message != "skipped: no THP" {
		t.Errorf("suite-end message %q", e.Message)
	}
}

func TestRunSuiteLongLine(t *testing.T) {
	r, c, dir := newRunner(t)
	const n = 200000
	argv0 := script(t, dir, "long.sh", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x; echo; echo short", n))
	r.run(context.Background(), proto.Suite{Name: "long", Argv: []string{argv0}})
	out := c.outputs()
	total := 0
	for _, o := range out[:len(out)-1] {
		if len(o) > maxOutputLine || strings.Trim(o, "x") != "" {
			t.Errorf("piece of %d bytes", len(o))
		}
		total += len(o)
	}
	if total != n || out[len(out)-1] != "short" || len(out) != 5 {
		t.Errorf("%d pieces totalling %d bytes then %q; want 4 pieces of %d bytes then \"short\"", len(out)-1, total, out[len(out)-1], n)
	}
}

func TestReadLines(t *testing.T) {
	var got []string
	// 16 is the smallest buffer bufio allows.
	c, d := strings.Repeat("c", 17), strings.Repeat("d", 34)
	readLines(strings.NewReader("a\r\nbb\n\n"+c+"\n"+d), 16, func(l []byte) { got = append(got, string(l)) })
	want := []string{"a", "bb", "", c[:16], "c", d[:16], d[:16], "dd"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDeriveStatus(t *testing.T) {
	for _, tc := range []struct {
		o    outcome
		want string
	}{
		{outcome{format: proto.FormatExitCode, exited: true}, proto.StatusPass},
		{outcome{format: "", exited: true, exitCode: 1}, proto.StatusFail},
		{outcome{format: proto.FormatExitCode, signal: "killed"}, proto.StatusFail},
		{outcome{format: proto.FormatExitCode, timedOut: true, signal: "killed"}, proto.StatusTimeout},
		{outcome{format: proto.FormatExitCode, startErr: errors.New("x")}, proto.StatusError},
		{outcome{format: proto.FormatGo, exited: true, pkgAction: "pass"}, proto.StatusPass},
		{outcome{format: proto.FormatGo, exited: true, pkgAction: "skip"}, proto.StatusSkip},
		{outcome{format: proto.FormatGo, exited: true, pkgAction: "fail"}, proto.StatusFail},
		{outcome{format: proto.FormatGo, exited: true}, proto.StatusFail}, // no package result
		{outcome{format: proto.FormatGo, exited: true, exitCode: 1, pkgAction: "pass"}, proto.StatusFail},
		{outcome{format: proto.FormatTAP, exited: true}, proto.StatusPass},
		{outcome{format: proto.FormatKTAP, exited: true, notOK: 1}, proto.StatusFail},
		{outcome{format: proto.FormatTAP, exited: true, exitCode: 2}, proto.StatusFail},
		{outcome{format: proto.FormatTAP, exited: true, tapSkip: true}, proto.StatusSkip},
		{outcome{format: proto.FormatKTAP, exited: true, tapSkip: true, notOK: 1}, proto.StatusFail},
		{outcome{format: proto.FormatTAP, exited: true, exitCode: 1, tapSkip: true}, proto.StatusFail},
	} {
		if got := deriveStatus(tc.o); got != tc.want {
			t.Errorf("deriveStatus(%+v) = %s, want %s", tc.o, got, tc.want)
		}
	}
}

func TestLoadManifest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"cell":"6.12-base-minimal","test2json":"/kvmtest/bin/test2json","suites":[
		{"name":"vmsplice","argv":["/kvmtest/suites/vmsplice.test","-test.count=1"],"timeout":"5m","format":"go"},
		{"name":"sel","argv":["/kvmtest/run.sh"],"timeout":"90s","format":"tap","env":["A=b"]},
		{"name":"later","argv":[],"timeout":"0s","format":"exit-code","skip":"not here"}]}`)
	m, err := loadManifest(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Suites) != 3 || time.Duration(m.Suites[0].Timeout) != 5*time.Minute || m.Suites[1].Env[0] != "A=b" {
		t.Errorf("loaded %+v", m)
	}
	if d := suiteTimeout(m.Suites[2]); d != defaultSuiteTimeout {
		t.Errorf("zero timeout means %v, want the default", d)
	}
	for name, tc := range map[string]struct{ content, want string }{
		"missing":    {"", "no such file"},
		"syntax":     {`{"suites":[`, "decoding manifest"},
		"unknown":    {`{"suites":[],"extra":1}`, "unknown field"},
		"trailing":   {`{"suites":[]} {}`, "trailing data"},
		"duration":   {`{"suites":[{"name":"a","argv":["/a"],"timeout":"soon"}]}`, "invalid duration"},
		"no-name":    {`{"suites":[{"argv":["/a"]}]}`, "suite 0: no name"},
		"duplicate":  {`{"suites":[{"name":"a","argv":["/a"]},{"name":"a","argv":["/a"]}]}`, "duplicate name"},
		"empty-argv": {`{"suites":[{"name":"a"}]}`, "empty argv"},
		"relative":   {`{"suites":[{"name":"a","argv":["a.test"]}]}`, "not an absolute path"},
		"format":     {`{"suites":[{"name":"a","argv":["/a"],"format":"junit"}]}`, `unknown format "junit"`},
		"test2json":  {`{"suites":[{"name":"a","argv":["/a"],"format":"go"}]}`, "test2json"},
	} {
		p := filepath.Join(dir, name+".json")
		if tc.content != "" {
			write(name+".json", tc.content)
		}
		if _, err := loadManifest(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	// Every problem is reported at once.
	p := write("many.json", `{"suites":[{"name":"a"},{"name":"b","argv":["b"]}]}`)
	if _, err := loadManifest(p); err == nil || !strings.Contains(err.Error(), "empty argv") || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("error %v, want both problems", err)
	}
}

func TestLineSink(t *testing.T) {
	var buf bytes.Buffer
	s := newLineSink(&buf)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				_ = s.Send(proto.Event{Kind: proto.KindOutput, Suite: "s", Output: strings.Repeat(strconv.Itoa(i), 1000+j)})
			}
		})
	}
	wg.Wait()
	huge := strings.Repeat("\x01", 3*maxTextBytes)
	if err := s.Send(proto.Event{Kind: proto.KindTest, Test: &proto.TestEvent{Action: "output", Output: huge}, Message: huge, Output: huge}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, proto.MaxLineBytes)
	n := 0
	for sc.Scan() {
		var ev proto.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d is not an event: %v", n, err)
		}
		if ev.Time.IsZero() {
			t.Errorf("line %d has no time", n)
		}
		if ev.Seq != uint64(n+1) {
			t.Errorf("line %d has seq %d, want %d: lines are numbered in the order written", n, ev.Seq, n+1)
		}
		if ev.Kind == proto.KindOutput && strings.Trim(ev.Output, ev.Output[:1]) != "" {
			t.Errorf("line %d: interleaved output", n)
		}
		if ev.Kind == proto.KindTest && (len(ev.Test.Output) > maxTextBytes || !strings.HasSuffix(ev.Output, "[truncated]")) {
			t.Errorf("huge event not clipped: %d bytes", len(ev.Test.Output))
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 8*50+1 {
		t.Errorf("%d lines, want %d", n, 8*50+1)
	}
}

func TestSendTestLine(t *testing.T) {
	r, c, _ := newRunner(t)
	if a := r.sendTestLine("s", []byte(`{"Action":"pass","Package":"s","Elapsed":1.5}`)); a != "pass" {
		t.Errorf("package pass event: got %q", a)
	}
	if a := r.sendTestLine("s", []byte(`{"Action":"fail","Package":"s","Test":"TestX"}`)); a != "" {
		t.Errorf("test-level event taken for the package result: %q", a)
	}
	r.sendTestLine("s", []byte(`panic: not JSON`))
	r.sendTestLine("s", []byte(`{"no":"action"}`))
	if got := c.outputs(); !slices.Equal(got, []string{"panic: not JSON", `{"no":"action"}`}) {
		t.Errorf("malformed lines became %q", got)
	}
	if tests := c.kinds(proto.KindTest); len(tests) != 2 || tests[0].Test.Elapsed != 1.5 {
		t.Errorf("test events %+v", tests)
	}
}

// TestFakeGoSuite is the Go suite that TestGoSuite runs through test2json;
// it does nothing in a normal test run.
func TestFakeGoSuite(t *testing.T) {
	if os.Getenv(envFakeSuite) != "1" {
		t.Skip("only run by TestGoSuite")
	}
	t.Run("pass", func(t *testing.T) { t.Log("fine") })
	t.Run("fail", func(t *testing.T) { t.Error("broken on purpose") })
}

var buildTest2JSON = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "agent-test2json-")
	if err != nil {
		return "", err
	}
	toolDir = dir
	out := filepath.Join(dir, "test2json")
	cmd := exec.Command("go", "build", "-o", out, "cmd/test2json")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building test2json: %w\n%s", err, b)
	}
	return out, nil
})

func TestGoSuite(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build test2json")
	}
	test2json, err := buildTest2JSON()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		run, want string
		tests     map[string]string // test -> final action
	}{
		{"^TestFakeGoSuite$", proto.StatusFail, map[string]string{"TestFakeGoSuite/pass": "pass", "TestFakeGoSuite/fail": "fail", "TestFakeGoSuite": "fail"}},
		{"^TestFakeGoSuite$/^pass$", proto.StatusPass, map[string]string{"TestFakeGoSuite/pass": "pass", "TestFakeGoSuite": "pass"}},
	} {
		t.Run(tc.want, func(t *testing.T) {
			r, c, _ := newRunner(t)
			r.test2json = test2json
			status := r.run(context.Background(), proto.Suite{Name: "fake", Format: proto.FormatGo,
				Argv: []string{self, "-test.run=" + tc.run}, Env: []string{envFakeSuite + "=1"}, Timeout: proto.Duration(time.Minute)})
			end := c.end(t)
			if status != tc.want {
				t.Errorf("status %s, want %s; suite-end %+v", status, tc.want, end)
			}
			got := map[string]string{}
			var sawLog bool
			for _, ev := range c.kinds(proto.KindTest) {
				te := ev.Test
				if te.Package != "fake" || te.Time.IsZero() {
					t.Errorf("event %+v: want package \"fake\" and a time", te)
				}
				switch te.Action {
				case "pass", "fail", "skip":
					if te.Test != "" {
						got[te.Test] = te.Action
					}
				case "output":
					sawLog = sawLog || strings.Contains(te.Output, "fine")
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.tests) {
				t.Errorf("test results %v, want %v", got, tc.tests)
			}
			if !sawLog {
				t.Error("t.Log output not seen")
			}
			if len(c.kinds(proto.KindOutput)) != 0 {
				t.Errorf("unexpected output events %q", c.outputs())
			}
		})
	}
}

// readEvents parses an events file.
func readEvents(t *testing.T, file string) []proto.Event {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var evs []proto.Event
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var ev proto.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events line %d: %v: %q", i+1, err, line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// runAgent runs the test binary as the agent with args and extra
// environment, and returns its events.
func runAgent(t *testing.T, manifest string, env []string, args ...string) []proto.Event {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	cmd := exec.Command(self, append([]string{"-manifest", manifest, "-events", events, "-dir", dir}, args...)...)
	cmd.Env = append(append(os.Environ(), envBeAgent+"=1"), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("agent stderr:\n%s", out)
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	evs := readEvents(t, events)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d (%s) has seq %d: one writer numbers every line", i+1, ev.Kind, ev.Seq)
		}
	}
	if evs[0].Kind != proto.KindHello || evs[0].Message == "" {
		t.Errorf("first event %+v, want hello with the kernel release", evs[0])
	}
	if evs[len(evs)-1].Kind != proto.KindDone {
		t.Errorf("last event %+v, want done", evs[len(evs)-1])
	}
	return evs
}

func writeManifest(t *testing.T, m proto.Manifest) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSupervisedReapsOrphans runs the agent as it runs as PID 1 (a
// supervisor reaping orphans and a worker running the suites), as a child
// subreaper: suites leave orphans, and their exit codes still arrive.
func TestSupervisedReapsOrphans(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	dir := t.TempDir()
	m := writeManifest(t, proto.Manifest{Cell: "test", Suites: []proto.Suite{
		// Orphans that exit on their own, and one that the group kill ends.
		{Name: "orphans", Argv: []string{script(t, dir, "orphans.sh", "(true &)\n(sleep 0.1 &)\n(sleep 60 &)\n(exit 3 &)\nsleep 0.3\nexit 7")}, Timeout: proto.Duration(time.Minute)},
		{Name: "forks", Argv: []string{script(t, dir, "forks.sh", "for i in 1 2 3 4 5 6 7 8; do (true &); done\nexit 0")}, Timeout: proto.Duration(time.Minute)},
		{Name: "after", Argv: []string{script(t, dir, "after.sh", "echo still here")}, Timeout: proto.Duration(time.Minute)},
	}})
	evs := runAgent(t, m, nil, "-subreaper")
	status := map[string]string{}
	reaped := 0
	for _, ev := range evs {
		switch ev.Kind {
		case proto.KindSuiteEnd:
			status[ev.Suite] = ev.Status + " " + exitCode(ev)
		case proto.KindLog:
			if _, err := fmt.Sscanf(ev.Message, "reaped %d orphaned processes", &reaped); err != nil {
				t.Errorf("unexpected log %q", ev.Message)
			}
		}
	}
	want := map[string]string{"orphans": "fail 7", "forks": "pass 0", "after": "pass 0"}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Errorf("suite results %v, want %v", status, want)
	}
	t.Logf("the supervisor reaped %d orphans", reaped)
	if reaped < 4+8 {
		t.Errorf("reaped %d orphans, want at least 12", reaped)
	}
}

// TestSupervisedSuiteHasNoEventChannel: a suite of the supervised agent
// (as PID 1 runs them) inherits no descriptor beyond 0-2, so it cannot
// write to the agent's event channel by mistake.
func TestSupervisedSuiteHasNoEventChannel(t *testing.T) {
	dir := t.TempDir()
	m := writeManifest(t, proto.Manifest{Suites: []proto.Suite{
		{Name: "fds", Argv: []string{script(t, dir, "fds.sh", "ls /proc/$$/fd | tr '\\n' ' '\n[ -e /proc/$$/fd/3 ] && exit 1\nexit 0")}, Timeout: proto.Duration(time.Minute)},
	}})
	evs := runAgent(t, m, nil, "-subreaper")
	var end proto.Event
	var fds []string
	for _, ev := range evs {
		switch ev.Kind {
		case proto.KindSuiteEnd:
			end = ev
		case proto.KindOutput:
			fds = append(fds, ev.Output)
		}
	}
	if end.Status != proto.StatusPass {
		t.Errorf("the suite sees descriptors %q, want none beyond 0-2 (status %s)", fds, end.Status)
	}
}

func TestSupervisedWorkerCrash(t *testing.T) {
	m := writeManifest(t, proto.Manifest{Suites: []proto.Suite{{Name: "a", Argv: []string{"/bin/true"}}}})
	evs := runAgent(t, m, []string{envCrash + "=1"}, "-subreaper")
	if len(evs) != 3 || evs[1].Kind != proto.KindLog || evs[1].Message != "agent worker exited with status 42" {
		t.Errorf("events %+v, want hello, a log about the worker, done", evs)
	}
}

func TestHostModeBadManifest(t *testing.T) {
	evs := runAgent(t, filepath.Join(t.TempDir(), "missing.json"), nil)
	if len(evs) != 3 || evs[1].Kind != proto.KindLog || !strings.Contains(evs[1].Message, "missing.json") {
		t.Errorf("events %+v, want hello, a log naming the manifest, done", evs)
	}
}

func TestHostModeRunsSuites(t *testing.T) {
	dir := t.TempDir()
	m := writeManifest(t, proto.Manifest{Suites: []proto.Suite{
		{Name: "one", Argv: []string{script(t, dir, "one.sh", "echo hi")}},
		{Name: "two", Argv: []string{"/bin/true"}, Skip: "because"},
	}})
	var kinds []string
	for _, ev := range runAgent(t, m, nil) {
		kinds = append(kinds, ev.Kind)
	}
	want := "hello suite-start output suite-end taint suite-start suite-end done"
	if strings.Join(kinds, " ") != want {
		t.Errorf("events %v, want %s", kinds, want)
	}
}

func TestHostMainFlags(t *testing.T) {
	var b bytes.Buffer
	if code := hostMain([]string{"-nope"}, &b); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	if code := hostMain([]string{"extra"}, &b); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}
