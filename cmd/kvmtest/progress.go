package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
)

// progress reports what a run does. When its writer is not a terminal
// (CI logs, pipes) it prints one timestamped line per phase change and
// nothing else: no control characters. On a terminal it keeps, below the
// log lines, one live line per running cell (its phase and elapsed time)
// and an overall bar, redrawn in place.
//
// Every message and phase goes through guesttext.Line before progress adds
// its own escapes (the redraw's): guest text in them (suite and test names
// in a phase or a cell's reason, console lines under --verbose) can
// neither drive the terminal nor start a line of its own.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
	tty   bool
	start time.Time
	since map[string]time.Time
	phase map[string]string // running cells: current phase
	order []string          // running cells, in start order
	done  int
	total int
	drawn int // live lines currently on screen
	stop  chan struct{}
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, quiet: quiet, start: time.Now(), since: map[string]time.Time{}, phase: map[string]string{}}
}

// live turns on the in-place display for a run of total cells when w is a
// terminal. It returns a function that stops it.
func (p *progress) live(total int) func() {
	f, ok := p.w.(*os.File)
	if p.quiet || !ok || !isTerminal(f) {
		return func() {}
	}
	p.mu.Lock()
	p.tty, p.total, p.stop = true, total, make(chan struct{})
	p.mu.Unlock()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.mu.Lock()
				p.redraw()
				p.mu.Unlock()
			case <-p.stop:
				return
			}
		}
	}()
	return func() {
		close(p.stop)
		p.mu.Lock()
		p.clear()
		p.tty = false
		p.mu.Unlock()
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// clear erases the live lines (caller holds mu).
func (p *progress) clear() {
	for ; p.drawn > 0; p.drawn-- {
		fmt.Fprint(p.w, "\x1b[1A\x1b[2K")
	}
}

// redraw repaints the live lines (caller holds mu).
func (p *progress) redraw() {
	if !p.tty {
		return
	}
	p.clear()
	for _, id := range p.order {
		fmt.Fprintf(p.w, "  %-30s %-20s %s\n", guesttext.Line(id), p.phase[id], time.Since(p.since[id]).Round(time.Second))
		p.drawn++
	}
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = width * p.done / p.total
	}
	fmt.Fprintf(p.w, "  [%s%s] %d/%d cells, %s\n", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		p.done, p.total, time.Since(p.start).Round(time.Second))
	p.drawn++
}

// printf prints one timestamped log line: the message made one line by
// guesttext.Line, whatever its arguments hold.
func (p *progress) printf(format string, args ...any) {
	if p.quiet {
		return
	}
	msg := guesttext.Line(fmt.Sprintf(format, args...))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05"), msg)
	p.redraw()
}

// Phase records the phase of a cell (a guest's suite name, in "suite
// NAME") and shows it: on the live line, or as a log line.
func (p *progress) Phase(cell, phase string) {
	p.mu.Lock()
	if _, ok := p.since[cell]; !ok {
		p.since[cell] = time.Now()
		p.order = append(p.order, cell)
	}
	phase = guesttext.Line(phase)
	p.phase[cell] = phase
	el := time.Since(p.since[cell]).Round(time.Second)
	tty := p.tty
	if tty {
		p.redraw()
	}
	p.mu.Unlock()
	if !tty {
		p.printf("%-28s %-16s (+%s)", cell, phase, el)
	}
}

// Logf prints a log line (see printf).
func (p *progress) Logf(format string, args ...any) { p.printf(format, args...) }

// CellDone prints a finished cell's status and the first line of its
// reason (which names the guest's suites and tests).
func (p *progress) CellDone(c *results.Cell) {
	p.mu.Lock()
	p.done++
	delete(p.phase, c.ID)
	for i, id := range p.order {
		if id == c.ID {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	msg := c.Status
	if c.Reason != "" {
		msg += ": " + firstLine(c.Reason)
	}
	p.printf("%-28s %s", c.ID, msg)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// printSummary prints the one-screen summary of a run. Every string from
// run.json goes through guesttext.Line: names, statuses and reasons come
// from the guest.
func printSummary(w io.Writer, run *results.Run, out string) {
	l := guesttext.Line
	fmt.Fprintf(w, "\nkvmtest: %s, %d cell(s), accelerator %s\n", l(run.Matrix.Name), len(run.Cells), l(run.Host.Accel))
	for _, c := range run.Cells {
		build := "built"
		if c.BuildCached {
			build = "cached"
		}
		if c.ArtifactKey == "" {
			build = "-"
		}
		fmt.Fprintf(w, "  %-30s %-12s build %-6s %6.1fs", l(c.ID), l(c.Status), build, c.Timings["build"])
		if v, ok := c.Timings["vm"]; ok {
			fmt.Fprintf(w, "  vm %5.1fs", v)
		}
		fmt.Fprintln(w)
		for _, s := range c.Suites {
			if c.Status == results.StatusInterrupted {
				break // partial results: the reason line says enough
			}
			pass, fail, skip, unexpected := 0, 0, 0, 0
			for _, t := range s.Tests {
				switch t.Status {
				case results.Pass:
					pass++
				case results.Skip:
					skip++
				default:
					fail++
				}
				if !t.AsExpected {
					unexpected++
				}
			}
			mark := "as expected"
			if !s.AsExpected {
				mark = "NOT as expected"
			}
			fmt.Fprintf(w, "      suite %-18s %-7s %d passed, %d failed, %d skipped; %s\n", l(s.Name), l(s.Status), pass, fail, skip, mark)
			expectedFails := 0
			for _, t := range s.Tests {
				switch {
				case !t.AsExpected:
					want := t.Expected
					if want == "" {
						want = results.Pass
					}
					fmt.Fprintf(w, "        %s: %s, expected %s\n", l(t.Name), l(t.Status), l(want))
				case t.Expected != "" && t.Status != results.Pass:
					expectedFails++
				}
			}
			if expectedFails > 0 {
				fmt.Fprintf(w, "        (%d failure(s) declared expected by the matrix)\n", expectedFails)
			}
		}
		if c.Status != results.StatusPassed && c.Reason != "" {
			fmt.Fprintf(w, "      %s\n", l(firstLine(c.Reason)))
		}
		if c.FirstError != "" {
			fmt.Fprintf(w, "      first error: %s\n", l(c.FirstError))
		}
	}
	fmt.Fprintf(w, "results: %s/run.json\n", l(out))
}

// prefixWriter passes complete lines to the progress output, each with a
// prefix (the console of a cell under --verbose). Each line goes through
// guesttext.Clean, so a guest cannot drive the terminal: a CR LF ends a
// line, a lone CR (which would let the guest rewrite the line) starts a
// new one, with the prefix, so a guest cannot print a line that reads as
// kvmtest's. A line longer than 4 KiB is cut (at a character boundary).
type prefixWriter struct {
	p      *progress
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		next := i + 1
		if i < 0 {
			if len(w.buf) <= 4096 {
				break
			}
			i = 4096
			for i > 4096-utf8.UTFMax && !utf8.RuneStart(w.buf[i]) {
				i--
			}
			next = i
		}
		line := bytes.TrimSuffix(w.buf[:i], []byte("\r"))
		for _, l := range strings.Split(guesttext.Clean(string(line)), "\n") {
			w.p.printf("%s%s", w.prefix, l)
		}
		w.buf = w.buf[next:]
	}
	return len(b), nil
}
