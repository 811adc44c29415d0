package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kvmtest/kvmtest/internal/guesttext"
)

// Test2JSONFile is the name of a cell's test2json stream in its directory
// (cells/ID/test2json.jsonl), and of the run's (all cells' streams, in
// matrix order) in the run directory.
const Test2JSONFile = "test2json.jsonl"

// Test2JSON is a cell's results as a plain test2json stream (the format
// of `go test -json`, see `go doc cmd/test2json`), one JSON event a line,
// for the readers of that format: gotestsum (`gotestsum --raw-command --
// cat FILE`), GitHub test reporters, go-junit-report. It is derived from
// the cell's record alone (the host's results, never the guest's own
// events), so the same cell gives the same bytes, written when the cell
// ends or again from run.json.
//
// Each suite is a package named CELL/SUITE (Test2JSONPackage) with a
// start event, then each test (TAP and KTAP cases too: parent/child for
// subtests) as run, output and one end event (pass, fail or skip, with
// Elapsed), subtests inside their parent, then the package's own output
// and its end (pass, fail or skip, with the suite's elapsed). A suite
// without tests (an exit-code suite) is a package with no test. Console
// findings are a package CELL/console, one failing test per finding. A
// cell that could not be built or booted is a package CELL whose build
// failed (build-output events naming why, then a fail with FailedBuild),
// as `go test -json` reports a package that does not compile: readers
// count it as an error, not as a failed test. A skipped or interrupted
// cell is a skipped package CELL.
//
// The actions are kvmtest's verdict, mapped as junit.xml maps it
// (Test2JSONAction): a failure the matrix expects is a skip, an
// unexpected pass a fail, each with a "kvmtest: " output line saying so.
//
// The guest's text (test names, output, messages, findings) is cleaned as
// for junit.xml (guesttext.Line for names, Clean for the rest): readers
// of test2json print it on terminals. Long output lines are split, so
// that no event line exceeds the 64 KiB a bufio.Scanner takes by
// default. The start event of each package carries the cell's started
// time and every other event its finished time (when the host decided
// the results); durations are in Elapsed.
func Test2JSON(c *Cell) []byte {
	w := &t2jWriter{c: c}
	w.cell()
	return guesttext.EscapeJSON(w.buf.Bytes())
}

// WriteTest2JSON writes the test2json stream of every cell of cells to w,
// in their order (Test2JSON of each).
func WriteTest2JSON(w io.Writer, cells []*Cell) error {
	for _, c := range cells {
		if _, err := w.Write(Test2JSON(c)); err != nil {
			return err
		}
	}
	return nil
}

// Test2JSONPackage is the package name of a cell's suite in its test2json
// stream: CELL/SUITE; "" for suite gives the cell's own package (its
// build, its boot, a cell that did not run).
func Test2JSONPackage(cell, suite string) string {
	if suite == "" {
		return guesttext.Line(cell)
	}
	return guesttext.Line(cell + "/" + suite)
}

// Test2JSONAction is how test t of a suite is reported in a test2json
// stream: "pass", "fail" or "skip", and a note that says why when the
// action is not the test's status (a failure the matrix expects is a
// skip; a pass, a skip or a timeout the matrix does not expect is a fail;
// a test that never ended is a fail). It uses the test's Status and
// Expected alone, so that the results of a cell that was never judged
// (it crashed or timed out) are reported as they are.
func Test2JSONAction(t *Test) (action, note string) {
	want := t.Expected
	if want == "" {
		want = Pass
	}
	ok := t.Status == want || (t.Status == Skip && t.Expected == "")
	switch {
	case ok && t.Status == Pass:
		return "pass", ""
	case ok && t.Status == Skip:
		return "skip", ""
	case ok:
		return "skip", fmt.Sprintf("%s as the matrix expects: an expected failure, reported as skipped", t.Status)
	case t.Status == Fail && want == Pass:
		return "fail", ""
	case t.Status == "" || t.Status == "run":
		return "fail", "the test never reported its end"
	}
	return "fail", fmt.Sprintf("%s, but the matrix expects %s", t.Status, want)
}

// t2jEvent is one test2json event, its fields in the order and with the
// omissions of cmd/test2json.
type t2jEvent struct {
	Time        time.Time `json:",omitzero"`
	ImportPath  string    `json:",omitempty"`
	Action      string
	Package     string   `json:",omitempty"`
	Test        string   `json:",omitempty"`
	Elapsed     *float64 `json:",omitempty"`
	Output      string   `json:",omitempty"`
	FailedBuild string   `json:",omitempty"`
}

// maxT2JOutput bounds one output event's text: at most 6 bytes of JSON
// per byte (\u escapes), well under a scanner's 64 KiB line.
const maxT2JOutput = 4 << 10

// maxFindingOutput caps the excerpt of a finding in the stream.
const maxFindingOutput = 16 << 10

type t2jWriter struct {
	c   *Cell
	buf bytes.Buffer
}

