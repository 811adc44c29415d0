package results

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// maxTestOutput caps the output kept per test.
const maxTestOutput = 16 << 10

// Collector turns the guest's event stream into suite and test results.
// It never trusts the guest: it accepts only the events its plan (the
// manifest's suites, in order) allows, and refuses the others (see
// Refusal and proto.Event), and output is capped. Heartbeats are checked
// for their place in the sequence, and leave no other trace.
type Collector struct {
	Suites []*Suite
	// Bench holds benchmark result lines in Go benchmark format (for
	// golang.org/x/perf/benchfmt), per suite, in order.
	Bench   map[string][]string
	Release string // the guest's uname -r from the hello event
	Done    bool   // the agent reported done
	// Current is the suite running now ("" between suites).
	Current string
	Logs    []string
	// Refused are the events the plan did not allow, in the order they
	// came: lines a guest program wrote to the agent's channel, or an
	// agent that broke the protocol. None of them is in the results;
	// each is a finding of the cell (Findings), which cannot pass.
	Refused []Refusal

	plan    []string
	next    int             // index in plan of the next suite to start
	seq     uint64          // of the last event taken in order
	ahead   map[uint64]held // numbered beyond seq+1
	hello   bool
	ended   string // the suite that ended last, until its taint comes
	suite   map[string]*Suite
	test    map[string]map[string]*Test
	partial map[string]string // per suite: output line not yet ended
	panics  map[string]string // per suite: the first crash line of its own output
}

// held is an event numbered ahead of the stream, and the suite that ran
// when it came.
type held struct {
	ev     proto.Event
	during string
}

// Refusal is an event the Collector refused, and why.
type Refusal struct {
	Seq   uint64 // the event's own (0: none)
	Kind  string
	Suite string // the event's suite field
	// During is the suite that was running when it came, or the one that
	// ended last; "" before the first.
	During string
	Reason string
}

// maxRefusals bounds the refusals kept; the count goes on.
const maxRefusals = 100

// ClassForgedEvent is the Finding class of a refused event.
const ClassForgedEvent = "forged-event"

// NewCollector returns an empty collector for a guest that runs plan:
// the names of the manifest's suites, in its order.
func NewCollector(plan []string) *Collector {
	return &Collector{Bench: map[string][]string{}, suite: map[string]*Suite{}, test: map[string]map[string]*Test{},
		partial: map[string]string{}, panics: map[string]string{}, plan: plan, ahead: map[uint64]held{}}
}

var benchLine = regexp.MustCompile(`^Benchmark\S+\s+\d+\s+\d`)
var benchConfig = regexp.MustCompile(`^(goos|goarch|pkg|cpu): `)

// benchUnit is a benchfmt unit metadata line, such as "Unit
// bogo-ops/s better=higher": it tells the report which way a unit
// Go's defaults do not know is better.
var benchUnit = regexp.MustCompile(`^Unit [^\s=]+( (better|assume)=[a-z]+)+$`)

// maxAhead bounds the events held for lines not yet come.
const maxAhead = 1000

// Add records one event, or refuses it (Refused) when it is not one the
// agent can send next. Events are taken in the order of their Seq: one
// numbered ahead of the next line is held until the lines before it have
// come (the agent's own lines may still be in flight while a guest
// program writes), and one numbered again, or not at all, is refused.
// Then, in order, an event is refused:
//
//   - before the hello, a second hello, anything after done;
//   - a suite-start that is not for the plan's next suite, or while one
//     runs; test, output and suite-end events of another suite than the
//     running one; a taint event that is not for the suite that just
//     ended; an unknown kind.
//
// A done before every suite ran is accepted (a worker that died): the
// suites that did not end are errors of their own. Events still held
// when the stream ends are refused by Finish.
func (c *Collector) Add(e proto.Event) {
	next := c.seq + 1
	switch {
	case e.Seq == 0:
		c.refuse(e, fmt.Sprintf("not numbered by the agent (the next line is seq %d)", next))
		return
	case e.Seq < next:
		c.refuse(e, fmt.Sprintf("seq %d again (the next line is seq %d)", e.Seq, next))
		return
	case e.Seq > next:
		if _, dup := c.ahead[e.Seq]; dup || len(c.ahead) >= maxAhead {
			c.refuse(e, fmt.Sprintf("seq %d again, ahead of the stream (the next line is seq %d)", e.Seq, next))
			return
		}
		c.ahead[e.Seq] = held{e, c.during()}
		return
	}
	c.take(e)
	for {
		h, ok := c.ahead[c.seq+1]
		if !ok {
			return
		}
		delete(c.ahead, h.ev.Seq)
		c.take(h.ev)
	}
}

