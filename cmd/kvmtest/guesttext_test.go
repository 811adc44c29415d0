package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/triage"
)

// hostile is what a guest may put in any string it reports: an OSC that
// sets the window title, a CSI that clears the screen, ESC c (reset), a
// CR and a BS that rewrite the line, a C1 CSI (U+009B) and a right-to-left
// override.
const hostile = "\x1b]0;TITLE-SET\x07\x1b[2J\x1bc\r\b\u009b31m\u202e"

// assertNoHostile fails when out holds a piece of hostile.
func assertNoHostile(t *testing.T, what, out string) {
	t.Helper()
	for _, f := range []string{"\x1b", "\x07", "\r", "\b", "\u009b", "\u202e", "TITLE-SET", "[2J", "31m"} {
		if i := strings.Index(out, f); i >= 0 {
			t.Errorf("%s holds %q from the guest: ...%q...", what, f, out[max(0, i-60):min(len(out), i+60)])
		}
	}
}

// hostileRun is a run whose guest put hostile text in its suite and test
// names, messages and output, and whose reasons quote them.
func hostileRun() *results.Run {
	suite, test := "vm"+hostile+"splice", "TestX"+hostile+"Y"
	return &results.Run{
		Matrix: results.Matrix{Name: "m"},
		Host:   results.Host{Accel: "kvm"},
		Cells: []*results.Cell{{
			ID: "6.12-base-minimal", Status: results.StatusFailed,
			Reason:     suite + "/" + test + ": fail (expected pass)\nsecond line",
			FirstError: "error: " + hostile,
			Timings:    map[string]float64{"build": 1, "vm": 2},
			Suites: []*results.Suite{{
				Name: suite, Status: results.Fail, Message: "exit status 1" + hostile,
				Tests: []*results.Test{
					{Name: test, Status: results.Fail, Output: hostile + "output\n"},
					{Name: "TestOK", Status: results.Pass, AsExpected: true},
				},
			}},
		}},
	}
}

// TestPrintSummarySanitises: the summary of `kvmtest run` shows the
// readable part of a guest's names, never its escape sequences or
// controls, and a guest cannot add a line of its own.
func TestPrintSummarySanitises(t *testing.T) {
	var b bytes.Buffer
	printSummary(&b, hostileRun(), "out")
	out := b.String()
	assertNoHostile(t, "the summary", out)
	for _, want := range []string{
		"suite " + guesttext.Line("vm"+hostile+"splice"),
		guesttext.Line("TestX"+hostile+"Y") + ": fail, expected pass",
		`      vm\nsplice/TestX\nY: fail (expected pass)` + "\n",
		`first error: error: \n`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
}

// TestProgressSanitises: progress lines (log lines, phases, finished
// cells) hold no guest escape sequence or control, on a terminal (where
// only progress's own redraw escapes remain) or not.
func TestProgressSanitises(t *testing.T) {
	run := hostileRun()
	for _, tty := range []bool{false, true} {
		var b bytes.Buffer
		p := newProgress(&b, false, progressPlain)
		p.tty, p.total = tty, 1
		p.Logf("%s: warning: %s", "6.12-base-minimal", hostile)
		p.Phase("6.12-base-minimal", "suite "+run.Cells[0].Suites[0].Name)
		p.CellDone(run.Cells[0])
		out := b.String()
		if tty {
			out = redrawEscape.ReplaceAllString(out, "") // progress's own
		}
		assertNoHostile(t, "progress", out)
		if want := `6.12-base-minimal            failed: vm\nsplice/TestX\nY: fail (expected pass)` + "\n"; !strings.Contains(out, want) {
			t.Errorf("tty %v: progress lacks %q:\n%q", tty, want, out)
		}
		if !tty && !strings.Contains(out, `suite vm\nsplice`) {
			t.Errorf("progress lacks the phase:\n%q", out)
		}
	}
}

var redrawEscape = regexp.MustCompile(`\r\x1b\[\d+A\x1b\[J`)

var logLine = regexp.MustCompile(`^\d\d:\d\d:\d\d \[c\] `)

// TestPrefixWriterSanitises: the live console (--verbose) shows each line
// of the guest's console cleaned, with its cell prefix; a CR starts a new
// prefixed line, so a guest cannot print a line that reads as kvmtest's.
func TestPrefixWriterSanitises(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, progressAuto)
	w := &prefixWriter{p: p, prefix: "[c] "}
	w.Write([]byte("[    1.0] ok\r\n" + hostile + "shown\n"))
	w.Write([]byte("a\u009b2Jb\x1b]8;;http://x/\x1b\\link\x1b]8;;\x1b\\\rc 6.12-base-minimal passed\n"))
	w.Write([]byte("x" + strings.Repeat("é", 3000))) // cut at 4 KiB, at a character boundary
	w.Write([]byte("\n"))
	out := b.String()
	assertNoHostile(t, "the live console", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		if !logLine.MatchString(l) {
			t.Errorf("line %q is not a prefixed log line", l)
		}
		if strings.ContainsRune(l, '\uFFFD') {
			t.Errorf("line %q: a character was cut", l)
		}
	}
	var got []string
	for _, l := range lines[:min(len(lines), 7)] {
		got = append(got, logLine.ReplaceAllString(l, ""))
	}
	want := []string{"[    1.0] ok", "", "shown", "ablink", "c 6.12-base-minimal passed", "x" + strings.Repeat("é", 2047), strings.Repeat("é", 953)}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("console lines:\n got %q\nwant %q", got, want)
	}
}

