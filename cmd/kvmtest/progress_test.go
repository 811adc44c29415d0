package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kvmtest/kvmtest/results"
)

// TestProgressPlainHasNoEscapes: when the output is not a terminal (CI),
// progress is plain timestamped lines, and console lines streamed with
// --verbose lose the escape sequences and control characters a guest put in
// them.
func TestProgressPlainHasNoEscapes(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, progressAuto)
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

// vt is a fake terminal width columns wide: it interprets what progress
// writes as a terminal does (text with the VT100's automatic wrap at the
// last column, CR, LF, and the control sequences CUU, ED, EL and SGR)
// onto an unbounded screen, and fails the test on any other control. On
// Resize it rewraps the screen as the terminals that rewrap on resize do
// (VTE, Konsole, kitty, tmux) when reflow is set, or cuts the rows as
// xterm does.
type vt struct {
	t             *testing.T
	mu            sync.Mutex
	width, height int
	reflow        bool
	rows          [][]rune
	wrapped       []bool // rows[i] goes on in rows[i+1] (an automatic wrap)
	row, col      int
	pending       bool // a character was written in the last column: the next one wraps
	raw           bytes.Buffer
	writes        int
	sgr           int // SGR (colour) sequences seen
}

func newVT(t *testing.T, width, height int, reflow bool) *vt {
	return &vt{t: t, width: width, height: height, reflow: reflow, rows: [][]rune{nil}, wrapped: []bool{false}}
}

func (v *vt) Size() (int, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.width, v.height
}

var csi = regexp.MustCompile(`^\x1b\[([0-9;]*)([A-Za-z])`)

func (v *vt) Write(b []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.raw.Write(b)
	v.writes++
	s := string(b)
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == 0x1b:
			m := csi.FindStringSubmatch(s[i:])
			if m == nil {
				v.t.Errorf("vt: an escape that is no control sequence: %q", s[i:min(len(s), i+10)])
				i++
				continue
			}
			i += len(m[0])
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A": // CUU
				v.row, v.pending = max(0, v.row-max(n, 1)), false
			case "J": // ED: 0, from the cursor to the end of the screen
				if n != 0 {
					v.t.Errorf("vt: ED %d", n)
				}
				v.rows[v.row] = v.rows[v.row][:min(v.col, len(v.rows[v.row]))]
				v.rows, v.wrapped = v.rows[:v.row+1], v.wrapped[:v.row+1]
				v.wrapped[v.row] = false
			case "K": // EL
				if n == 2 {
					v.rows[v.row] = nil
				} else {
					v.rows[v.row] = v.rows[v.row][:min(v.col, len(v.rows[v.row]))]
				}
			case "m":
				v.sgr++
			default:
				v.t.Errorf("vt: unexpected control sequence %q", m[0])
			}
		case c == '\r':
			v.col, v.pending = 0, false
			i++
		case c == '\n': // the tty's ONLCR: CR LF
			v.down()
			i++
		case c < 0x20 || c == 0x7f:
			v.t.Errorf("vt: control character %q", c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			v.put(r)
			i += n
		}
	}
	return len(b), nil
}

func (v *vt) down() {
	v.row++
	if v.row == len(v.rows) {
		v.rows, v.wrapped = append(v.rows, nil), append(v.wrapped, false)
	}
	v.col, v.pending = 0, false
}

func (v *vt) put(r rune) {
	if v.pending {
		v.wrapped[v.row] = true
		v.down()
	}
	for len(v.rows[v.row]) <= v.col {
		v.rows[v.row] = append(v.rows[v.row], ' ')
	}
	v.rows[v.row][v.col] = r
	if v.col == v.width-1 {
		v.pending = true
	} else {
		v.col++
	}
}