// take records the next event of the sequence, or refuses it.
func (c *Collector) take(e proto.Event) {
	c.seq = e.Seq
	if why := c.order(e); why != "" {
		c.refuse(e, why)
		return
	}
	if why := c.allowed(e); why != "" {
		c.refuse(e, why)
		return
	}
	c.apply(e)
}

// order checks e's place in the stream: the hello first, nothing after
// done.
func (c *Collector) order(e proto.Event) string {
	switch {
	case c.Done:
		return "after the agent's done"
	case e.Kind == proto.KindHello && c.hello:
		return "a second hello"
	case e.Kind != proto.KindHello && !c.hello:
		return "before the agent's hello"
	}
	return ""
}

// allowed checks e against the plan and the suite running now.
func (c *Collector) allowed(e proto.Event) string {
	switch e.Kind {
	case proto.KindHello, proto.KindHeartbeat, proto.KindLog, proto.KindDone:
		return ""
	case proto.KindSuiteStart:
		switch {
		case c.Current != "":
			return fmt.Sprintf("suite-start for %q while %q runs", e.Suite, c.Current)
		case c.next >= len(c.plan):
			return fmt.Sprintf("suite-start for %q after every suite of the plan ran", e.Suite)
		case e.Suite != c.plan[c.next]:
			return fmt.Sprintf("suite-start for %q, but the plan's next suite is %q", e.Suite, c.plan[c.next])
		}
		return ""
	case proto.KindSuiteEnd, proto.KindTest, proto.KindOutput:
		if c.Current == "" || e.Suite != c.Current {
			return fmt.Sprintf("%s event for %q, which is not running (%s)", e.Kind, e.Suite, c.running())
		}
		return ""
	case proto.KindTaint:
		if c.Current != "" || e.Suite != c.ended {
			return fmt.Sprintf("taint for %q, which did not just end (%s)", e.Suite, c.running())
		}
		return ""
	}
	return fmt.Sprintf("unknown event kind %q", e.Kind)
}

// running says which suite runs, for a refusal's reason.
func (c *Collector) running() string {
	if c.Current == "" {
		return "no suite runs"
	}
	return fmt.Sprintf("%q runs", c.Current)
}

// during is the suite an event coming now is taken to come from: the one
// running, or the one that ended last.
func (c *Collector) during() string {
	if c.Current != "" {
		return c.Current
	}
	return c.ended
}

func (c *Collector) refuse(e proto.Event, why string) { c.refuseDuring(e, why, c.during()) }

func (c *Collector) refuseDuring(e proto.Event, why, during string) {
	if len(c.Refused) >= maxRefusals {
		c.Refused[len(c.Refused)-1].Reason = fmt.Sprintf("and more refused events (the last: %s)", why)
		return
	}
	c.Refused = append(c.Refused, Refusal{Seq: e.Seq, Kind: e.Kind, Suite: e.Suite, During: during, Reason: why})
}

// apply records an accepted event.
func (c *Collector) apply(e proto.Event) {
	switch e.Kind {
	case proto.KindHello:
		c.hello = true
		c.Release = e.Message
	case proto.KindHeartbeat:
		// The guest is alive; that is all, and the VM runner has used it
		// (any event resets its silence timer). Nothing to record.
	case proto.KindDone:
		c.Done = true
	case proto.KindLog:
		if len(c.Logs) < 1000 {
			c.Logs = append(c.Logs, e.Message)
		}
	case proto.KindSuiteStart:
		c.next++
		c.Current, c.ended = e.Suite, ""
		c.getSuite(e.Suite)
	case proto.KindSuiteEnd:
		c.endSuite(e)
	case proto.KindTaint:
		c.getSuite(e.Suite).Taint = e.Taint
		c.ended = ""
	case proto.KindOutput:
		c.benchOutput(e.Suite, e.Output)
		c.notePanic(e.Suite, e.Output)
	case proto.KindTest:
		if e.Test != nil {
			c.addTest(e.Suite, e.Test)
		}
	}
}