func (w *t2jWriter) emit(e t2jEvent) {
	b, err := json.Marshal(e)
	if err != nil {
		// Only a non-finite Elapsed could fail, and none comes from JSON.
		e.Elapsed = nil
		b, _ = json.Marshal(e)
	}
	w.buf.Write(b)
	w.buf.WriteByte('\n')
}

// end is an event at the cell's end; start one at its start.
func (w *t2jWriter) end(action, pkg, test string) t2jEvent {
	return t2jEvent{Time: w.c.Finished.UTC(), Action: action, Package: pkg, Test: test}
}

func (w *t2jWriter) start(pkg string) {
	w.emit(t2jEvent{Time: w.c.Started.UTC(), Action: "start", Package: pkg})
}

// output emits text (cleaned) as output events of pkg and test, a line
// (or a part of a long one) each.
func (w *t2jWriter) output(pkg, test, text string) {
	for _, chunk := range t2jLines(guesttext.Clean(text)) {
		e := w.end("output", pkg, test)
		e.Output = chunk
		w.emit(e)
	}
}

// note emits a line of kvmtest's own.
func (w *t2jWriter) note(pkg, test, note string) {
	if note != "" {
		w.output(pkg, test, "kvmtest: "+note+"\n")
	}
}

func (w *t2jWriter) finish(action, pkg, test string, elapsed float64) {
	e := w.end(action, pkg, test)
	e.Elapsed = &elapsed
	w.emit(e)
}

// t2jLines splits text into lines (each with its newline), and lines
// longer than maxT2JOutput into parts, cut between runes.
func t2jLines(text string) []string {
	var out []string
	for text != "" {
		n := strings.IndexByte(text, '\n') + 1
		if n == 0 {
			n = len(text)
		}
		if n > maxT2JOutput {
			n = maxT2JOutput
			for n > 0 && !utf8.RuneStart(text[n]) {
				n--
			}
		}
		out = append(out, text[:n])
		text = text[n:]
	}
	return out
}

func (w *t2jWriter) cell() {
	c := w.c
	pkg := Test2JSONPackage(c.ID, "")
	switch c.Status {
	case StatusBuildFailed, StatusBootFailed:
		w.failedBuild(pkg)
	case StatusSkipped, StatusInterrupted:
		w.start(pkg)
		w.note(pkg, "", fmt.Sprintf("cell %s: %s", c.Status, c.Reason))
		w.output(pkg, "", fmt.Sprintf("?   \t%s\t[%s]\n", pkg, c.Status))
		w.finish("skip", pkg, "", 0)
		return
	}
	for _, s := range c.Suites {
		w.suite(s)
	}
	w.findings()
	if len(c.Suites) == 0 && len(c.Findings) == 0 && c.Status != StatusBuildFailed && c.Status != StatusBootFailed {
		// A cell that ended without suites (the guest reported none).
		action := "pass"
		if c.Status != StatusPassed {
			action = "fail"
		}
		w.start(pkg)
		w.note(pkg, "", fmt.Sprintf("cell %s: %s", c.Status, c.Reason))
		w.packageEnd(action, pkg, c.Timings["vm"])
	}
}

// failedBuild reports a cell that could not be built or booted as a
// package whose build failed.
func (w *t2jWriter) failedBuild(pkg string) {
	c := w.c
	lines := []string{"# " + pkg + "\n"}
	reason := strings.Split(strings.TrimRight(guesttext.Clean(c.Reason), "\n"), "\n")
	lines = append(lines, fmt.Sprintf("%s: %s: %s\n", pkg, c.Status, reason[0]))
	if c.FirstError != "" {
		lines = append(lines, "\tfirst error: "+guesttext.Line(c.FirstError)+"\n")
	}
	for _, l := range reason[1:] {
		lines = append(lines, "\t"+l+"\n")
	}
	for _, l := range lines {
		for _, chunk := range t2jLines(l) {
			w.emit(t2jEvent{ImportPath: pkg, Action: "build-output", Output: chunk})
		}
	}
	w.emit(t2jEvent{ImportPath: pkg, Action: "build-fail"})
	w.start(pkg)
	what := "build failed"
	if c.Status == StatusBootFailed {
		what = "boot failed"
	}
	w.output(pkg, "", fmt.Sprintf("FAIL\t%s [%s]\n", pkg, what))
	e := w.end("fail", pkg, "")
	zero := 0.0
	e.Elapsed, e.FailedBuild = &zero, pkg
	w.emit(e)
}

// packageEnd emits a package's summary line and its end.
func (w *t2jWriter) packageEnd(action, pkg string, elapsed float64) {
	switch action {
	case "pass":
		w.output(pkg, "", fmt.Sprintf("ok  \t%s\t%.3fs\n", pkg, elapsed))
	case "fail":
		w.output(pkg, "", fmt.Sprintf("FAIL\t%s\t%.3fs\n", pkg, elapsed))
	default:
		w.output(pkg, "", fmt.Sprintf("?   \t%s\t[skipped]\n", pkg))
	}
	w.finish(action, pkg, "", elapsed)
}

