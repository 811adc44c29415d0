package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// How TAP and KTAP output becomes per-case results
//
// A suite of format tap or ktap prints TAP 13/14 or KTAP v1
// (https://docs.kernel.org/dev-tools/ktap.html). tapParser reads it line by
// line and reports each test case the way test2json reports a Go test:
// "run" when the case starts being attributed lines, "output" for each of
// its lines, then "pass", "fail" or "skip" with the elapsed time when its
// result line arrives. Every line of the program is reported exactly once:
// as output of a case, or, when it belongs to no case (version and plan
// lines, a preamble before the plan, what follows the last result), as
// output of the suite itself (Test "").
//
// The lines between two result lines of one level belong to the case
// under way, the one the next result line reports. Its name is the
// description of that result line, trimmed, unless a diagnostic
// "# [RUN] X" (kselftest's convention, e.g. mm/cow) or a "# Subtest: X"
// header named it first; a name that repeats within one parent gets " #2",
// " #3". A case without either is "test N", N its number.
//
// Subtests are indented deeper than their parent's level (KTAP: 2 spaces
// a level, TAP 14: 4; the parser follows whatever indentation it meets)
// and are named parent/child. A parent's result line comes after its
// children, so a parent not named by a "# Subtest:" or "# [RUN]" line
// holds its events (its children's too) until its result line names it;
// the events held are bounded, and past the bound the parent takes the
// name "test N".
//
// The parser never trusts its input: it bounds names, nesting, the events
// it holds and the cases it invents, and takes any garbage as output.

// Limits on what a TAP stream can make the parser hold or do.
const (
	maxTAPDepth       = 16      // levels of subtests followed; deeper ones count as the deepest
	maxTAPHeldEvents  = 10000   // events held for cases not named yet
	maxTAPHeldBytes   = 8 << 20 // bytes of output held for cases not named yet
	maxTAPNameBytes   = 512     // a case name is clipped to this
	maxTAPNames       = 10000   // names remembered per level to make repeats unique
	maxTAPMissing     = 100     // missing cases reported one by one; more are reported as one
	maxTAPYAMLLines   = 1000    // lines of a YAML block after a result line
	maxTAPNumberDigit = 9       // a test number or plan with more digits is garbage
)

// tapEvent is what tapParser reports, in test2json's vocabulary.
type tapEvent struct {
	Time   time.Time
	Action string // "run", "output", "pass", "fail" or "skip"
	// Test is the case's name, parent/child; "" for an output line of the
	// suite itself.
	Test string
	// Output is one line of the program, without its newline (Action
	// "output"), or a note of the parser's, prefixed "kvmtest: ".
	Output string
	// Note says Output is the parser's note, not a line of the program.
	Note bool
	// Elapsed is in seconds, for pass, fail and skip.
	Elapsed float64
}

// tapKind classifies a line.
type tapKind int

const (
	tapOther   tapKind = iota // anything else: output
	tapVersion                // "TAP version 13", "KTAP version 1"
	tapPlan                   // "1..N [# reason]"
	tapResult                 // "ok ...", "not ok ..."
	tapDiag                   // "# ..."
	tapSubtest                // "# Subtest: name"
	tapBail                   // "Bail out! reason"
)

// Directives of a result line.
const (
	tapNoDirective = ""
	tapSkip        = "SKIP"
	tapTODO        = "TODO"
	tapXFail       = "XFAIL" // kselftest's expected failure
)

// tapLine is one parsed line.
type tapLine struct {
	kind   tapKind
	indent int    // columns of leading blanks
	text   string // the line without its indentation

	ok        bool   // tapResult: "ok" rather than "not ok"
	num       int    // tapResult: its number, 0 if none; tapPlan: N
	desc      string // tapResult: the description, trimmed and unescaped
	directive string // tapResult: tapSkip, tapTODO, tapXFail or tapNoDirective
	reason    string // tapResult, tapPlan: what follows the directive or "#"
	name      string // tapSubtest: the name; tapDiag: X of "# [RUN] X"
}

