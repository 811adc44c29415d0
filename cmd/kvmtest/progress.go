package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

// progressMode is how progress shows itself (--progress, as docker
// buildx's).
type progressMode string

const (
	// progressAuto: the live display when the output is a terminal and
	// TERM is not dumb, plain lines otherwise.
	progressAuto progressMode = "auto"
	// progressPlain: timestamped lines only, never an escape sequence.
	progressPlain progressMode = "plain"
	// progressTTY: the live display even when the output is not a
	// terminal (a log viewer that understands cursor movement).
	progressTTY progressMode = "tty"
)

func (m *progressMode) String() string { return string(*m) }

func (m *progressMode) Set(s string) error {
	switch progressMode(s) {
	case progressAuto, progressPlain, progressTTY:
		*m = progressMode(s)
		return nil
	}
	return fmt.Errorf("want auto, plain or tty")
}

// progressFlag defines --progress on fs.
func progressFlag(fs *flag.FlagSet) *progressMode {
	m := progressAuto
	fs.Var(&m, "progress", "progress display: auto (live lines on a terminal, plain lines when not one or when TERM=dumb), plain (timestamped lines, no escape sequences) or tty (live lines even when not a terminal); NO_COLOR turns colour off")
	return &m
}

// progress reports what a run does. In plain mode (--progress=plain, or
// auto when its writer is not a terminal or TERM is dumb: CI logs, pipes)
// it prints one timestamped line per phase change and nothing else: no
// control characters. Live (--progress=tty, or auto on a terminal) it
// keeps, below the log lines, one line per running cell (its elapsed time
// and phase) and an overall bar, each cut to the terminal's width (read
// at every redraw, and redrawn at once on SIGWINCH) so that none wraps,
// and redrawn in place; a finished cell's status is coloured unless
// NO_COLOR is set.
//
// Every message and phase goes through guesttext.Line before progress adds
// its own escapes (the redraw's and the colours): guest text in them
// (suite and test names in a phase or a cell's reason, console lines under
// --verbose) can neither drive the terminal nor start a line of its own.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
	mode  progressMode
	// size returns the terminal's size; nil when w is not a terminal.
	size  func() (width, height int, ok bool)
	tty   bool // the live display is on
	color bool // and colours finished cells' statuses
	start time.Time
	since map[string]time.Time
	phase map[string]string // running cells: current phase
	order []string          // running cells, in start order
	done  int
	total int
	// drawn holds the display width of each live line on screen, top to
	// bottom: what the next redraw erases.
	drawn []int
	stop  chan struct{}
	ended chan struct{}
}

func newProgress(w io.Writer, quiet bool, mode progressMode) *progress {
	if mode == "" {
		mode = progressAuto
	}
	return &progress{w: w, quiet: quiet, mode: mode, size: terminalSize(w), start: time.Now(),
		since: map[string]time.Time{}, phase: map[string]string{}}
}

// sizer is a writer that is a terminal and knows its size (a fake
// terminal in tests; an *os.File is asked with golang.org/x/term).
type sizer interface {
	Size() (width, height int)
}

// terminalSize returns how to read the size of the terminal w is, nil
// when w is not a terminal.
func terminalSize(w io.Writer) func() (int, int, bool) {
	switch t := w.(type) {
	case *os.File:
		fd := int(t.Fd())
		if !term.IsTerminal(fd) {
			return nil
		}
		return func() (int, int, bool) {
			w, h, err := term.GetSize(fd)
			return w, h, err == nil && w > 0
		}
	case sizer:
		return func() (int, int, bool) {
			w, h := t.Size()
			return w, h, w > 0
		}
	}
	return nil
}

// wantLive reports whether the live display is for this progress, and
// whether it may colour.
func (p *progress) wantLive() (live, color bool) {
	dumb := os.Getenv("TERM") == "dumb"
	switch p.mode {
	case progressPlain:
		return false, false
	case progressAuto:
		if p.size == nil || dumb {
			return false, false
		}
	}
	return true, !dumb && os.Getenv("NO_COLOR") == ""
}

// live turns on the in-place display for a run of total cells (see
// progress). It returns a function that stops it, erasing the live
// lines (once, however often it is called).
func (p *progress) live(total int) func() {
	live, color := p.wantLive()
	if p.quiet || !live {
		return func() {}
	}
	p.mu.Lock()
	p.tty, p.color, p.total = true, color, total
	p.stop, p.ended = make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer close(p.ended)
		defer signal.Stop(winch)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-winch:
			case <-p.stop:
				return
			}
			p.mu.Lock()
			p.paint()
			p.mu.Unlock()
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(p.stop)
			<-p.ended
			p.mu.Lock()
			defer p.mu.Unlock()
			var b bytes.Buffer
			width, _ := p.dims()
			p.erase(&b, width)
			p.w.Write(b.Bytes())
			p.tty, p.color = false, false
		})
	}
}