// Resize makes the terminal width columns wide (then send SIGWINCH).
func (v *vt) Resize(width int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.reflow {
		for i, r := range v.rows {
			v.rows[i] = r[:min(len(r), width)]
		}
		v.width, v.col = width, min(v.col, width-1)
		return
	}
	// The logical lines, and where the cursor is in them.
	var lines [][]rune
	var cl, coff int
	var cur []rune
	for i, r := range v.rows {
		if i == v.row {
			cl, coff = len(lines), len(cur)+v.col
		}
		cur = append(cur, r...)
		if !v.wrapped[i] {
			lines, cur = append(lines, cur), nil
		}
	}
	v.rows, v.wrapped = nil, nil
	for li, l := range lines {
		if li == cl {
			v.row, v.col = len(v.rows)+coff/width, coff%width
		}
		for len(l) > width {
			v.rows, v.wrapped = append(v.rows, l[:width]), append(v.wrapped, true)
			l = l[width:]
		}
		v.rows, v.wrapped = append(v.rows, l), append(v.wrapped, false)
	}
	for v.row >= len(v.rows) {
		v.rows, v.wrapped = append(v.rows, nil), append(v.wrapped, false)
	}
	v.width, v.pending = width, false
}

// screen returns the rows on the screen, trailing spaces cut, without
// the empty row the cursor is on after the last line; and the lines,
// each the rows the terminal wrapped it onto joined again.
func (v *vt) screen() (rows, lines []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	line := ""
	for i, r := range v.rows {
		rows = append(rows, strings.TrimRight(string(r), " "))
		line += string(r)
		if !v.wrapped[i] {
			lines, line = append(lines, strings.TrimRight(line, " ")), ""
		}
	}
	for len(rows) > 0 && rows[len(rows)-1] == "" {
		rows = rows[:len(rows)-1]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return rows, lines
}

func (v *vt) output() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.raw.String()
}

var timestamped = regexp.MustCompile(`^\d\d:\d\d:\d\d `)

// checkScreen checks what v shows: every log line once, in order, then
// (while the display is live) exactly one copy of the live lines: one per
// running cell (or as many as fit, and how many more), then the bar; and
// no row wider than the terminal.
func checkScreen(t *testing.T, v *vt, live bool, logs, running []string) {
	t.Helper()
	rows, lines := v.screen()
	width, height := v.Size()
	dump := strings.Join(rows, "\n")
	for _, r := range rows {
		if n := utf8.RuneCountInString(r); n > width {
			t.Errorf("width %d: a row of %d columns: %q", width, n, r)
		}
	}
	var got []string
	i := 0
	for ; i < len(lines) && timestamped.MatchString(lines[i]); i++ {
		got = append(got, timestamped.ReplaceAllString(lines[i], ""))
	}
	if strings.Join(got, "\n") != strings.Join(logs, "\n") {
		t.Errorf("width %d: log lines\n got %q\nwant %q\nscreen:\n%s", width, got, logs, dump)
	}
	block := lines[i:]
	want := 0
	if live {
		want = len(running) + 1
		if height > 0 && want > height-1 {
			want = height - 1
		}
	}
	if len(block) != want {
		t.Errorf("width %d: %d live lines, want %d (%d running cells and the bar): stale copies?\n%s", width, len(block), want, len(running), dump)
		return
	}
	if !live {
		return
	}
	for _, l := range block {
		if utf8.RuneCountInString(l) > width {
			t.Errorf("width %d: a live line wrapped: %q", width, l)
		}
	}
	if !strings.Contains(block[len(block)-1], "cells,") {
		t.Errorf("width %d: the last row is not the bar: %q", width, block[len(block)-1])
	}
	shown := len(block) - 1
	if shown < len(running) {
		shown--
		if more := fmt.Sprintf("and %d more running", len(running)-shown); !strings.Contains(block[shown], more) {
			t.Errorf("width %d: live line %d is %q, want %q", width, shown, block[shown], more)
		}
	}
	for j, id := range running[:shown] {
		if !strings.HasPrefix(block[j], "  "+id[:min(len(id), 12)]) {
			t.Errorf("width %d: live line %d is %q, want cell %s's", width, j, block[j], id)
		}
	}
}