// TestTriageSanitises: `kvmtest triage` prints a console log's findings
// without the escape sequences and controls a guest wrote to the console;
// --format json keeps them, escaped.
func TestTriageSanitises(t *testing.T) {
	log := filepath.Join(t.TempDir(), "console.log")
	text := "[    1.000000] Linux version 6.12\n[    2.000000] ------------[ cut here ]------------\n" +
		"[    2.000001] WARNING: CPU: 0 PID: 1 at fs/pipe.c:10 evil" + hostile + "func+0x1/0x2\n" +
		"[    2.000002] Modules linked in:\n[    2.000003] " + hostile + "guest wrote this\n" +
		"[    2.000004] RIP: 0010:evil+0x1/0x2\n[    2.000005] Call Trace:\n[    2.000006]  <TASK>\n" +
		"[    2.000007]  do_syscall_64+0x82/0x190\n[    2.000008]  </TASK>\n[    2.000009] ---[ end trace 0000000000000000 ]---\n"
	if err := os.WriteFile(log, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() { *triageFormat = "text" }()
	var code int
	out := stdoutOf(t, func() { code = mainExit([]string{"triage", log}) })
	if code != results.ExitFailed {
		t.Errorf("triage: exit %d, want 1", code)
	}
	assertNoHostile(t, "triage", out)
	if !strings.Contains(out, "WARNING in evil") || !strings.Contains(out, "    guest wrote this") {
		t.Errorf("triage lacks the finding:\n%s", out)
	}
	out = stdoutOf(t, func() { mainExit([]string{"triage", "--format", "json", log}) })
	for _, c := range []string{"\x1b", "\x07", "\r", "\b", "\u009b", "\u202e"} {
		if strings.Contains(out, c) {
			t.Errorf("triage --format json holds a raw %q", c)
		}
	}
	var got []struct{ Findings []triage.Finding }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Findings) == 0 || !strings.Contains(got[0].Findings[0].Excerpt, hostile+"guest wrote this") {
		t.Errorf("triage --format json does not keep the console text whole:\n%s", out)
	}
}

// TestPrintBisectSanitises: how a bisection ended names the guest's tests
// (a step's reason): they are shown one line each, without escapes.
func TestPrintBisectSanitises(t *testing.T) {
	rec := &engine.BisectRecord{
		States: []engine.BisectState{{Label: "0/1 base"}, {Label: "1/1 0001-x.patch", What: "x"}},
		Steps:  []engine.BisectStep{{State: 0, Verdict: "bad", Why: "vm" + hostile + "splice/TestX: fail", Dirs: []string{"steps/01-state0"}}},
	}
	var code int
	out := stdoutOf(t, func() {
		code = printBisect(context.Background(), rec, bisect.ErrGoodIsBad, engine.BisectOptions{Out: "out"})
	})
	if code != results.ExitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	assertNoHostile(t, "bisect", out)
	if !strings.Contains(out, `0/1 base: vm\nsplice/TestX: fail; results in out/steps/01-state0`) {
		t.Errorf("bisect lacks the step's reason:\n%s", out)
	}
}

// stdoutOf runs f with os.Stdout going to a file and returns what f wrote
// there.
func stdoutOf(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	saved := os.Stdout
	os.Stdout = tmp
	defer func() { os.Stdout = saved }()
	f()
	b, _ := os.ReadFile(tmp.Name())
	return string(b)
}
