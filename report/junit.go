package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
)

// JUnit XML (junit.xml): one <testsuite> per cell and suite, named
// CELL/SUITE, each test a <testcase> with classname CELL.SUITE, the dots
// of each replaced by underscores (junitClassname): Jenkins splits a
// classname at its last dot into package and class, so that the tests of
// 6.12-base-minimal's vmsplice suite are in package 6_12-base-minimal,
// class vmsplice. The document is valid against what Jenkins' xUnit
// plugin reads (report/testdata/junit-jenkins.xsd).
//
//   - A test that failed (or timed out) when the matrix expects it to pass
//     is a <failure> whose message is the line that says why and whose body
//     is the test's output and the console excerpt of what the kernel
//     printed during the suite (findings, or the end of console.log when
//     the cell crashed or timed out with none).
//   - A test that failed as the matrix expects is not a failure: it is
//     <skipped type="expected-failure"> with its output in <system-out>,
//     the way pytest records an xfail; readers of junit.xml see a green
//     run when kvmtest's verdict is green.
//   - A test that passed when the matrix expects it to fail is a <failure
//     type="unexpected-pass">, as a strict xfail.
//   - A cell that could not be built or booted has one testcase ("build"
//     or "boot") with an <error>, never a <failure>: infrastructure, not a
//     test result. Skipped and interrupted cells have one <skipped> case.
//   - Console findings of a cell are a testsuite CELL/console, one failing
//     testcase per finding with its excerpt.

type junitSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	// No skipped: Jenkins' schema has none on <testsuites> (each
	// <testsuite> counts its own).
	Time   string       `xml:"time,attr"`
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Time      string    `xml:"time,attr"`
	Failure   *junitMsg `xml:"failure,omitempty"`
	Error     *junitMsg `xml:"error,omitempty"`
	Skipped   *junitMsg `xml:"skipped,omitempty"`
	SystemOut *cdata    `xml:"system-out,omitempty"`
}

// cdata is element text written as CDATA, readable in junit.xml (the text
// went through guesttext.Clean: only characters XML allows).
type cdata struct {
	Text string `xml:",cdata"`
}

type junitMsg struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