// parseTAPLine classifies line. It never fails: what is not TAP is
// tapOther.
func parseTAPLine(line string) tapLine {
	text := strings.TrimLeft(line, " \t")
	l := tapLine{kind: tapOther, indent: len(line) - len(text), text: text}
	switch {
	case strings.HasPrefix(text, "TAP version ") || strings.HasPrefix(text, "KTAP version "):
		l.kind = tapVersion
	case strings.HasPrefix(text, "Bail out!"):
		l.kind = tapBail
		l.reason = strings.TrimSpace(text[len("Bail out!"):])
	case strings.HasPrefix(text, "#"):
		l.kind = tapDiag
		d := strings.TrimSpace(text[1:])
		if rest, ok := strings.CutPrefix(d, "Subtest:"); ok {
			l.kind, l.name = tapSubtest, strings.TrimSpace(rest)
		} else if d == "Subtest" {
			l.kind = tapSubtest
		} else if rest, ok := strings.CutPrefix(d, "[RUN]"); ok {
			l.name = strings.TrimSpace(rest)
		}
	case strings.HasPrefix(text, "1.."):
		parsePlan(&l)
	case isWord(text, "ok"):
		l.ok = true
		parseResult(&l, text[len("ok"):])
	case isWord(text, "not ok"):
		parseResult(&l, text[len("not ok"):])
	}
	return l
}

// isWord reports whether s starts with w followed by a blank or nothing.
func isWord(s, w string) bool {
	if !strings.HasPrefix(s, w) {
		return false
	}
	return len(s) == len(w) || s[len(w)] == ' ' || s[len(w)] == '\t'
}

// leadingNumber splits s into the decimal number it starts with and the
// rest; ok is false when s does not start with a digit or the number is
// implausibly long.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > maxTAPNumberDigit {
		return 0, s, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, s[i:], err == nil
}

// parsePlan parses "1..N" with an optional "# reason" into l, leaving it
// tapOther if it is not a plan.
func parsePlan(l *tapLine) {
	n, rest, ok := leadingNumber(l.text[len("1.."):])
	if !ok {
		return
	}
	rest = strings.TrimSpace(rest)
	if rest != "" && rest[0] != '#' {
		return // "1..3 of them", not a plan
	}
	l.kind, l.num = tapPlan, n
	if rest != "" {
		l.reason = strings.TrimSpace(rest[1:])
		if d, r := directive(l.reason); d == tapSkip {
			l.reason = r
		}
	}
}

// parseResult parses what follows "ok" or "not ok" into l.
func parseResult(l *tapLine, rest string) {
	l.kind = tapResult
	rest = strings.TrimLeft(rest, " \t")
	if n, r, ok := leadingNumber(rest); ok && (r == "" || r[0] == ' ' || r[0] == '\t' || r[0] == '-') {
		l.num, rest = n, strings.TrimLeft(r, " \t")
	}
	if r, ok := strings.CutPrefix(rest, "-"); ok && (r == "" || r[0] == ' ' || r[0] == '\t') {
		rest = r // "ok 1 - desc"
	}
	desc, comment, found := cutDirective(rest)
	l.desc = strings.TrimSpace(desc)
	if found {
		l.directive, l.reason = directive(strings.TrimSpace(comment))
	}
}

// cutDirective splits a result line's rest at its first "#" that is not
// escaped ("\#", TAP 14) and starts the rest or follows a blank (so that
// "fix #12" stays a description). It unescapes the description.
func cutDirective(s string) (desc, comment string, found bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '#' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", false
}

// directive recognizes the directive a "#" comment starts with (case
// insensitive: "SKIP", "skipped: why", "TODO", "XFAIL") and returns it
// with its reason; any other comment has no directive and is all reason.
func directive(comment string) (string, string) {
	word := comment
	if i := strings.IndexFunc(comment, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }); i >= 0 {
		word = comment[:i]
	}
	reason := strings.TrimLeft(strings.TrimSpace(comment[len(word):]), ":")
	reason = strings.TrimSpace(reason)
	switch w := strings.ToUpper(word); {
	case strings.HasPrefix(w, "SKIP"):
		return tapSkip, reason
	case w == "TODO":
		return tapTODO, reason
	case w == "XFAIL":
		return tapXFail, reason
	}
	return tapNoDirective, comment
}