// judged says whether the cell's results were judged against the matrix
// (Suite.AsExpected is its verdict); a cell that crashed, timed out or
// could not boot was not.
func (w *t2jWriter) judged() bool {
	return w.c.Status == StatusPassed || w.c.Status == StatusFailed
}

// suiteAction is how a suite is reported: its package's end action, and
// a note when that is not its status.
func (w *t2jWriter) suiteAction(s *Suite) (action, note string) {
	why := s.Status
	if s.Message != "" {
		why += ": " + s.Message
	}
	if !w.judged() {
		switch s.Status {
		case Pass:
			return "pass", ""
		case Skip:
			return "skip", "suite " + why
		}
		note = "suite " + why
		if w.c.Status == StatusCrashed || w.c.Status == StatusTimedOut {
			if s.Status != Fail {
				note += fmt.Sprintf("; the cell %s: %s", w.c.Status, w.c.Reason)
			}
		}
		return "fail", note
	}
	want := s.Expected
	if want == "" {
		want = Pass
	}
	switch {
	case !s.AsExpected:
		return "fail", fmt.Sprintf("suite %s (expected %s)", why, want)
	case s.Status == Pass:
		return "pass", ""
	case s.Status == Skip:
		return "skip", "suite " + why
	case len(s.Tests) > 0:
		// Its failing tests are expected failures, reported as skipped.
		return "pass", fmt.Sprintf("suite %s, as the matrix expects", why)
	}
	return "skip", fmt.Sprintf("suite %s, as the matrix expects: an expected failure, reported as skipped", why)
}

func (w *t2jWriter) suite(s *Suite) {
	pkg := Test2JSONPackage(w.c.ID, s.Name)
	w.start(pkg)
	names := map[string]bool{}
	for _, t := range s.Tests {
		names[t.Name] = true
	}
	// Each test's subtests, in order: a test's parent is the longest
	// prefix of its name, up to a slash, that is a test of the suite.
	children := map[string][]*Test{}
	var top []*Test
	for _, t := range s.Tests {
		parent := ""
		for p := t.Name; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if names[p] {
				parent = p
				break
			}
		}
		if parent == "" || parent == t.Name {
			top = append(top, t)
		} else {
			children[parent] = append(children[parent], t)
		}
	}
	seen := map[string]bool{}
	var emitTest func(t *Test)
	emitTest = func(t *Test) {
		if seen[t.Name] {
			return
		}
		seen[t.Name] = true
		name := guesttext.Line(t.Name)
		w.emit(w.end("run", pkg, name))
		head, tail := splitFraming(t.Output)
		w.output(pkg, name, head)
		for _, sub := range children[t.Name] {
			emitTest(sub)
		}
		w.output(pkg, name, tail)
		action, note := Test2JSONAction(t)
		w.note(pkg, name, note)
		w.finish(action, pkg, name, t.Elapsed)
	}
	for _, t := range top {
		emitTest(t)
	}
	action, note := w.suiteAction(s)
	w.note(pkg, "", note)
	w.packageEnd(action, pkg, s.Elapsed)
}

// splitFraming splits a test's output at its first framing line
// ("--- PASS: ...", "--- FAIL: ...", possibly indented): a parent's
// output before it comes before its subtests, as in `go test -json`.
func splitFraming(out string) (head, tail string) {
	for i := 0; i < len(out); {
		line := out[i:]
		if j := strings.IndexByte(line, '\n'); j >= 0 {
			line = line[:j+1]
		}
		l := strings.TrimLeft(line, " \t")
		for _, p := range []string{"--- PASS: ", "--- FAIL: ", "--- SKIP: ", "--- BENCH: "} {
			if strings.HasPrefix(l, p) {
				return out[:i], out[i:]
			}
		}
		i += len(line)
	}
	return out, ""
}

// findings reports the cell's console findings as a package CELL/console,
// one failing test per finding.
func (w *t2jWriter) findings() {
	c := w.c
	if len(c.Findings) == 0 {
		return
	}
	pkg := Test2JSONPackage(c.ID, "console")
	w.start(pkg)
	for i, f := range c.Findings {
		name := fmt.Sprintf("finding-%d-%s", i+1, guesttext.Line(f.Class))
		w.emit(w.end("run", pkg, name))
		fatal := ""
		if f.Fatal {
			fatal = " (fatal)"
		}
		excerpt := f.Excerpt
		if len(excerpt) > maxFindingOutput {
			excerpt = strings.ToValidUTF8(excerpt[len(excerpt)-maxFindingOutput:], "") + "\n"
		}
		text := fmt.Sprintf("%s%s\nconsole.log line %d\n", guesttext.Line(f.Title), fatal, f.Line)
		if excerpt != "" {
			text += strings.TrimRight(excerpt, "\n") + "\n"
		}
		w.output(pkg, name, text)
		w.finish("fail", pkg, name, 0)
	}
	w.packageEnd("fail", pkg, 0)
}