// dims returns the width and height of the terminal: its size when it
// is one, else $COLUMNS (or 80) wide and of unknown height (0).
func (p *progress) dims() (width, height int) {
	if p.size != nil {
		if w, h, ok := p.size(); ok {
			return w, h
		}
	}
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c, 0
	}
	return 80, 0
}

// erase appends to b what erases the live lines on screen (caller holds
// mu): the cursor back up to the first of them, and the screen below
// erased. A line drawn on a wider terminal than width takes more than
// one row once a terminal that rewraps on resize has rewrapped it.
func (p *progress) erase(b *bytes.Buffer, width int) {
	rows := 0
	for _, w := range p.drawn {
		rows += max(1, (w+width-1)/width)
	}
	p.drawn = p.drawn[:0]
	if rows > 0 {
		fmt.Fprintf(b, "\r\x1b[%dA\x1b[J", rows)
	}
}

// paint writes, in one write, the log lines and, when the display is
// live, the live lines erased before them and drawn again after them
// (caller holds mu).
func (p *progress) paint(log ...string) {
	var b bytes.Buffer
	width, height := p.dims()
	if p.tty {
		p.erase(&b, width)
	}
	for _, l := range log {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if p.tty {
		for _, l := range p.liveLines(width, height) {
			b.WriteString(l)
			b.WriteByte('\n')
			p.drawn = append(p.drawn, displayWidth(l))
		}
	}
	if b.Len() > 0 {
		p.w.Write(b.Bytes())
	}
}

// liveLines lays out the live lines for a terminal width columns wide
// and height rows high (0: unknown), none wider than width: a line per
// running cell (as many as fit, then how many more), then the overall
// bar.
func (p *progress) liveLines(width, height int) []string {
	idW := 0
	for _, id := range p.order {
		idW = max(idW, displayWidth(id))
	}
	idW = min(idW, 30)
	shown, more := len(p.order), 0
	if height > 0 && shown+1 > height-1 { // the last row holds the cursor
		shown = max(0, height-3)
		more = len(p.order) - shown
	}
	var lines []string
	for _, id := range p.order[:shown] {
		el := time.Since(p.since[id]).Round(time.Second)
		lines = append(lines, truncate(fmt.Sprintf("  %s %6s  %s", pad(id, idW), el, p.phase[id]), width))
	}
	if more > 0 {
		lines = append(lines, truncate(fmt.Sprintf("  … and %d more running", more), width))
	}
	suffix := fmt.Sprintf("%d/%d cells, %s", p.done, p.total, time.Since(p.start).Round(time.Second))
	bar := "  " + suffix
	if bw := min(30, width-len(suffix)-5); bw >= 5 {
		filled := 0
		if p.total > 0 {
			filled = bw * p.done / p.total
		}
		bar = fmt.Sprintf("  [%s%s] %s", strings.Repeat("#", filled), strings.Repeat("-", bw-filled), suffix)
	}
	return append(lines, truncate(bar, width))
}

// displayWidth is how many columns s (text made safe by guesttext.Line:
// no controls) takes on a terminal, erring on the wide side: a character
// of the East Asian wide and fullwidth blocks and the emoji takes two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf, r >= 0xac00 && r <= 0xd7a3,
		r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f, r >= 0xff00 && r <= 0xff60,
		r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1faff, r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}

// truncate cuts s to at most width columns, ending it with "…" when cut.
func truncate(s string, width int) string {
	if displayWidth(s) <= width {
		return s
	}
	if width < 1 {
		return ""
	}
	n := 0
	for i, r := range s {
		if n+runeWidth(r) > width-1 {
			return s[:i] + "…"
		}
		n += runeWidth(r)
	}
	return s
}

// pad cuts or pads s to exactly width columns.
func pad(s string, width int) string {
	s = truncate(s, width)
	return s + strings.Repeat(" ", max(0, width-displayWidth(s)))
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
	p.paint(time.Now().Format("15:04:05") + " " + msg)
}

// Println prints line (which the caller made safe) as it is, above the
// live lines when they are on: for commands that print lines of their
// own to w (stdout, or the progress's writer when w is nil) while a
// display is live.
func (p *progress) Println(w io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w == nil || w == p.w {
		p.paint(line)
		return
	}
	if !p.tty {
		fmt.Fprintln(w, line)
		return
	}
	var b bytes.Buffer
	width, _ := p.dims()
	p.erase(&b, width)
	p.w.Write(b.Bytes())
	fmt.Fprintln(w, line)
	p.paint()
}

