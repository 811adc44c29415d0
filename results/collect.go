package results

import (
	"fmt"
	"regexp"
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
	next    int    // index in plan of the next suite to start
	seq     uint64 // of the last event accepted
	hello   bool
	ended   string // the suite that ended last, until its taint comes
	suite   map[string]*Suite
	test    map[string]map[string]*Test
	partial map[string]string // per suite: output line not yet ended
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
		partial: map[string]string{}, plan: plan}
}

var benchLine = regexp.MustCompile(`^Benchmark\S+\s+\d+\s+\d`)
var benchConfig = regexp.MustCompile(`^(goos|goarch|pkg|cpu): `)

// Add records one event, or refuses it (Refused) when it is not the one
// the agent can send next:
//
//   - its Seq is not one more than the last accepted (a line with a
//     higher one is accepted, the lines between being refused as lost);
//   - before the hello, a second hello, anything after done;
//   - a suite-start that is not for the plan's next suite, or while one
//     runs; test, output and suite-end events of another suite than the
//     running one; a taint event that is not for the suite that just
//     ended; an unknown kind.
//
// A done before every suite ran is accepted (a worker that died): the
// suites that did not end are errors of their own.
func (c *Collector) Add(e proto.Event) {
	if why := c.sequence(e); why != "" {
		c.refuse(e, why)
		return
	}
	if why := c.allowed(e); why != "" {
		c.refuse(e, why)
		return
	}
	c.apply(e)
}

// sequence checks e's place in the stream: its number, the hello first,
// nothing after done. It advances the sequence when e is numbered after
// the last accepted event.
func (c *Collector) sequence(e proto.Event) string {
	switch {
	case e.Seq <= c.seq:
		if e.Seq == 0 {
			return fmt.Sprintf("not numbered by the agent (the next line is seq %d)", c.seq+1)
		}
		return fmt.Sprintf("seq %d again or out of order (the next line is seq %d)", e.Seq, c.seq+1)
	case e.Seq > c.seq+1:
		// Lines between were lost or mangled: the event itself may still
		// be the agent's, but the stream is not whole.
		c.refuse(proto.Event{Seq: c.seq + 1, Kind: "(missing)"}, fmt.Sprintf("lines %d to %d never arrived as events", c.seq+1, e.Seq-1))
	}
	c.seq = e.Seq
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

func (c *Collector) refuse(e proto.Event, why string) {
	if len(c.Refused) >= maxRefusals {
		c.Refused[len(c.Refused)-1].Reason = fmt.Sprintf("and more refused events (the last: %s)", why)
		return
	}
	during := c.Current
	if during == "" {
		during = c.ended
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

// Finish ends the stream: every suite during which an event was refused
// becomes an error (the results it reported cannot be told from forged
// ones), and the refusals are returned as findings of the cell, class
// ClassForgedEvent.
func (c *Collector) Finish() []Finding {
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
		if benchLine.MatchString(line) || benchConfig.MatchString(line) {
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
