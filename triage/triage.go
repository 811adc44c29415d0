// Package triage turns kernel console output into findings: panics, oopses,
// BUGs, WARNINGs, sanitizer reports, lockdep splats, stalls, lockups and hung
// tasks, and the crashes of Go programs in the guest (never fatal), each
// with a class, a normalised title and the report as an excerpt.
//
// The recognition is data: a table of rules (rules.go), each a header
// regexp, a class and a title template, in the manner of syzkaller's
// pkg/report. Scan reads a whole log; a Scanner reads a console as it
// streams, in bounded memory, and says as soon as the kernel is no longer
// healthy.
package triage

import (
	"bytes"
	"regexp"
	"strings"
)

// Finding is one problem report found in a console log.
type Finding struct {
	// Class is the kind of report (the rule table's class).
	Class Class
	// Title is the report's headline normalised the way syzkaller does:
	// "BUG: unable to handle kernel paging request in foo", "WARNING in foo",
	// "KASAN: use-after-free Read in bar". Numbers in it read NUM or ADDR,
	// so that the same bug has the same title on every run.
	Title string
	// Headline is Title up to " in ": what identifies the kind of report
	// without the function it is about.
	Headline string
	// Line is the 1-based line of the log where the report starts.
	Line int
	// Excerpt is the report: the headline line through the end of the call
	// trace, timestamps stripped, bounded (see MaxExcerptLines and
	// MaxExcerptBytes).
	Excerpt string
	// Panicked says the kernel panicked ("Kernel panic - not syncing") in
	// or right after this report.
	Panicked bool
	// Fatal says the kernel is not healthy after this report: it oopsed,
	// panicked or found its memory corrupted. A WARNING, a lockdep splat or
	// a stall is not fatal: the kernel goes on.
	Fatal bool
}

// Bounds of what is kept of a console, whatever the guest prints.
const (
	// MaxExcerptLines and MaxExcerptBytes bound one Finding's Excerpt.
	MaxExcerptLines = 100
	MaxExcerptBytes = 16 << 10
	// MaxFindings bounds the findings kept; later ones are only counted
	// (Scanner.Dropped).
	MaxFindings = 256
	// MaxLineBytes bounds a console line; the rest of a longer line is
	// dropped.
	MaxLineBytes = 4 << 10
	// contWindow is how many lines after a report's end a continuation
	// line ("Kernel panic - not syncing: Fatal exception" after an oops)
	// still belongs to it.
	contWindow = 50
)

// Scan returns every finding in a whole console log, in order.
func Scan(log []byte) []Finding {
	s := NewScanner()
	s.Write(log)
	s.Flush()
	return s.Findings()
}

// Scanner finds reports in console output fed to it in chunks of any size,
// as they arrive. Its memory is bounded whatever the input (a few MiB at
// most: MaxFindings excerpts). The zero value is ready to use. It is not
// safe for concurrent use.
type Scanner struct {
	buf      []byte // the current, incomplete line
	skipping bool   // the current line is over MaxLineBytes: drop the rest
	line     int    // lines processed
	reports  []*report
	dropped  int
	fatal    bool
	cur      *report // the report collecting lines, nil when none
	last     *report // the latest kernel report, open or not
	pending  *report // a report waiting for its confirmation (rule.confirm)
}

// NewScanner returns a Scanner that has seen nothing.
func NewScanner() *Scanner { return &Scanner{} }

// Write feeds console output to the scanner. Lines may be split across
// writes. It never fails.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !s.skipping {
			room := MaxLineBytes - len(s.buf)
			if len(chunk) > room {
				// Too long a line: process what fits now, drop the rest.
				s.buf = append(s.buf, chunk[:room]...)
				s.processLine(s.buf)
				s.buf = s.buf[:0]
				s.skipping = true
			} else {
				s.buf = append(s.buf, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !s.skipping {
			s.processLine(s.buf)
		}
		s.buf = s.buf[:0]
		s.skipping = false
		p = p[i+1:]
	}
	return n, nil
}