// tapCase is a test case that lines are attributed to.
type tapCase struct {
	level *tapLevel
	name  string // within its level; "" until known
	start time.Time
	// held are its events while it has no name, Test relative to it ("" is
	// the case itself).
	held     []tapEvent
	subtests bool // held holds events of subtests
	// runName is X of a "# [RUN] X" line that will name the case once
	// anything else of it comes (output or its result); a [RUN] line
	// followed at once by another is a heading, not a case (mm/cow's
	// "[RUN] Non-anonymous memory tests in private mappings").
	runName string
	// names counts the names of its subtests, to make repeats unique
	// across all the levels of subtests it may have.
	names map[string]int
}

// tapLevel is one level of nesting: the cases of one (K)TAP document or
// subtest.
type tapLevel struct {
	indent  int      // columns; -1 for a top level that has seen no TAP line yet
	owner   *tapCase // whose subtests these are; nil for the top level
	since   time.Time
	plan    int // -1 until a plan line
	results int // result lines
	last    int // the highest test number accounted for
	cur     *tapCase
}

// fresh reports whether l has seen nothing but version lines and output
// no case claimed: it is where a "# Subtest:" line names its owner.
func (l *tapLevel) fresh() bool {
	return l.plan < 0 && l.results == 0 && (l.cur == nil || l.cur.name == "" && !l.cur.subtests)
}

// unique returns name, or name with " #N" if a sibling case, of l or of
// another level of the same parent, has it.
func (p *tapParser) unique(l *tapLevel, name string) string {
	names := &p.names
	if l.owner != nil {
		names = &l.owner.names
	}
	if *names == nil {
		*names = map[string]int{}
	}
	m := *names
	remember := func(n string, v int) {
		if _, ok := m[n]; ok || len(m) < maxTAPNames {
			m[n] = v
		}
	}
	n, used := m[name]
	if !used {
		remember(name, 1)
		return name
	}
	for {
		n++
		cand := name + " #" + strconv.Itoa(n)
		if _, taken := m[cand]; !taken {
			remember(name, n)
			remember(cand, 1)
			return cand
		}
	}
}

// yamlBlock is a TAP 13 YAML block being read after a result line.
type yamlBlock struct {
	c      *tapCase
	indent int // of the result line
	lines  int
	open   bool // "---" seen
}

// tapParser turns TAP or KTAP lines into tapEvents. It is not safe for
// concurrent use.
type tapParser struct {
	emit  func(tapEvent)
	now   func() time.Time
	stack []*tapLevel // stack[0] is the top level

	held, heldBytes int
	yaml            *yamlBlock
	names           map[string]int // of the top level's cases

	failures   int    // failed cases, bail outs and exceeded plans
	skipped    bool   // the top level's plan is 1..0
	skipReason string // its reason
}

// newTAPParser returns a parser that reports to emit, reading the time
// from now.
func newTAPParser(now func() time.Time, emit func(tapEvent)) *tapParser {
	t := now()
	return &tapParser{emit: emit, now: now, stack: []*tapLevel{{indent: -1, since: t, plan: -1}}}
}

// top is the deepest open level.
func (p *tapParser) top() *tapLevel { return p.stack[len(p.stack)-1] }

// send reports ev, whose Test is relative to c (nil: the suite), or holds
// it in the first case up the chain that has no name yet.
func (p *tapParser) send(c *tapCase, ev tapEvent) {
	for ; c != nil; c = c.level.owner {
		if c.name == "" {
			if ev.Test != "" {
				c.subtests = true
			}
			c.held = append(c.held, ev)
			p.held++
			p.heldBytes += len(ev.Output) + len(ev.Test)
			return
		}
		if ev.Test == "" {
			ev.Test = c.name
		} else {
			ev.Test = c.name + "/" + ev.Test
		}
	}
	p.emit(ev)
}

// output reports a line as output of c (nil: the suite).
func (p *tapParser) output(c *tapCase, line string, t time.Time) {
	p.send(c, tapEvent{Time: t, Action: "output", Output: line})
}

// note reports a note of the parser's as output of c (nil: the suite).
func (p *tapParser) note(c *tapCase, note string, t time.Time) {
	p.send(c, tapEvent{Time: t, Action: "output", Output: "kvmtest: " + note, Note: true})
}

