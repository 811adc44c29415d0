package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/results"
)

// progress prints one timestamped line per phase change: readable in a
// terminal and in CI logs alike (no control characters).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
	start time.Time
	since map[string]time.Time
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, quiet: quiet, start: time.Now(), since: map[string]time.Time{}}
}

func (p *progress) printf(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (p *progress) Phase(cell, phase string) {
	p.mu.Lock()
	if _, ok := p.since[cell]; !ok {
		p.since[cell] = time.Now()
	}
	el := time.Since(p.since[cell]).Round(time.Second)
	p.mu.Unlock()
	p.printf("%-28s %-16s (+%s)", cell, phase, el)
}

func (p *progress) Logf(format string, args ...any) { p.printf(format, args...) }

func (p *progress) CellDone(c *results.Cell) {
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

// printSummary prints the one-screen summary of a run.
func printSummary(w io.Writer, run *results.Run, out string) {
	fmt.Fprintf(w, "\nkvmtest: %s, %d cell(s), accelerator %s\n", run.Matrix.Name, len(run.Cells), run.Host.Accel)
	for _, c := range run.Cells {
		build := "built"
		if c.BuildCached {
			build = "cached"
		}
		if c.ArtifactKey == "" {
			build = "-"
		}
		fmt.Fprintf(w, "  %-30s %-12s build %-6s %6.1fs", c.ID, c.Status, build, c.Timings["build"])
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
			fmt.Fprintf(w, "      suite %-18s %-7s %d passed, %d failed, %d skipped; %s\n", s.Name, s.Status, pass, fail, skip, mark)
			expectedFails := 0
			for _, t := range s.Tests {
				switch {
				case !t.AsExpected:
					want := t.Expected
					if want == "" {
						want = results.Pass
					}
					fmt.Fprintf(w, "        %s: %s, expected %s\n", t.Name, t.Status, want)
				case t.Expected != "" && t.Status != results.Pass:
					expectedFails++
				}
			}
			if expectedFails > 0 {
				fmt.Fprintf(w, "        (%d failure(s) declared expected by the matrix)\n", expectedFails)
			}
		}
		if c.Status != results.StatusPassed && c.Reason != "" {
			fmt.Fprintf(w, "      %s\n", firstLine(c.Reason))
		}
		if c.FirstError != "" {
			fmt.Fprintf(w, "      first error: %s\n", c.FirstError)
		}
	}
	fmt.Fprintf(w, "results: %s/run.json\n", out)
}