// Flush processes a last line that has no newline, as at the end of a log.
func (s *Scanner) Flush() {
	if len(s.buf) > 0 && !s.skipping {
		s.processLine(s.buf)
	}
	s.buf = s.buf[:0]
	s.skipping = false
}

// Findings returns the findings so far, in order. A report whose call trace
// is still arriving is included as soon as its headline is seen (a pending
// one, rule.confirm, once it is confirmed); its Title and Excerpt can still
// grow.
func (s *Scanner) Findings() []Finding {
	out := make([]Finding, len(s.reports))
	for i, r := range s.reports {
		out[i] = r.f
		out[i].Excerpt = string(r.excerpt)
	}
	return out
}

// Fatal says whether a fatal finding has been seen: the kernel panicked,
// oopsed or corrupted memory, and the VM can be stopped.
func (s *Scanner) Fatal() bool { return s.fatal }

// Dropped is the number of findings beyond MaxFindings that were not kept.
func (s *Scanner) Dropped() int { return s.dropped }

// report is a finding under construction.
type report struct {
	f        Finding
	base     string // the title without its function
	rule     *rule
	vars     map[string]string
	ctx      string // caller id of the header line ("T123", "C0"), if any
	excerpt  []byte
	lines    int
	open     bool // still collecting lines
	endLine  int  // last line that belonged to it
	inTrace  bool // a "Call Trace:" has been seen
	stopped  bool // no more frames (rule.stop matched)
	moreDone bool
	died     bool     // it has had its die() banner ("[#1]")
	fnHeader string   // the function named in the header line
	fnRIP    string   // the function of the faulting instruction
	fnAt     string   // the function of the first lockdep "at:" line
	frames   []string // call trace frames, outermost last
	guessed  []string // frames the unwinder marked unreliable ("? foo+0x1/0x2")
}

// maxFrames bounds the frames kept per report for choosing its function.
const maxFrames = 64

var (
	// consolePrefix is what the kernel puts before a message: a log level,
	// a timestamp and a caller id.
	consolePrefix = regexp.MustCompile(`^(?:<\d+>)?\[ *\d+\.\d+\](?:\[ *([CT]\d+)\])? ?(?:\[ *([CT]\d+)\] )?|^<\d+>`)
	// timestamp finds output of another CPU spliced into a line.
	timestamp = regexp.MustCompile(`\[ *\d+\.\d{3,}\](?:\[ *[CT]\d+\])? ?`)

	atLine    = regexp.MustCompile(`, at: (?:\[<[0-9a-f]+>\] *)?` + fn)
	ripLine   = regexp.MustCompile(`(?:\bRIP: (?:[0-9a-f]{4}:)?|\bN?IP: |\bPC is at |\be?pc : |\bEIP: (?:[0-9a-f]{4}:)?)(?:\[<[0-9a-f]+>\] *)*` + fn)
	frameLine = regexp.MustCompile(`^ *(?:\[<?[0-9a-f]+>?\] *)*(?:\(?[0-9]+:)?(?P<func>[A-Za-z_][\w.$]*)(?:\+0x[0-9a-f]+/0x[0-9a-f]+| \S+\.(?:[chS]|rs):\d+)`)
	// numbers in a title: addresses, counts, ids, random name suffixes.
	numbers = regexp.MustCompile(`0x[0-9a-fA-F]+|\b[0-9a-f]{8,}\b|\b\d+\b|\d{5,}`)
	spaces  = regexp.MustCompile(`\s+`)
	// placeholder is a {name} in a title template.
	placeholder = regexp.MustCompile(`\{\w+\}`)
)

// strip removes the console prefix of a line and returns the caller id of
// its context, if any. Before the kernel's prefix there can be a note of
// dropped messages or a login prompt that the console's last line left.
func strip(line string) (msg, ctx string) {
	line = strings.Trim(line, "\r")
	if rest, ok := strings.CutPrefix(line, "** "); ok {
		if _, after, ok := strings.Cut(rest, " ** "); ok && strings.Contains(rest, "printk messages dropped") {
			line = after
		}
	}
	if _, after, ok := strings.Cut(line, " login: "); ok && strings.HasPrefix(after, "[") {
		line = after
	}
	if line == "" || line[0] != '[' && line[0] != '<' {
		return line, ""
	}
	m := consolePrefix.FindStringSubmatchIndex(line)
	if m == nil {
		return line, ""
	}
	for g := 2; g < len(m); g += 2 {
		if m[g] >= 0 {
			ctx = strings.TrimSpace(line[m[g]:m[g+1]])
		}
	}
	return line[m[1]:], ctx
}