// current returns the case under way at l, starting it if no line was
// attributed to it yet.
func (p *tapParser) current(l *tapLevel) *tapCase {
	if l.cur == nil {
		l.cur = &tapCase{level: l, start: l.since}
	}
	return l.cur
}

// name names c (made unique among its siblings), reports it running and
// releases what it held.
func (p *tapParser) name(c *tapCase, name string) {
	name = strings.TrimSpace(name)
	if len(name) > maxTAPNameBytes {
		name = clip(name, maxTAPNameBytes)
	}
	c.name = p.unique(c.level, name)
	held := c.held
	c.held = nil
	for _, ev := range held {
		p.held--
		p.heldBytes -= len(ev.Output) + len(ev.Test)
	}
	p.send(c, tapEvent{Time: c.start, Action: "run"})
	for _, ev := range held {
		p.send(c, ev)
	}
}

// provisionalName is the name of the case a level expects next.
func provisionalName(l *tapLevel) string { return "test " + strconv.Itoa(l.last+1) }

// release hands what c held, its own output only, to its owner, and
// forgets c: it was no case, just lines between cases.
func (p *tapParser) release(c *tapCase) {
	held := c.held
	c.held = nil
	for _, ev := range held {
		p.held--
		p.heldBytes -= len(ev.Output) + len(ev.Test)
		p.send(c.level.owner, ev)
	}
	if c.level.cur == c {
		c.level.cur = nil
	}
}

// finish reports c's result and ends it.
func (p *tapParser) finish(c *tapCase, action string, t time.Time) {
	if c.name == "" {
		p.name(c, provisionalName(c.level))
	}
	if action == "fail" {
		p.failures++
	}
	p.send(c, tapEvent{Time: t, Action: action, Elapsed: elapsed(c.start, t)})
	if l := c.level; l.cur == c {
		l.cur = nil
		l.since = t
	}
}