// endSuite records a suite's end: its verdict, and the tests it left
// running.
func (c *Collector) endSuite(e proto.Event) {
	s := c.getSuite(e.Suite)
	s.Status = normStatus(e.Status)
	s.ExitCode = e.ExitCode
	s.Elapsed = e.Elapsed
	s.Message = e.Message
	s.Crash = c.crash(s)
	// A test still "running" when its suite ended never finished,
	// except benchmarks: test2json reports no verdict for each, the
	// suite's own verdict covers them.
	for _, t := range s.Tests {
		if t.Status == "" || t.Status == "run" {
			switch {
			case strings.HasPrefix(t.Name, "Benchmark") && s.Status == Pass:
				t.Status = Pass
			case s.Status == Timeout:
				t.Status = Timeout
			default:
				t.Status = Fail
			}
		}
	}
	c.Current, c.ended = "", e.Suite
}

// Finish ends the stream: the events still held for lines that never
// came are refused, every suite during which an event was refused
// becomes an error (the results it reported cannot be told from forged
// ones), and the refusals are returned as findings of the cell, class
// ClassForgedEvent.
func (c *Collector) Finish() []Finding {
	seqs := make([]uint64, 0, len(c.ahead))
	for seq := range c.ahead {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		h := c.ahead[seq]
		c.refuseDuring(h.ev, fmt.Sprintf("numbered ahead of lines that never came (the stream stops at seq %d)", c.seq), h.during)
		delete(c.ahead, seq)
	}
	var out []Finding
	for _, r := range c.Refused {
		title := fmt.Sprintf("refused %s event (seq %d): %s", r.Kind, r.Seq, r.Reason)
		out = append(out, Finding{Class: ClassForgedEvent, Title: title, Suite: r.During})
		if s, ok := c.suite[r.During]; ok && s.Status != Error {
			s.Status = Error
			s.Message = "the event channel carried events the agent did not send in order (" + r.Reason + "): this suite's results cannot be trusted"
		}
	}
	return out
}

// noPackageResult is the agent's word for a Go test binary that ended
// without test2json's package result (guest/agent).
const noPackageResult = "test2json reported no package result"

// crashLine is a line saying a Go test binary crashed: a panic, or go
// test's FAIL line for a package that could not run.
var crashLine = regexp.MustCompile(`^(panic: |fatal error: |FAIL\s+\S+\s+\[(build|setup) failed\])`)

// firstCrashLine is the first line of out that crashLine matches, "".
func firstCrashLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimRight(l, "\r"); crashLine.MatchString(l) {
			if len(l) > 1000 {
				l = strings.ToValidUTF8(l[:1000], "") + "…"
			}
			return l
		}
	}
	return ""
}

// crash says whether suite s's program crashed before it reported (a
// panic line in its output or a test's, or no package result from a Go
// test binary), and which test ran then; nil when it did not. It is
// called at the suite's end, before the tests left running are failed.
func (c *Collector) crash(s *Suite) *Crash {
	if s.Status == Pass || s.Status == Skip {
		return nil
	}
	cr := &Crash{Message: c.panics[s.Name]}
	for _, t := range s.Tests {
		if l := firstCrashLine(t.Output); l != "" && cr.Test == "" {
			cr.Test = t.Name
			if cr.Message == "" {
				cr.Message = l
			}
		}
	}
	var running []string
	for _, t := range s.Tests {
		if t.Status == "" || t.Status == "run" {
			running = append(running, t.Name)
		}
	}
	if cr.Message == "" {
		if !strings.Contains(s.Message, noPackageResult) {
			return nil
		}
		cr.Message = "the test binary ended without a result (" + noPackageResult + ")"
	}
	if cr.Test == "" && len(running) > 0 {
		cr.Test = running[len(running)-1]
	}
	for _, n := range running {
		if n != cr.Test && !strings.HasPrefix(cr.Test, n+"/") {
			cr.NotRun = append(cr.NotRun, n)
		}
	}
	return cr
}