// match finds the rule whose header a message matches: the whole message,
// then, for output of several CPUs spliced into one line, each piece
// between timestamps.
func match(msg string) (*rule, map[string]string) {
	present := findKeys(msg)
	if present.empty() && !anyKeyRule {
		return nil, nil
	}
	segs := []string{msg}
	if locs := timestamp.FindAllStringIndex(msg, -1); locs != nil {
		prev := 0
		for _, l := range locs {
			segs = append(segs, msg[prev:l[0]])
			prev = l[1]
		}
		segs = append(segs, msg[prev:])
	}
	for _, seg := range segs {
		seg = strings.TrimLeft(seg, " \t")
		if suppressions.MatchString(seg) || testLine.MatchString(seg) {
			continue
		}
		for _, x := range rules {
			if !x.anyKey && !x.keys.intersects(present) {
				continue
			}
			if m := x.header.FindStringSubmatchIndex(seg); m != nil {
				return x, groups(x.header, seg, m)
			}
		}
	}
	return nil, nil
}

// groups returns the named groups of a match (m as FindStringSubmatchIndex
// returns it), and the whole match as "header". The strings are copies, so
// that a line's memory is not kept.
func groups(re *regexp.Regexp, s string, m []int) map[string]string {
	vars := map[string]string{"header": strings.Clone(s[m[0]:m[1]])}
	for i, name := range re.SubexpNames() {
		if name != "" && m[2*i] >= 0 {
			vars[name] = strings.Clone(s[m[2*i]:m[2*i+1]])
		}
	}
	return vars
}

func (s *Scanner) processLine(raw []byte) {
	s.line++
	msg, ctx := strip(string(raw))
	x, vars := match(msg)
	if s.pending != nil && s.pend(x, msg, ctx) {
		return
	}
	switch {
	case x == nil:
		if s.cur != nil && s.cur.open {
			s.feed(s.cur, msg, ctx)
		}
	case s.cur != nil && s.cur.rule.confirm == nil && s.joins(s.cur, msg, ctx, moreLines):
		s.join(s.cur, x, msg, ctx)
	case x.cont && s.last != nil && (s.last.open || s.line-s.last.endLine <= contWindow) && !(s.last.died && dies(msg)):
		s.attach(s.last, x, msg)
	case x.confirm != nil:
		s.pending = s.newReport(x, vars, msg, ctx)
	default:
		s.start(x, vars, msg, ctx)
	}
}

// newReport makes the report a header line starts.
func (s *Scanner) newReport(x *rule, vars map[string]string, msg, ctx string) *report {
	rep := &report{rule: x, vars: vars, ctx: ctx, open: true}
	rep.f = Finding{Class: x.class, Line: s.line, Fatal: x.fatal, Panicked: x.panics}
	rep.fnHeader = cleanFunc(vars["func"])
	rep.died = dies(msg)
	rep.rebase()
	rep.add(msg, s.line)
	return rep
}

// start opens a report for a header line. A line printed aside leaves the
// open report open and is a finding of one line.
func (s *Scanner) start(x *rule, vars map[string]string, msg, ctx string) {
	rep := s.newReport(x, vars, msg, ctx)
	if x.fatal {
		s.fatal = true
	}
	if x.aside && s.cur != nil && s.cur.open {
		rep.open = false
		s.keep(rep)
		return
	}
	if s.cur != nil {
		s.cur.open = false
	}
	s.last = rep
	s.cur = nil
	if s.keep(rep) {
		s.cur = rep
	}
}

// keep adds a report to the findings, or counts it as dropped beyond
// MaxFindings.
func (s *Scanner) keep(rep *report) bool {
	if len(s.reports) >= MaxFindings {
		s.dropped++
		return false
	}
	s.reports = append(s.reports, rep)
	return true
}