// live runs a sequence of events on p (whose terminal is v), checking
// the screen after each: cells start, change phase, log lines come,
// cells finish, the display redraws by itself.
func liveSequence(t *testing.T, p *progress, v *vt) (logs, running []string) {
	ids := []string{"6.12-base-minimal", "6.12-vmsplice-v1-minimal", "6.12-vmsplice-v2-minimal-and-a-long-config", "6.1-base-minimal", "6.1-vmsplice-v2-minimal"}
	logf := func(msg string) {
		p.Logf("%s", msg)
		logs = append(logs, msg)
	}
	logf("matrix default: 6 cell(s)")
	for _, id := range ids {
		p.Phase(id, "build")
		running = append(running, id)
		checkScreen(t, v, true, logs, running)
	}
	for _, id := range ids {
		p.Phase(id, "suite kselftest-splice (and a phase long enough to be cut at 120 columns, and more, and more)")
		checkScreen(t, v, true, logs, running)
	}
	logf("a log line")
	checkScreen(t, v, true, logs, running)
	p.CellDone(&results.Cell{ID: ids[1], Status: results.StatusFailed, Reason: "vmsplice/TestX: fail (expected pass)\nmore"})
	logs = append(logs, fmt.Sprintf("%-28s failed: vmsplice/TestX: fail (expected pass)", ids[1]))
	running = append(running[:1], running[2:]...)
	checkScreen(t, v, true, logs, running)
	for range 3 {
		p.mu.Lock()
		p.paint() // the ticker's redraw
		p.mu.Unlock()
		checkScreen(t, v, true, logs, running)
	}
	return logs, running
}

// TestProgressLiveFitsTheTerminal: on terminals 50 and 120 columns wide,
// no live line is wider than the terminal, and however many redraws
// there were the screen holds each log line once and one copy of the
// live lines; stopping the display leaves the log lines alone. With
// colour the finished cell's status is coloured.
func TestProgressLiveFitsTheTerminal(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("NO_COLOR", "")
	for _, width := range []int{50, 120} {
		t.Run(strconv.Itoa(width), func(t *testing.T) {
			v := newVT(t, width, 40, true)
			p := newProgress(v, false, progressAuto)
			stop := p.live(6)
			logs, _ := liveSequence(t, p, v)
			stop()
			checkScreen(t, v, false, logs, nil)
			if v.sgr == 0 || !strings.Contains(v.output(), "\x1b[1;31mfailed\x1b[0m") {
				t.Errorf("the failed status is not coloured")
			}
		})
	}
}

// TestProgressLongLogLine: a log line wider than the terminal wraps (it
// is kept whole), and the redraws after it erase only the live lines.
func TestProgressLongLogLine(t *testing.T) {
	t.Setenv("TERM", "xterm")
	v := newVT(t, 50, 40, true)
	p := newProgress(v, false, progressAuto)
	stop := p.live(2)
	defer stop()
	p.Phase("6.12-base-minimal", "build")
	long := "accelerator: tcg (KVM not usable: /dev/kvm opens but /proc/cpuinfo shows no vmx or svm flag)"
	p.Logf("%s", long)
	p.Phase("6.12-base-minimal", "boot")
	checkScreen(t, v, true, []string{long}, []string{"6.12-base-minimal"})
}

// TestProgressShortTerminal: with more running cells than rows, the live
// lines show as many as fit and how many more there are.
func TestProgressShortTerminal(t *testing.T) {
	t.Setenv("TERM", "xterm")
	v := newVT(t, 80, 6, true)
	p := newProgress(v, false, progressAuto)
	stop := p.live(10)
	defer stop()
	var ids []string
	for i := range 8 {
		ids = append(ids, fmt.Sprintf("6.12-p%d-minimal", i))
		p.Phase(ids[i], "build")
		checkScreen(t, v, true, nil, ids)
	}
	if _, lines := v.screen(); !strings.Contains(lines[len(lines)-2], "and 5 more running") {
		t.Errorf("no count of the cells not shown:\n%s", strings.Join(lines, "\n"))
	}
}