// elapsed is the seconds from start to end, to the millisecond.
func elapsed(start, end time.Time) float64 {
	d := end.Sub(start)
	if d < 0 {
		return 0
	}
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// synthesize reports a failed case that has no result line.
func (p *tapParser) synthesize(l *tapLevel, name, why string, t time.Time) {
	c := &tapCase{level: l, start: t}
	p.name(c, name)
	p.note(c, why, t)
	p.failures++
	p.send(c, tapEvent{Time: t, Action: "fail"})
}

// missing reports the cases numbered from..to of l, which have no result
// line, as failed; why says what was seen.
func (p *tapParser) missing(l *tapLevel, from, to int, why string, t time.Time) {
	if from > to {
		return
	}
	if to-from+1 > maxTAPMissing {
		p.synthesize(l, fmt.Sprintf("tests %d-%d", from, to), fmt.Sprintf("%s; no result line for tests %d to %d", why, from, to), t)
		return
	}
	for n := from; n <= to; n++ {
		p.synthesize(l, "test "+strconv.Itoa(n), fmt.Sprintf("%s; no result line for test %d", why, n), t)
	}
}

// endDocument ends the (K)TAP document of l, at the end of its subtest,
// of the output, or before another document: the case under way gets no
// result line, and the plan is checked. With interrupted (the suite timed
// out) the case under way is left running, for the host to judge.
func (p *tapParser) endDocument(l *tapLevel, interrupted bool, t time.Time) {
	got := func() string { return fmt.Sprintf("planned %d tests, got %d", l.plan, l.results) }
	if c := l.cur; c != nil {
		switch {
		case c.name != "" || c.subtests || c.runName != "":
			if c.name == "" && c.runName != "" {
				p.resolve(c) // announced, then the program stopped
			} else if c.name == "" {
				p.name(c, provisionalName(l))
			}
			l.last++
			why := "no result line for this case"
			if l.plan >= 0 {
				why += " (" + got() + ")"
			}
			if interrupted {
				p.note(c, why+": the suite timed out", t)
				l.cur = nil
			} else {
				p.note(c, why, t)
				p.finish(c, "fail", t)
			}
		case l.plan > l.last:
			// The lines since the last result belong to the first case
			// that never reported.
			l.last++
			p.name(c, "test "+strconv.Itoa(l.last))
			p.note(c, fmt.Sprintf("%s; no result line for test %d", got(), l.last), t)
			p.finish(c, "fail", t)
		default:
			p.release(c)
		}
	}
	if l.plan > l.last {
		p.missing(l, l.last+1, l.plan, got(), t)
		l.last = l.plan
	}
	if l.plan >= 0 && l.results > l.plan {
		p.note(l.owner, got(), t)
		p.failures++
	}
}

// resetDocument makes l ready for another document at the same place.
func (p *tapParser) resetDocument(l *tapLevel, t time.Time) {
	l.plan, l.results, l.last, l.cur, l.since = -1, 0, 0, nil, t
}

// closeLevel ends the deepest level.
func (p *tapParser) closeLevel(interrupted bool, t time.Time) {
	l := p.top()
	p.endDocument(l, interrupted, t)
	p.stack = p.stack[:len(p.stack)-1]
}

// levelFor finds the level a line at indent belongs to. A line that can
// end subtests (a version, plan, result, "# Subtest:" or "# [RUN]" line)
// closes the levels deeper than it; a line that can begin one (those and
// diagnostics) opens a level under the case under way when it is deeper
// than the deepest level. Any other line belongs to the deepest level:
// output that is not indented as its subtest's (say a kernel message)
// belongs to the innermost case under way, which keeps the lines in order.
func (p *tapParser) levelFor(indent int, closes, opens bool, t time.Time) *tapLevel {
	if root := p.stack[0]; root.indent < 0 {
		if !closes && !opens {
			return root
		}
		root.indent = indent
	}
	if closes {
		for len(p.stack) > 1 && indent < p.top().indent {
			p.closeLevel(false, t)
		}
	}
	if top := p.top(); indent > top.indent && opens && len(p.stack) < maxTAPDepth {
		l := &tapLevel{indent: indent, owner: p.current(top), since: t, plan: -1}
		p.stack = append(p.stack, l)
	}
	return p.top()
}

// Line takes one line of the program's output, without its newline.
func (p *tapParser) Line(line string) {
	t := p.now()
	l := parseTAPLine(line)
	if p.yaml != nil && p.yamlLine(l, line, t) {
		return
	}
	switch l.kind {
	case tapVersion:
		lv := p.levelFor(l.indent, true, true, t)
		if !lv.fresh() {
			p.endDocument(lv, false, t)
			p.resetDocument(lv, t)
		}
		p.lineOfLevel(lv, line, t)
	case tapPlan:
		lv := p.levelFor(l.indent, true, true, t)
		if lv.plan >= 0 {
			p.endDocument(lv, false, t)
			p.resetDocument(lv, t)
		}
		p.lineOfLevel(lv, line, t)
		lv.plan = l.num
		if l.num == 0 && lv == p.stack[0] {
			p.skipped, p.skipReason = true, l.reason
		}
	case tapSubtest:
		lv := p.levelFor(l.indent, true, true, t)
		if lv.fresh() && lv.owner != nil && lv.owner.name == "" {
			if l.name != "" {
				p.name(lv.owner, l.name)
			}
			p.lineOfLevel(lv, line, t)
			break
		}
		c := p.current(lv)
		if c.name == "" && l.name != "" {
			p.name(c, l.name)
		}
		p.output(c, line, t)
	case tapResult:
		p.result(l, line, t)
	case tapDiag, tapBail:
		// A [RUN] line starts a case at its level, ending deeper ones.
		lv := p.levelFor(l.indent, l.name != "", true, t)
		if l.kind == tapBail {
			p.failures++
		}
		if l.name != "" && l.indent == lv.indent {
			p.run(lv, l.name, t)
			p.output(p.current(lv), line, t)
			break
		}
		p.output(p.resolve(p.current(lv)), line, t)
	default:
		lv := p.levelFor(l.indent, false, false, t)
		p.output(p.resolve(p.current(lv)), line, t)
	}
	p.bound()
}

// lineOfLevel reports a version, plan or header line of lv: output of
// lv's owner. What the case under way held (a preamble) goes first. (If
// that case has subtests, though, the line is its own: the order of the
// lines is kept.)
func (p *tapParser) lineOfLevel(lv *tapLevel, line string, t time.Time) {
	if c := lv.cur; c != nil && c.name == "" {
		if c.subtests {
			p.output(c, line, t)
			return
		}
		p.release(c)
	}
	p.output(lv.owner, line, t)
}

// run handles "# [RUN] X" at lv: the case under way will be X. One
// already named by an earlier [RUN] line and followed by output ended
// without a result line; an earlier [RUN] line followed by nothing was a
// heading, output of the level's owner.
func (p *tapParser) run(lv *tapLevel, name string, t time.Time) {
	if c := lv.cur; c != nil && c.name != "" {
		p.note(c, "no result line for this case before the next [RUN] line", t)
		p.finish(c, "fail", t)
	}
	if c := lv.cur; c != nil && c.name == "" && c.runName != "" && !c.subtests {
		p.release(c)
	}
	if c := p.current(lv); c.name == "" {
		c.runName = strings.TrimSpace(name)
	}
}

// resolve names a case announced by a [RUN] line, now that something
// other than another [RUN] line came for it.
func (p *tapParser) resolve(c *tapCase) *tapCase {
	if c.name == "" && c.runName != "" {
		p.name(c, c.runName)
	}
	return c
}

// result handles an "ok" or "not ok" line.
func (p *tapParser) result(l tapLine, line string, t time.Time) {
	lv := p.levelFor(l.indent, true, true, t)
	num := l.num
	if num == 0 {
		num = lv.last + 1
	}
	if num > lv.last+1 {
		p.missing(lv, lv.last+1, num-1, fmt.Sprintf("test numbers jumped from %d to %d", lv.last, num), t)
	}
	lv.last = max(lv.last, num)
	lv.results++
	c := p.resolve(p.current(lv))
	if c.name == "" {
		name := l.desc
		if name == "" {
			name = "test " + strconv.Itoa(num)
		}
		p.name(c, name)
	}
	p.output(c, line, t)
	action := "pass"
	switch {
	case l.directive == tapSkip:
		action = "skip"
	case l.directive == tapTODO && !l.ok:
		p.note(c, "not ok with a TODO directive: an expected failure, counted as a pass", t)
	case l.directive == tapXFail:
		p.note(c, "XFAIL: an expected failure, counted as a pass", t)
	case !l.ok:
		action = "fail"
	}
	p.finish(c, action, t)
	p.yaml = &yamlBlock{c: c, indent: l.indent}
}

// yamlLine handles a line after a result line, which may open or continue
// a TAP 13 YAML block: such lines are output of the case that just
// ended. It reports whether it took the line.
func (p *tapParser) yamlLine(l tapLine, line string, t time.Time) bool {
	y := p.yaml
	if !y.open {
		if l.text == "---" && l.indent > y.indent {
			y.open = true
			p.output(y.c, line, t)
			return true
		}
		p.yaml = nil
		return false
	}
	if l.text != "" && l.indent <= y.indent {
		p.yaml = nil // not closed by "...": not YAML after all
		return false
	}
	p.output(y.c, line, t)
	y.lines++
	if l.text == "..." || y.lines >= maxTAPYAMLLines {
		p.yaml = nil
	}
	return true
}

// bound names the cases that hold events when they hold too many.
func (p *tapParser) bound() {
	if p.held <= maxTAPHeldEvents && p.heldBytes <= maxTAPHeldBytes {
		return
	}
	for _, l := range p.stack {
		if c := l.cur; c != nil && c.name == "" && len(c.held) > 0 {
			p.name(c, provisionalName(l))
		}
	}
}

// Finish ends the output: cases under way get no result line, and every
// plan is checked. interrupted says the suite was killed at its deadline:
// a case under way is then left running, for the host to judge.
func (p *tapParser) Finish(interrupted bool) {
	t := p.now()
	p.yaml = nil
	for len(p.stack) > 1 {
		p.closeLevel(interrupted, t)
	}
	p.endDocument(p.stack[0], interrupted, t)
}

// Failures returns how many failures the output showed: failed cases
// (including those that never reported), bail outs and exceeded plans.
func (p *tapParser) Failures() int { return p.failures }

// Skipped reports whether the top level's plan was 1..0, and its reason.
func (p *tapParser) Skipped() (bool, string) { return p.skipped, p.skipReason }