// pend gives the pending report a line. It reports whether the line is
// the pending report's alone: joined to it, or the line that confirms it.
// A pending report that is not confirmed in time, or that another pending
// header replaces, is dropped.
func (s *Scanner) pend(x *rule, msg, ctx string) bool {
	p := s.pending
	switch {
	case s.line-p.f.Line > confirmLines:
		s.pending = nil
		return false
	case x != nil && s.joins(p, msg, ctx, confirmLines):
		s.join(p, x, msg, ctx)
		return true
	case p.rule.confirm.MatchString(msg):
		s.pending = nil
		if s.cur != nil {
			s.cur.open = false
		}
		s.cur = nil
		if s.keep(p) {
			s.cur = p
			s.feed(p, msg, ctx)
		}
		return true
	case x != nil && x.confirm != nil:
		s.pending = nil
		return false
	}
	s.feed(p, msg, ctx)
	// After another program's crash, what follows a new crash's header is
	// the new one's; an open kernel report still gets the line, as the two
	// can interleave.
	return x == nil && s.cur != nil && s.cur.rule.program
}

// joins says whether a header line belongs to a report (rule.joins) that
// began at most within lines before.
func (s *Scanner) joins(rep *report, msg, ctx string, within int) bool {
	return rep.open && rep.rule.joins != nil && s.line-rep.f.Line <= within && sameContext(rep, ctx) &&
		rep.rule.joins.MatchString(strings.TrimLeft(msg, " \t"))
}

// join gives a report a header line that belongs to it: the line's rule
// still marks the report fatal or panicked.
func (s *Scanner) join(rep *report, x *rule, msg, ctx string) {
	s.flag(rep, x)
	s.feed(rep, msg, ctx)
}

// attach adds a continuation line (a panic after an oops) to a report.
func (s *Scanner) attach(rep *report, x *rule, msg string) {
	s.flag(rep, x)
	rep.died = rep.died || dies(msg)
	rep.add(msg, s.line)
}

// flag marks a report with what a line of rule x says: the kernel
// panicked, or is not healthy any more. A guest program's report is never
// fatal.
func (s *Scanner) flag(rep *report, x *rule) {
	if rep.rule.program {
		return
	}
	if x.panics {
		rep.f.Panicked = true
	}
	if x.fatal {
		rep.f.Fatal = true
		s.fatal = true
	}
}

// dies says whether a line is the banner die() prints once per oops, with
// its count: "Oops: 0002 [#1]" (x86), "Internal error: Oops: 96000046 [#1]
// PREEMPT SMP" (arm64), "Oops [#1]" or "Kernel BUG [#1]" (riscv). A report
// has one: a second banner is the next oops, a report of its own, even
// when it would otherwise continue the report before it.
func dies(msg string) bool {
	i := strings.Index(msg, "[#")
	if i < 0 {
		return false
	}
	j := i + 2
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	return j > i+2 && j < len(msg) && msg[j] == ']'
}

// sameContext says whether a line of caller id ctx can belong to a report:
// lines of another task are left out, those of any CPU context are not.
func sameContext(rep *report, ctx string) bool {
	return rep.ctx == "" || ctx == "" || ctx == rep.ctx || ctx[0] == 'C' && rep.ctx[0] == 'C'
}