// TestProgressRedrawsOnResize: on SIGWINCH the live lines are redrawn to
// the new width, with no stale copy: shrinking (the terminal rewraps what
// is on screen) and growing again, and growing on a terminal that cuts
// rows instead.
func TestProgressRedrawsOnResize(t *testing.T) {
	t.Setenv("TERM", "xterm")
	for _, tc := range []struct {
		reflow bool
		widths []int
	}{{true, []int{120, 50, 120, 40}}, {false, []int{50, 120}}} {
		t.Run(fmt.Sprintf("reflow=%v", tc.reflow), func(t *testing.T) {
			v := newVT(t, tc.widths[0], 40, tc.reflow)
			p := newProgress(v, false, progressAuto)
			stop := p.live(6)
			defer stop()
			logs, running := liveSequence(t, p, v)
			for _, w := range tc.widths[1:] {
				before := v.writesNow()
				v.Resize(w)
				if err := syscall.Kill(syscall.Getpid(), syscall.SIGWINCH); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(5 * time.Second); v.writesNow() == before; {
					if time.Now().After(deadline) {
						t.Fatal("no redraw after SIGWINCH")
					}
					time.Sleep(5 * time.Millisecond)
				}
				checkScreen(t, v, true, logs, running)
			}
		})
	}
}

func (v *vt) writesNow() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.writes
}

// TestProgressPlainOnADumbTerminal: on a terminal whose TERM is dumb, or
// with --progress=plain, progress writes no escape at all; with
// --progress=tty it draws the live lines even on a writer that is no
// terminal ($COLUMNS wide), and NO_COLOR leaves the colour out.
func TestProgressPlainOnADumbTerminal(t *testing.T) {
	events := func(p *progress) {
		stop := p.live(2)
		p.Logf("matrix m: 2 cell(s)")
		p.Phase("6.12-base-minimal", "build")
		p.Phase("6.12-base-minimal", "suite vmsplice")
		p.Println(nil, "a line of the command's own")
		p.CellDone(&results.Cell{ID: "6.12-base-minimal", Status: results.StatusFailed, Reason: "x"})
		stop()
	}
	for _, tc := range []struct {
		term, noColor string
		mode          progressMode
	}{{"dumb", "", progressAuto}, {"xterm", "", progressPlain}} {
		t.Setenv("TERM", tc.term)
		v := newVT(t, 50, 40, true)
		events(newProgress(v, false, tc.mode))
		out := v.output()
		if strings.Contains(out, "\x1b") {
			t.Errorf("TERM=%s --progress=%s: an escape in the output:\n%q", tc.term, tc.mode, out)
		}
		if !strings.Contains(out, "6.12-base-minimal            suite vmsplice") {
			t.Errorf("TERM=%s --progress=%s: no plain phase line:\n%s", tc.term, tc.mode, out)
		}
	}

	t.Setenv("TERM", "xterm")
	t.Setenv("COLUMNS", "60")
	t.Setenv("NO_COLOR", "1")
	var b bytes.Buffer
	events(newProgress(&b, false, progressTTY))
	out := b.String()
	if !strings.Contains(out, "\x1b[J") || strings.Contains(out, "(+") {
		t.Errorf("--progress=tty on a pipe: no live display:\n%q", out)
	}
	if regexp.MustCompile(`\x1b\[[0-9;]*m`).MatchString(out) {
		t.Errorf("NO_COLOR: a colour in the output:\n%q", out)
	}
	for _, l := range strings.Split(redrawEscape.ReplaceAllString(out, ""), "\n") {
		if utf8.RuneCountInString(l) > 60 && !timestamped.MatchString(l) {
			t.Errorf("COLUMNS=60: a live line of %d columns: %q", utf8.RuneCountInString(l), l)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"ab漢字cd", 6, "ab漢…"},
		{"ab漢字cd", 5, "ab漢…"},
		{"ab漢字cd", 4, "ab…"},
		{"abc", 0, ""},
	} {
		if got := truncate(tc.in, tc.width); got != tc.want || displayWidth(got) > tc.width {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}