// JUnit writes junit.xml for the run stored in dir.
func JUnit(w io.Writer, dir string, run *results.Run) error {
	doc := junitSuites{Name: "kvmtest " + run.Matrix.Name}
	if !run.Started.IsZero() && run.Finished.After(run.Started) {
		doc.Time = secs(run.Finished.Sub(run.Started).Seconds())
	} else {
		doc.Time = secs(0)
	}
	for _, c := range run.Cells {
		doc.Suites = append(doc.Suites, cellSuites(dir, c)...)
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		for _, tc := range s.Cases {
			s.Tests++
			switch {
			case tc.Failure != nil:
				s.Failures++
			case tc.Error != nil:
				s.Errors++
			case tc.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing junit.xml: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitClassname is the classname of the tests of a cell's suite (the
// cell's own for suite ""): CELL.SUITE with the dots of each replaced by
// underscores, so that readers that split a classname at its last dot
// (Jenkins: package and class) see the cell and the suite; the
// testsuite's name and the "cell" property keep the cell's id as it is.
func junitClassname(cell, suite string) string {
	undot := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	if suite == "" {
		suite = "cell"
	}
	return undot(cell) + "." + undot(suite)
}

func cellSuites(dir string, c *results.Cell) []junitSuite {
	props := []junitProperty{{"cell", c.ID}, {"kernel", c.Kernel}, {"patchset", c.Patchset}, {"config", c.Config}, {"status", c.Status}}
	for _, p := range []junitProperty{{"baseline", c.Baseline}, {"artifact_key", c.ArtifactKey},
		{"kernel_release", c.KernelRelease}, {"accel", c.Accel}} {
		if p.Value != "" {
			p.Value = guesttext.Line(p.Value)
			props = append(props, p)
		}
	}
	stamp := ""
	if !c.Started.IsZero() {
		stamp = c.Started.UTC().Format("2006-01-02T15:04:05")
	}
	one := func(name string, tc junitCase, t float64) []junitSuite {
		tc.Name, tc.Classname, tc.Time = name, junitClassname(c.ID, ""), secs(t)
		return []junitSuite{{Name: c.ID, Time: secs(t), Timestamp: stamp, Properties: props, Cases: []junitCase{tc}}}
	}
	switch c.Status {
	case results.StatusBuildFailed:
		body := guesttext.Clean(c.Reason)
		if c.FirstError != "" {
			body = "first error: " + guesttext.Clean(c.FirstError) + "\n\n" + body
		}
		return one("build", junitCase{Error: &junitMsg{Type: c.Status, Message: firstLine(guesttext.Clean(c.Reason)), Body: body}}, c.Timings["build"])
	case results.StatusBootFailed:
		body := guesttext.Clean(c.Reason)
		if t := consoleTail(dir, c.ID); t != "" {
			body += "\n\nend of console.log:\n" + t
		}
		return one("boot", junitCase{Error: &junitMsg{Type: c.Status, Message: firstLine(guesttext.Clean(c.Reason)), Body: body}}, c.Timings["boot"])
	case results.StatusSkipped:
		return one("cell", junitCase{Skipped: &junitMsg{Type: c.Status, Message: guesttext.Clean(c.Reason)}}, 0)
	case results.StatusInterrupted:
		return one("cell", junitCase{Skipped: &junitMsg{Type: c.Status, Message: guesttext.Clean(c.Reason)}}, 0)
	}

	var tail string
	tailOnce := false
	consoleFor := func(s *results.Suite) string {
		var parts []string
		for _, f := range c.Findings {
			if f.Suite == s.Name || f.Suite == "" {
				parts = append(parts, guesttext.Line(f.Title)+"\n"+tailExcerpt(f.Excerpt))
			}
		}
		if len(parts) == 0 && (c.Status == results.StatusCrashed || c.Status == results.StatusTimedOut) &&
			s.Status != results.Pass && s.Status != results.Fail {
			if !tailOnce {
				tail, tailOnce = consoleTail(dir, c.ID), true
			}
			if tail != "" {
				parts = append(parts, "end of console.log:\n"+tail)
			}
		}
		return strings.Join(parts, "\n\n")
	}

	var out []junitSuite
	for _, s := range c.Suites {
		sname := guesttext.Line(s.Name)
		name := c.ID + "/" + sname
		class := junitClassname(c.ID, sname)
		js := junitSuite{Name: name, Time: secs(s.Elapsed), Timestamp: stamp, Properties: props}
		console := consoleFor(s)
		unexpectedTests := 0
		for _, t := range s.Tests {
			tc := testCase(class, t, console)
			if !t.AsExpected {
				unexpectedTests++
			}
			js.Cases = append(js.Cases, tc)
		}
		if len(s.Tests) == 0 || (!s.AsExpected && unexpectedTests == 0) {
			// The suite as a whole: a program without test events, or one
			// that failed though every test was as expected.
			tc := junitCase{Name: sname, Classname: class, Time: secs(s.Elapsed)}
			if len(s.Tests) > 0 {
				tc.Name = "(suite " + sname + ")"
			}
			want := expectedOf(s.Expected)
			msg := fmt.Sprintf("suite %s, expected %s", s.Status, want)
			if s.Message != "" {
				msg += ": " + guesttext.Clean(s.Message)
			}
			switch {
			case !s.AsExpected:
				tc.Failure = &junitMsg{Type: s.Status, Message: firstLine(msg), Body: joinNonEmpty(msg, console)}
			case s.Status == results.Skip:
				tc.Skipped = &junitMsg{Message: guesttext.Clean(s.Message)}
			case s.Status != results.Pass:
				tc.Skipped = &junitMsg{Type: "expected-failure", Message: firstLine(msg)}
			}
			js.Cases = append(js.Cases, tc)
		}
		out = append(out, js)
	}
	if len(c.Findings) > 0 {
		js := junitSuite{Name: c.ID + "/console", Time: secs(0), Timestamp: stamp, Properties: props}
		for i, f := range c.Findings {
			typ := f.Class
			if f.Fatal {
				typ += " (fatal)"
			}
			msg := guesttext.Line(f.Title)
			js.Cases = append(js.Cases, junitCase{
				Name: fmt.Sprintf("console finding %d: %s", i+1, truncate(msg, 120)), Classname: junitClassname(c.ID, "console"), Time: secs(0),
				Failure: &junitMsg{Type: typ, Message: msg, Body: fmt.Sprintf("console.log line %d\n%s", f.Line, tailExcerpt(f.Excerpt))},
			})
		}
		out = append(out, js)
	}
	if len(out) == 0 {
		// A finished cell without suites (the guest reported none).
		tc := junitCase{}
		if c.Status != results.StatusPassed {
			tc.Failure = &junitMsg{Type: c.Status, Message: firstLine(guesttext.Clean(c.Reason)), Body: guesttext.Clean(c.Reason)}
		}
		return one("cell", tc, c.Timings["vm"])
	}
	return out
}

func testCase(classname string, t *results.Test, console string) junitCase {
	tc := junitCase{Name: guesttext.Line(t.Name), Classname: classname, Time: secs(t.Elapsed)}
	out := guesttext.Clean(t.Output)
	want := expectedOf(t.Expected)
	switch {
	case t.AsExpected && t.Status == results.Pass:
	case t.AsExpected && t.Status == results.Skip:
		tc.Skipped = &junitMsg{Message: failureMessage(t.Output)}
	case t.AsExpected:
		tc.Skipped = &junitMsg{Type: "expected-failure", Message: fmt.Sprintf("%s as the matrix expects", t.Status)}
		if out != "" {
			tc.SystemOut = &cdata{out}
		}
	case t.Status == results.Pass:
		tc.Failure = &junitMsg{Type: "unexpected-pass", Message: "passed, but the matrix expects " + want, Body: out}
	default:
		msg := fmt.Sprintf("%s (expected %s)", t.Status, want)
		if m := failureMessage(t.Output); m != "" {
			msg += ": " + m
		}
		tc.Failure = &junitMsg{Type: t.Status, Message: msg, Body: joinNonEmpty(out, console)}
	}
	return tc
}

func tailExcerpt(s string) string { return tail(guesttext.Clean(s), 60) }

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return strings.TrimRight(a, "\n") + "\n\n--- console ---\n" + b
}

func secs(s float64) string { return fmt.Sprintf("%.3f", s) }