// feed gives an open report the next console line.
func (s *Scanner) feed(rep *report, msg, ctx string) {
	if !sameContext(rep, ctx) {
		return // another task's output interleaved
	}
	rep.add(msg, s.line)
	if rep.rule.more != nil && !rep.moreDone && rep.lines <= moreLines+1 {
		line := strings.TrimLeft(msg, " ")
		if m := rep.rule.more.FindStringSubmatchIndex(line); m != nil {
			for k, v := range groups(rep.rule.more, line, m) {
				if k != "header" {
					rep.vars[k] = v
				}
			}
			rep.moreDone = true
			rep.rebase()
		}
	}
	if rep.fnRIP == "" && containsAny(msg, "IP:", "PC is at ", "pc : ") {
		if m := ripLine.FindStringSubmatch(msg); m != nil {
			rep.fnRIP = cleanFunc(strings.Clone(m[ripLine.SubexpIndex("func")]))
			rep.retitle()
		}
	}
	if rep.rule.at && rep.fnAt == "" && (rep.rule.more == nil || rep.moreDone) && containsAny(msg, ", at: ") {
		if m := atLine.FindStringSubmatch(msg); m != nil {
			if f := cleanFunc(strings.Clone(m[atLine.SubexpIndex("func")])); f != "" && !rep.skip(f) {
				rep.fnAt = f
				rep.retitle()
			}
		}
	}
	if rep.rule.from != nil && rep.rule.from.MatchString(msg) {
		rep.frames = rep.frames[:0]
		rep.guessed = rep.guessed[:0]
	}
	if rep.rule.stop != nil && !rep.stopped && rep.rule.stop.MatchString(msg) {
		rep.stopped = true
	}
	if containsAny(msg, traceStarts...) && !strings.Contains(msg, "stack backtrace:") {
		rep.inTrace = true
	} else if rep.inTrace && !rep.stopped && containsAny(msg, "+0x", ".c:", ".h:", ".S:", ".rs:") {
		if q, guess := strings.CutPrefix(strings.TrimLeft(msg, " "), "? "); !guess && len(rep.frames) < maxFrames && !strings.Contains(msg, " ? ") {
			if m := frameLine.FindStringSubmatch(msg); m != nil && !afterNoreturn(m[0], len(rep.frames)) {
				if f := cleanFunc(strings.Clone(m[1])); f != "" {
					rep.frames = append(rep.frames, f)
					rep.retitle()
				}
			}
		} else if guess && rep.rule.guess && len(rep.guessed) < maxFrames {
			if m := frameLine.FindStringSubmatch(q); m != nil {
				if f := cleanFunc(strings.Clone(m[1])); f != "" {
					rep.guessed = append(rep.guessed, f)
					rep.retitle()
				}
			}
		}
	}
	if rep.lines > 1 && (containsAny(msg, "---[ end trace", "---[ end Kernel panic") || strings.HasPrefix(msg, "=====")) {
		rep.open = false
	}
}

// afterNoreturn says whether frame, the n-th reliable frame of a call
// trace, is the return address of a call that does not return (panic(),
// BUG()): one past the caller's last instruction, which is the first of
// the next function in memory, printed as that function at +0x0 (arm64's
// and riscv's unwinders print return addresses as they are). It names a
// function that was never called; the trace's first frame (the PC) is
// where the CPU was, at any offset.
func afterNoreturn(frame string, n int) bool {
	return n > 0 && strings.Contains(frame, "+0x0/")
}

// traceStarts are the lines after which come the frames of a call trace.
// riscv's show_regs() prints the frames of the registers' context right
// after their last line, "status: ... badaddr: ... cause: ...", with no
// "Call Trace:" (arch/riscv/kernel/process.c in 6.1 and 6.12; older kernels
// printed one).
var traceStarts = []string{"Call Trace:", "Call trace:", "backtrace:", "Stack:", "Allocated by task", "Freed by task", " badaddr: "}

func containsAny(b string, subs ...string) bool {
	for _, s := range subs {
		if strings.Contains(b, s) {
			return true
		}
	}
	return false
}

// add appends a line to the excerpt, closing the report at the bounds.
func (rep *report) add(msg string, line int) {
	rep.endLine = line
	if rep.lines >= MaxExcerptLines || len(rep.excerpt)+len(msg)+1 > MaxExcerptBytes {
		rep.open = false
		return
	}
	rep.excerpt = append(rep.excerpt, msg...)
	rep.excerpt = append(rep.excerpt, '\n')
	rep.lines++
}