// Phase records the phase of a cell (a guest's suite name, in "suite
// NAME") and shows it: on the live line, or as a log line.
func (p *progress) Phase(cell, phase string) {
	p.mu.Lock()
	cell = guesttext.Line(cell)
	if _, ok := p.since[cell]; !ok {
		p.since[cell] = time.Now()
		p.order = append(p.order, cell)
	}
	phase = guesttext.Line(phase)
	p.phase[cell] = phase
	el := time.Since(p.since[cell]).Round(time.Second)
	tty := p.tty
	if tty {
		p.paint()
	}
	p.mu.Unlock()
	if !tty {
		p.printf("%-28s %-16s (+%s)", cell, phase, el)
	}
}

// Logf prints a log line (see printf).
func (p *progress) Logf(format string, args ...any) { p.printf(format, args...) }

// CellDone prints a finished cell's status (coloured on a live display
// unless NO_COLOR is set) and the first line of its reason (which names
// the guest's suites and tests).
func (p *progress) CellDone(c *results.Cell) {
	id, status, rest := guesttext.Line(c.ID), guesttext.Line(c.Status), ""
	if c.Reason != "" {
		rest = guesttext.Line(": " + firstLine(c.Reason))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finish(id)
	if p.quiet {
		if p.tty {
			p.paint()
		}
		return
	}
	if p.tty && p.color {
		status = statusColor(c.Status) + status + "\x1b[0m"
	}
	p.paint(fmt.Sprintf("%s %-28s %s%s", time.Now().Format("15:04:05"), id, status, rest))
}

// Done counts the cell id finished, with no line of its own (the
// command prints what became of it).
func (p *progress) Done(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finish(guesttext.Line(id))
	if p.tty {
		p.paint()
	}
}

// finish counts the cell id (made safe) finished and drops its live
// line (caller holds mu).
func (p *progress) finish(id string) {
	p.done++
	delete(p.phase, id)
	for i, o := range p.order {
		if o == id {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// statusColor is the SGR sequence that colours a cell status: green when
// it passed or was skipped, red when the kernel or its tests failed,
// yellow when the machinery did (as report.html).
func statusColor(status string) string {
	switch status {
	case results.StatusPassed, results.StatusSkipped:
		return "\x1b[32m"
	case results.StatusFailed, results.StatusCrashed, results.StatusTimedOut:
		return "\x1b[1;31m"
	}
	return "\x1b[1;33m"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// printSummary prints the summary of a run, sized for a terminal
// whatever the number of tests: per cell one line (status, build, time,
// test counts), then one line per suite only when the suite is notable
// (not as expected, skipped as a whole, or its program crashed), and the
// tests not as expected, at most summaryTests per cell, then how many
// more report.md lists. Every string from run.json goes through
// guesttext.Line: names, statuses and reasons come from the guest. A
// reason, a suite's message or a build's first error that spans several
// lines (a config's options that did not survive olddefconfig with their
// unmet dependencies, a compiler's errors) is shown by its first lines
// (see printLines).
func printSummary(w io.Writer, run *results.Run, out string) {
	l := guesttext.Line
	fmt.Fprintf(w, "\nkvmtest: %s, %d cell(s), accelerator %s\n", l(run.Matrix.Name), len(run.Cells), l(run.Host.Accel))
	width := 30 // the id column: wider when an id is (a matrix of several architectures)
	for _, c := range run.Cells {
		width = max(width, len([]rune(l(c.ID))))
	}
	for _, c := range run.Cells {
		build := "built"
		if c.BuildCached {
			build = "cached"
		}
		if c.ArtifactKey == "" {
			build = "-"
		}
		fmt.Fprintf(w, "  %-*s %-12s build %-6s %6.1fs", width, l(c.ID), l(c.Status), build, c.Timings["build"])
		if v, ok := c.Timings["vm"]; ok {
			fmt.Fprintf(w, "  vm %5.1fs", v)
		}
		if tc := cellTestCounts(c); tc != "" {
			fmt.Fprintf(w, "  %s", tc)
		}
		fmt.Fprintln(w)
		if c.Status != results.StatusInterrupted { // partial results: the reason line says enough
			printSuites(w, c)
		}
		if c.Status != results.StatusPassed && c.Reason != "" {
			printLines(w, "      ", c.Reason)
		}
		if c.FirstError != "" {
			printLines(w, "      ", "first error: "+c.FirstError)
		}
	}
	fmt.Fprintf(w, "results: %s/run.json\n", l(out))
}

// summaryTests caps the tests not as expected the summary lists per cell
// (report.md lists them all).
const summaryTests = 10

// tally counts tests by what the summary says of them.
type tally struct{ pass, fail, skip, xfail, notRun int }

// add counts suite s's tests; those its crashed test binary never ran to
// their end are not run, not failed.
func (t *tally) add(s *results.Suite) {
	notRun := map[string]bool{}
	if s.Crash != nil {
		for _, n := range s.Crash.NotRun {
			notRun[n] = true
		}
	}
	for _, x := range s.Tests {
		switch {
		case notRun[x.Name]:
			t.notRun++
		case x.Status == results.Pass:
			t.pass++
		case x.Status == results.Skip:
			t.skip++
		default:
			t.fail++
			if x.AsExpected {
				t.xfail++
			}
		}
	}
}

// cellTestCounts is a cell's tests in one phrase ("312 passed, 4 failed,
// 20 skipped"), "" when it has none.
func cellTestCounts(c *results.Cell) string {
	var t tally
	for _, s := range c.Suites {
		t.add(s)
	}
	if t.pass+t.fail+t.skip+t.notRun == 0 {
		return ""
	}
	s := fmt.Sprintf("%d passed, %d failed", t.pass, t.fail)
	if t.xfail > 0 {
		s += fmt.Sprintf(" (%d as expected)", t.xfail)
	}
	if t.notRun > 0 {
		s += fmt.Sprintf(", %d not run", t.notRun)
	}
	return s + fmt.Sprintf(", %d skipped", t.skip)
}

// notableSuite says whether the summary gives suite s a line of its own:
// not as expected, or skipped as a whole.
func notableSuite(s *results.Suite) bool {
	return !s.AsExpected || s.Status == results.Skip
}

// printSuites prints the notable suites of cell c and its tests not as
// expected, at most summaryTests of them.
func printSuites(w io.Writer, c *results.Cell) {
	l := guesttext.Line
	listed, more := 0, 0
	for _, s := range c.Suites {
		if !notableSuite(s) {
			continue
		}
		var t tally
		t.add(s)
		mark := "as expected"
		if !s.AsExpected {
			mark = "NOT as expected"
		}
		notRun := ""
		if t.notRun > 0 {
			notRun = fmt.Sprintf(", %d not run", t.notRun)
		}
		fmt.Fprintf(w, "      suite %-18s %-7s %d passed, %d failed%s, %d skipped; %s\n", l(s.Name), l(s.Status), t.pass, t.fail, notRun, t.skip, mark)
		if s.Crash != nil {
			printLines(w, "        ", report.CrashText(s.Crash))
			if n := len(s.Crash.NotRun); n > 0 {
				fmt.Fprintf(w, "        %d test(s) never reported, not run: %s\n", n, l(listSome(s.Crash.NotRun, 5)))
			}
		}
		if (!s.AsExpected || s.Status == results.Skip) && s.Message != "" {
			printLines(w, "        ", s.Message)
		}
		for _, x := range s.Tests {
			if x.AsExpected || (s.Crash != nil && slices.Contains(s.Crash.NotRun, x.Name)) {
				continue
			}
			if listed == summaryTests {
				more++
				continue
			}
			listed++
			want := x.Expected
			if want == "" {
				want = results.Pass
			}
			fmt.Fprintf(w, "        %s: %s, expected %s\n", l(x.Name), l(x.Status), l(want))
		}
		if t.xfail > 0 {
			fmt.Fprintf(w, "        (%d failure(s) declared expected by the matrix)\n", t.xfail)
		}
	}
	if more > 0 {
		fmt.Fprintf(w, "      … %d more test(s) not as expected in report.md\n", more)
	}
}

// Caps of printLines.
const (
	summaryLines     = 8   // lines of one text
	summaryLineRunes = 400 // characters of one line
)

// printLines prints text (guest text, or quoting it), one or more lines,
// each after indent: its first summaryLines lines, each cut at
// summaryLineRunes characters, then how many more lines run.json has.
// The text is split at its newlines, then each line is made one line by
// guesttext.Line: a CR or an escape sequence cannot start or rewrite a
// line, and each line of the text starts with indent, so none reads as a
// cell's line of the summary.
func printLines(w io.Writer, indent, text string) {
	lines := strings.Split(strings.TrimRight(text, "\r\n"), "\n")
	more := 0
	if len(lines) > summaryLines {
		lines, more = lines[:summaryLines], len(lines)-summaryLines
	}
	for _, line := range lines {
		line = guesttext.Line(strings.TrimSuffix(line, "\r"))
		if utf8.RuneCountInString(line) > summaryLineRunes {
			line = string([]rune(line)[:summaryLineRunes]) + "…"
		}
		fmt.Fprintf(w, "%s%s\n", indent, line)
	}
	if more > 0 {
		fmt.Fprintf(w, "%s… %d more line(s) in run.json\n", indent, more)
	}
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

// listSome is up to max of names, then how many more.
func listSome(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}
