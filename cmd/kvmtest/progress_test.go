package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// TestProgressPlainHasNoEscapes: when the output is not a terminal (CI),
// progress is plain timestamped lines, and console lines streamed with
// --verbose lose the escape sequences and control characters a guest put in
// them.
func TestProgressPlainHasNoEscapes(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	stop := p.live(2) // not a terminal: no live display
	p.Logf("matrix m: 2 cell(s)")
	p.Phase("6.12-base-minimal", "build")
	p.Phase("6.12-base-minimal", "boot")
	w := &prefixWriter{p: p, prefix: "[6.12-base-minimal] "}
	w.Write([]byte("[    0.000000] Linux version 6.12\n\x1b[2J\x1b[31mred\x07 guest\r\npartial"))
	w.Write([]byte(" line\n"))
	p.CellDone(&results.Cell{ID: "6.12-base-minimal", Status: results.StatusPassed})
	stop()
	out := b.String()
	for _, c := range out {
		if c < 0x20 && c != '\n' && c != '\t' {
			t.Fatalf("control character %q in non-terminal progress output:\n%q", c, out)
		}
	}
	for _, want := range []string{"6.12-base-minimal            build", "[6.12-base-minimal] [    0.000000] Linux version 6.12", "[6.12-base-minimal] red guest", "[6.12-base-minimal] partial line", "6.12-base-minimal            passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestProgressLiveRedraw: on a terminal, phases update the live lines in
// place instead of printing a line each.
func TestProgressLiveRedraw(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	p.tty, p.total = true, 3
	p.Phase("a", "build")
	p.Phase("a", "boot")
	if strings.Count(b.String(), "\x1b[2K") == 0 || strings.Contains(b.String(), "(+") {
		t.Errorf("live mode printed phase lines instead of redrawing:\n%q", b.String())
	}
	p.CellDone(&results.Cell{ID: "a", Status: results.StatusPassed})
	if !strings.Contains(b.String(), "1/3 cells") {
		t.Errorf("no overall bar:\n%q", b.String())
	}
}