// rebase computes the title without its function, and the headline, from
// the template and the variables.
func (rep *report) rebase() {
	t := rep.rule.title
	if rep.rule.fallback != "" && !rep.moreDone {
		t = rep.rule.fallback
	}
	// Numbers are normalised in what the kernel printed, not in the
	// template's own words ("file count is 0").
	t = placeholder.ReplaceAllStringFunc(t, func(p string) string {
		return numbers.ReplaceAllStringFunc(rep.vars[p[1:len(p)-1]], func(n string) string { // "" when not known (yet)
			if strings.HasPrefix(n, "0x") || strings.Trim(n, "0123456789") != "" {
				return "ADDR"
			}
			return "NUM"
		})
	})
	rep.base = strings.TrimSpace(spaces.ReplaceAllString(t, " "))
	rep.f.Headline, _, _ = strings.Cut(rep.base, " in ")
	rep.retitle()
}

// retitle completes the title with the best function known so far.
func (rep *report) retitle() {
	rep.f.Title = rep.base
	if fn := rep.function(); fn != "" {
		rep.f.Title = rep.base + " in " + fn
	}
}

// function picks the function a report is about: the first of the header's
// function, the faulting one (for faults) and the call trace that is not
// merely reporting the problem. For stalls it is the frame that called into
// the looping code from a well-known entry point (a system call, a work
// item, a timer), the same for every report of one stall.
//
// A kernel built with the guessing unwinder (UNWINDER_GUESS, what
// tinyconfig gets) marks every frame unreliable ("? foo+0x1/0x2"): with no
// reliable frame, a stall is titled after the looping code (RIP), and a
// rule marked guess reads the unreliable frames.
func (rep *report) function() string {
	if rep.fnAt != "" {
		return rep.fnAt
	}
	frames := rep.frames
	if len(frames) == 0 {
		frames = rep.guessed
	}
	for _, p := range rep.rule.prefer {
		for _, f := range frames {
			if strings.HasPrefix(f, p[0]) {
				return p[1]
			}
		}
	}
	if rep.rule.stall {
		if f := rep.anchored(); f != "" {
			return f
		}
		if len(rep.frames) == 0 && rep.fnRIP != "" && !rep.skip(rep.fnRIP) {
			return rep.fnRIP
		}
	}
	var cands []string
	if rep.fnHeader != "" {
		cands = append(cands, rep.fnHeader)
	}
	if rep.rule.ripFirst && rep.fnRIP != "" {
		cands = append(cands, rep.fnRIP)
	}
	for _, f := range append(cands, frames...) {
		if !rep.skip(f) {
			return f
		}
	}
	return ""
}

// skip says whether a frame only reports the problem.
func (rep *report) skip(name string) bool {
	name = strings.TrimLeft(name, "_")
	for _, list := range [][]string{skipFrames, rep.rule.skip} {
		for _, s := range list {
			if sub, ok := strings.CutPrefix(s, "*"); ok && strings.Contains(name, sub) || strings.HasPrefix(name, s) {
				return true
			}
		}
	}
	return false
}

// anchored returns the frame called by the first anchor frame of the trace
// (skipping reporting frames), without system call wrapper prefixes.
func (rep *report) anchored() string {
	for i, f := range rep.frames {
		for _, a := range anchorFrames {
			if !strings.Contains(f, a) {
				continue
			}
			for j := i - 1; j >= 0; j-- {
				prev := rep.frames[j]
				if rep.skip(prev) {
					continue
				}
				for _, p := range []string{"__x64_", "__ia32_", "__arm64_", "__riscv_", "__se_", "__do_", "SYSC_", "SyS_", "compat_SyS_"} {
					prev = strings.TrimPrefix(prev, p)
				}
				return prev
			}
			return ""
		}
	}
	return ""
}

var compilerSuffix = regexp.MustCompile(`(?:\.(?:constprop|isra|part|cold|llvm|lto_priv)(?:\.\d+)?)+$`)

// cleanFunc drops compiler suffixes (".isra.5", ".cold") and returns ""
// for what is not a function name (a bare address, a register name).
func cleanFunc(f string) string {
	f = compilerSuffix.ReplaceAllString(f, "")
	if f == "" || f == "lr" || f == "pc" || len(f) >= 8 && strings.Trim(f, "0123456789abcdef") == "" {
		return ""
	}
	return f
}
