package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
)

// hostile is what a guest may put in any string it reports: an OSC that
// sets the window title, a CSI that clears the screen, ESC c (reset), a
// CR and a BS that rewrite the line, a C1 CSI (U+009B) and a right-to-left
// override.
const hostile = "\x1b]0;TITLE-SET\x07\x1b[2J\x1bc\r\b\u009b31m\u202e"

// forbidden are the pieces of hostile that must not reach a report.
var forbidden = []string{"\x1b", "\x07", "\r", "\b", "\u009b", "\u202e", "TITLE-SET", "[2J", "31m"}

// hostileRun is the vmsplice fixture copied to a directory of its own,
// with hostile text in every string the guest gave: suite and test names,
// messages, outputs, findings, reasons, console.log and bench.txt.
func hostileRun(t *testing.T) (string, *results.Run) {
	t.Helper()
	src, run := fixture(t, "vmsplice")
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "cells"), os.DirFS(filepath.Join(src, "cells"))); err != nil {
		t.Fatal(err)
	}
	for _, c := range run.Cells {
		if c.Reason != "" {
			c.Reason += " " + hostile
		}
		if c.FirstError != "" {
			c.FirstError += hostile
		}
		for _, s := range c.Suites {
			s.Name = "suite" + hostile + s.Name
			s.Message += hostile + "end"
			for _, x := range s.Tests {
				x.Name = "Hostile" + hostile + x.Name
				x.Output += "    x_test.go:1: " + hostile + "said\n"
			}
		}
		for i := range c.Findings {
			f := &c.Findings[i]
			f.Title += hostile
			f.Excerpt += "\n" + hostile + "excerpt\n"
			if f.Suite != "" {
				f.Suite = "suite" + hostile + f.Suite
			}
		}
		cd := filepath.Join(dir, "cells", c.ID)
		if err := os.MkdirAll(cd, 0o755); err != nil {
			t.Fatal(err)
		}
		con, err := os.OpenFile(filepath.Join(cd, "console.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		con.WriteString("[    1.000000] " + hostile + "console\n")
		con.Close()
		if b, err := os.ReadFile(filepath.Join(cd, "bench.txt")); err == nil {
			// A CR would end the benchmark line: the rest of hostile goes in.
			h := strings.ReplaceAll(hostile, "\r", "")
			var extra strings.Builder
			for i := 0; i < 6; i++ {
				fmt.Fprintf(&extra, "BenchmarkHostile%s-1   \t     200\t      49%d ns/op\t   7 %sunits\n", h, i, h)
			}
			if err := os.WriteFile(filepath.Join(cd, "bench.txt"), append(b, extra.String()...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, run
}

func assertNoHostile(t *testing.T, what, out string) {
	t.Helper()
	for _, f := range forbidden {
		if strings.Contains(out, f) {
			i := strings.Index(out, f)
			t.Errorf("%s holds %q from the guest: ...%q...", what, f, out[max(0, i-60):min(len(out), i+60)])
		}
	}
}

// TestReportsSanitiseGuestText: report.md, report.html, junit.xml, the
// JSON report, the GitHub annotations and step summary of a run whose
// guest put escape sequences and controls in every string hold none of
// them, and still show the readable part of the names.
func TestReportsSanitiseGuestText(t *testing.T) {
	dir, run := hostileRun(t)
	for _, r := range []*Report{Build(dir, run, nil), Compare(dir, run, dir, run)} {
		md := string(render(t, func(b *bytes.Buffer) error { return r.Markdown(b) }))
		page := string(render(t, func(b *bytes.Buffer) error { return r.HTML(b) }))
		js := string(render(t, func(b *bytes.Buffer) error { return r.JSON(b) }))
		summary := filepath.Join(t.TempDir(), "summary.md")
		ann := string(render(t, func(b *bytes.Buffer) error { return r.GitHub(b, summary) }))
		sum, err := os.ReadFile(summary)
		if err != nil {
			t.Fatal(err)
		}
		for what, out := range map[string]string{"report.md": md, "report.html": page, "report JSON": js, "annotations": ann, "step summary": string(sum)} {
			assertNoHostile(t, r.Kind+" "+what, out)
		}
		if !strings.Contains(md, "Hostile-1") || !strings.Contains(md, "units") {
			t.Errorf("%s report.md lacks the hostile benchmark", r.Kind)
		}
		if r.Kind == "run" {
			want := guesttext.Line("Hostile" + hostile + "TestNonblock")
			for what, out := range map[string]string{"report.md": md, "report.html": page, "annotations": ann} {
				if !strings.Contains(out, want) {
					t.Errorf("%s lacks the readable test name %q", what, want)
				}
			}
		}
	}
	// test2json.jsonl, as its readers see it once decoded.
	var decoded strings.Builder
	stream := render(t, func(b *bytes.Buffer) error { return results.WriteTest2JSON(b, run.Cells) })
	for _, line := range bytes.Split(bytes.TrimSuffix(stream, []byte("\n")), []byte("\n")) {
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("test2json.jsonl: %v: %s", err, line)
		}
		for _, k := range []string{"Package", "Test", "Output", "ImportPath"} {
			if v, ok := e[k].(string); ok {
				decoded.WriteString(v + "\n")
			}
		}
	}
	assertNoHostile(t, "test2json.jsonl", decoded.String())
	if want := guesttext.Line("Hostile" + hostile + "TestNonblock"); !strings.Contains(decoded.String(), want) {
		t.Errorf("test2json.jsonl lacks the readable test name %q", want)
	}
	junit := string(render(t, func(b *bytes.Buffer) error { return JUnit(b, dir, run) }))
	assertNoHostile(t, "junit.xml", junit)
	if want := guesttext.Line("Hostile" + hostile + "TestNonblock"); !strings.Contains(junit, want) {
		t.Errorf("junit.xml lacks the readable test name %q", want)
	}
}