func (c *Collector) getSuite(name string) *Suite {
	if s, ok := c.suite[name]; ok {
		return s
	}
	s := &Suite{Name: name, Status: Error, Message: "the suite did not report an end"}
	c.suite[name] = s
	c.test[name] = map[string]*Test{}
	c.Suites = append(c.Suites, s)
	return s
}

// benchOutput keeps benchmark result lines. A benchmark prints its name,
// runs, then prints the figures, and test2json reports the two parts as
// separate output events: they are joined here before matching.
func (c *Collector) benchOutput(suite, out string) {
	out = c.partial[suite] + out
	lines := strings.Split(out, "\n")
	c.partial[suite] = lines[len(lines)-1]
	if len(c.partial[suite]) > 4096 {
		c.partial[suite] = "" // not a benchmark line: do not grow without end
	}
	for _, line := range lines[:len(lines)-1] {
		if benchLine.MatchString(line) || benchConfig.MatchString(line) || benchUnit.MatchString(line) {
			c.Bench[suite] = append(c.Bench[suite], line)
		}
	}
}

func (c *Collector) addTest(suite string, te *proto.TestEvent) {
	s := c.getSuite(suite)
	if te.Action == "output" {
		c.benchOutput(suite, te.Output)
	}
	if te.Test == "" {
		if te.Action == "output" {
			c.notePanic(suite, te.Output)
		}
		return // package-level events: the suite-end event carries the verdict
	}
	t, ok := c.test[suite][te.Test]
	if !ok {
		t = &Test{Name: te.Test, Status: "run"}
		c.test[suite][te.Test] = t
		s.Tests = append(s.Tests, t)
	}
	switch te.Action {
	case "pass", "bench":
		t.Status, t.Elapsed = Pass, te.Elapsed
	case "fail":
		t.Status, t.Elapsed = Fail, te.Elapsed
	case "skip":
		t.Status, t.Elapsed = Skip, te.Elapsed
	case "output":
		if len(t.Output)+len(te.Output) <= maxTestOutput {
			t.Output += te.Output
		}
	}
}

// notePanic keeps the first crash line of a suite's own output.
func (c *Collector) notePanic(suite, out string) {
	if c.panics[suite] != "" {
		return
	}
	if l := firstCrashLine(out); l != "" {
		c.panics[suite] = l
	}
}

func normStatus(s string) string {
	switch s {
	case proto.StatusPass:
		return Pass
	case proto.StatusFail:
		return Fail
	case proto.StatusSkip:
		return Skip
	case proto.StatusTimeout:
		return Timeout
	}
	return Error
}

// Expectation answers what the matrix expects of a suite (test == "") or
// a test in the cell being judged; ok is false when nothing is declared
// (then "pass" is expected).
type Expectation func(suite, test string) (status string, ok bool)

// Judge marks each suite and test as expected or not, and reports whether
// everything was. A suite whose program failed is as expected when every
// test that failed was expected to fail (and at least one did).
func Judge(suites []*Suite, expect Expectation) bool {
	all := true
	for _, s := range suites {
		failedExpected := 0
		testsOK := true
		for _, t := range s.Tests {
			want, ok := expect(s.Name, t.Name)
			if !ok {
				want = Pass
			} else {
				t.Expected = want
			}
			t.AsExpected = t.Status == want || (t.Status == Skip && !ok)
			if t.Status == Fail && want == Fail {
				failedExpected++
			}
			if !t.AsExpected {
				testsOK = false
			}
		}
		want, ok := expect(s.Name, "")
		if ok {
			s.Expected = want
		} else {
			want = Pass
		}
		switch {
		case ok:
			s.AsExpected = s.Status == want && testsOK
		case s.Status == Pass || s.Status == Skip:
			s.AsExpected = testsOK
		case s.Status == Fail:
			s.AsExpected = testsOK && failedExpected > 0
		default:
			s.AsExpected = false
		}
		if !s.AsExpected {
			all = false
		}
	}
	return all
}
