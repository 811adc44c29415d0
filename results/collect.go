package results

import (
	"regexp"
	"strings"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// maxTestOutput caps the output kept per test.
const maxTestOutput = 16 << 10

// Collector turns the guest's event stream into suite and test results.
// It never trusts the guest: unknown kinds and actions are ignored, and
// output is capped. Heartbeats are ignored too: they leave no trace in
// the results or the logs.
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

	suite   map[string]*Suite
	test    map[string]map[string]*Test
	partial map[string]string // per suite: output line not yet ended
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{Bench: map[string][]string{}, suite: map[string]*Suite{}, test: map[string]map[string]*Test{}, partial: map[string]string{}}
}

var benchLine = regexp.MustCompile(`^Benchmark\S+\s+\d+\s+\d`)
var benchConfig = regexp.MustCompile(`^(goos|goarch|pkg|cpu): `)

// Add records one event.
func (c *Collector) Add(e proto.Event) {
	switch e.Kind {
	case proto.KindHello:
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
		c.Current = e.Suite
		c.getSuite(e.Suite)
	case proto.KindSuiteEnd:
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
		c.Current = ""
	case proto.KindTaint:
		c.getSuite(e.Suite).Taint = e.Taint
	case proto.KindOutput:
		c.benchOutput(e.Suite, e.Output)
	case proto.KindTest:
		if e.Test != nil {
			c.addTest(e.Suite, e.Test)
		}
	}
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
