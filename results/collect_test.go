package results

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
)

func ev(kind, suite string, te *proto.TestEvent) proto.Event {
	return proto.Event{Kind: kind, Suite: suite, Test: te}
}

// feed adds events to c numbered as the agent numbers its lines: from
// one more than the last accepted, one more each.
func feed(c *Collector, events ...proto.Event) {
	for _, e := range events {
		e.Seq = c.seq + 1
		c.Add(e)
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector([]string{"s"})
	one := 1
	events := []proto.Event{
		{Kind: proto.KindHello, Message: "6.12.117"},
		ev(proto.KindSuiteStart, "s", nil),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestA"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Test: "TestA", Output: "read back 'B'\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "fail", Test: "TestA", Elapsed: 0.5}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestB"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "pass", Test: "TestB"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Output: "Unit bogo-ops/s better=higher\nUnit x\nUnit y better=maybe; rm\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Output: "BenchmarkX-1   \t     200\t      5000 ns/op\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestHang"}),
		{Kind: proto.KindSuiteEnd, Suite: "s", Status: proto.StatusFail, ExitCode: &one, Elapsed: 2},
		{Kind: proto.KindDone},
	}
	feed(c, events...)
	if len(c.Refused) != 0 {
		t.Errorf("refused %+v", c.Refused)
	}
	if c.Release != "6.12.117" || !c.Done || len(c.Suites) != 1 {
		t.Fatalf("collector: release %q done %v suites %d", c.Release, c.Done, len(c.Suites))
	}
	s := c.Suites[0]
	if s.Status != Fail || *s.ExitCode != 1 || len(s.Tests) != 3 {
		t.Fatalf("suite %+v", s)
	}
	if s.Tests[0].Status != Fail || s.Tests[0].Output != "read back 'B'\n" || s.Tests[1].Status != Pass {
		t.Errorf("tests %+v %+v", s.Tests[0], s.Tests[1])
	}
	if s.Tests[2].Status != Fail {
		t.Errorf("a test still running at suite end is %q, want fail", s.Tests[2].Status)
	}
	if b := c.Bench["s"]; len(b) != 2 || b[0] != "Unit bogo-ops/s better=higher" || b[1] != "BenchmarkX-1   \t     200\t      5000 ns/op" {
		t.Errorf("bench lines %q", b)
	}
}

// TestCollectorTAPCases feeds the events the agent derives from a KTAP
// suite (the kselftest runner running mm/cow) and checks the cases.
func TestCollectorTAPCases(t *testing.T) {
	const first = "cow/vmsplice() + unmap in child ... with base page"
	te := func(action, test, output string) proto.Event {
		return ev(proto.KindTest, "mm", &proto.TestEvent{Action: action, Package: "mm", Test: test, Output: output})
	}
	one := 1
	c := NewCollector([]string{"mm"})
	feed(c, []proto.Event{
		{Kind: proto.KindHello, Message: "6.12.117"},
		ev(proto.KindSuiteStart, "mm", nil),
		{Kind: proto.KindOutput, Suite: "mm", Output: "KTAP version 1"},
		{Kind: proto.KindOutput, Suite: "mm", Output: "1..2"},
		te("run", "cow", ""),
		te("output", "cow", "  # Subtest: cow\n"),
		te("run", first, ""),
		te("output", first, "  # [RUN] vmsplice() + unmap in child ... with base page\n"),
		te("output", first, "  ok 3 No leak from child into parent\n"),
		{Kind: proto.KindHeartbeat},
		te("pass", first, ""),
		te("run", "cow/Basic COW after fork() ... with hugetlb (2048 kB)", ""),
		te("skip", "cow/Basic COW after fork() ... with hugetlb (2048 kB)", ""),
		te("run", "cow/test 5", ""),
		te("output", "cow/test 5", "kvmtest: planned 5 tests, got 4; no result line for test 5\n"),
		te("fail", "cow/test 5", ""),
		te("output", "cow", "not ok 1 cow # exit=1\n"),
		te("fail", "cow", ""),
		te("run", "gup_longterm", ""),
		te("run", "gup_longterm/R/O longterm GUP pin ... with memfd", ""),
		{Kind: proto.KindSuiteEnd, Suite: "mm", Status: proto.StatusTimeout, ExitCode: &one},
	}...)
	if len(c.Suites) != 1 || len(c.Logs) != 0 || len(c.Refused) != 0 {
		t.Fatalf("%d suites, logs %q, refused %+v", len(c.Suites), c.Logs, c.Refused)
	}
	s := c.Suites[0]
	want := []struct{ name, status, output string }{
		{"cow", Fail, "  # Subtest: cow\nnot ok 1 cow # exit=1\n"},
		{first, Pass, "  # [RUN] vmsplice() + unmap in child ... with base page\n  ok 3 No leak from child into parent\n"},
		{"cow/Basic COW after fork() ... with hugetlb (2048 kB)", Skip, ""},
		{"cow/test 5", Fail, "kvmtest: planned 5 tests, got 4; no result line for test 5\n"},
		// Running when the suite timed out.
		{"gup_longterm", Timeout, ""},
		{"gup_longterm/R/O longterm GUP pin ... with memfd", Timeout, ""},
	}
	if len(s.Tests) != len(want) {
		t.Fatalf("%d tests, want %d: %+v", len(s.Tests), len(want), s.Tests)
	}
	for i, w := range want {
		if got := s.Tests[i]; got.Name != w.name || got.Status != w.status || got.Output != w.output {
			t.Errorf("test %d: %q %s %q, want %q %s %q", i, got.Name, got.Status, got.Output, w.name, w.status, w.output)
		}
	}
}

// TestCollectorIgnoresHeartbeats checks that heartbeats, wherever they
// come, change nothing: the same events with and without them give the
// same results, and no log.
func TestCollectorIgnoresHeartbeats(t *testing.T) {
	zero := 0
	events := []proto.Event{
		{Kind: proto.KindHello, Message: "6.12.117"},
		ev(proto.KindSuiteStart, "s", nil),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestA"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Test: "TestA", Output: "partial "}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Test: "TestA", Output: "line\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "pass", Test: "TestA"}),
		{Kind: proto.KindSuiteEnd, Suite: "s", Status: proto.StatusPass, ExitCode: &zero},
		{Kind: proto.KindDone},
	}
	plain := NewCollector([]string{"s"})
	beating := NewCollector([]string{"s"})
	feed(plain, events...)
	for i, e := range events {
		if i > 0 { // after the hello, before the done: wherever the agent sends them
			feed(beating, proto.Event{Kind: proto.KindHeartbeat, Suite: "s", Message: "x"})
		}
		feed(beating, e)
	}
	plain.seq, beating.seq = 0, 0 // the lines' numbers differ, and only them
	a, _ := json.Marshal(plain)
	b, _ := json.Marshal(beating)
	if string(a) != string(b) {
		t.Errorf("with heartbeats:\n%s\nwithout:\n%s", b, a)
	}
	if len(beating.Logs) != 0 || len(beating.Suites) != 1 || beating.Current != "" || !beating.Done {
		t.Errorf("collector %+v", beating)
	}
}

func TestJudge(t *testing.T) {
	mk := func(status string, tests ...*Test) []*Suite {
		return []*Suite{{Name: "s", Status: status, Tests: tests}}
	}
	expectAFails := func(suite, test string) (string, bool) {
		if test == "TestA" {
			return Fail, true
		}
		return "", false
	}
	none := func(suite, test string) (string, bool) { return "", false }
	tests := []struct {
		name   string
		suites []*Suite
		expect Expectation
		want   bool
	}{
		{"all pass", mk(Pass, &Test{Name: "TestA", Status: Pass}), none, true},
		{"unexpected fail", mk(Fail, &Test{Name: "TestA", Status: Fail}), none, false},
		{"expected fail", mk(Fail, &Test{Name: "TestA", Status: Fail}, &Test{Name: "TestB", Status: Pass}), expectAFails, true},
		{"expected fail, another fails too", mk(Fail, &Test{Name: "TestA", Status: Fail}, &Test{Name: "TestB", Status: Fail}), expectAFails, false},
		{"expected fail did not happen", mk(Pass, &Test{Name: "TestA", Status: Pass}), expectAFails, false},
		{"suite failed without a failing test", mk(Fail, &Test{Name: "TestB", Status: Pass}), none, false},
		{"suite timed out", mk(Timeout), none, false},
		{"skipped test without expectation", mk(Pass, &Test{Name: "TestB", Status: Skip}), none, true},
	}
	for _, tt := range tests {
		if got := Judge(tt.suites, tt.expect); got != tt.want {
			t.Errorf("%s: Judge = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	run := func(statuses ...string) int {
		r := &Run{}
		for _, s := range statuses {
			r.Cells = append(r.Cells, &Cell{Status: s})
		}
		return r.ExitCode()
	}
	cases := []struct {
		statuses []string
		want     int
	}{
		{[]string{StatusPassed, StatusSkipped}, 0},
		{[]string{StatusPassed, StatusFailed}, 1},
		{[]string{StatusCrashed, StatusPassed}, 1},
		{[]string{StatusFailed, StatusBuildFailed}, 3},
		{[]string{StatusBootFailed, StatusInterrupted, StatusFailed}, 130},
	}
	for _, c := range cases {
		if got := run(c.statuses...); got != c.want {
			t.Errorf("%v: exit %d, want %d", c.statuses, got, c.want)
		}
	}
}

// TestCollectorRealCapture replays the events of a real cell (6.12 with
// vmsplice-v2 under TCG): every benchmark result line is recovered although
// test2json splits each in two output events, and benchmarks, which get no
// per-benchmark verdict, take their suite's.
func TestCollectorRealCapture(t *testing.T) {
	f, err := os.Open("testdata/vmsplice-v2-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := NewCollector([]string{"vmsplice", "vmsplice-bench"})
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, proto.MaxLineBytes)
	for sc.Scan() {
		var e proto.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		// The capture predates numbered lines: number them as the agent does.
		feed(c, e)
	}
	if len(c.Refused) != 0 {
		t.Errorf("a real capture refused: %+v", c.Refused)
	}
	results := 0
	for _, l := range c.Bench["vmsplice-bench"] {
		if strings.HasPrefix(l, "Benchmark") {
			results++
			if !strings.Contains(l, "ns/op") {
				t.Errorf("bench line without figures: %q", l)
			}
		}
	}
	if results != 7*5 {
		t.Errorf("%d benchmark result lines, want 35 (7 benchmarks, -test.count=5)", results)
	}
	for _, s := range c.Suites {
		for _, tt := range s.Tests {
			if tt.Status != Pass && tt.Status != Skip {
				t.Errorf("%s/%s: %s", s.Name, tt.Name, tt.Status)
			}
		}
	}
}

// TestCollectorRefusesForgedEvents: a guest program that writes agent
// protocol lines to the event channel (the forgeries) cannot make
// a suite pass: each line the plan does not allow is refused, with its
// reason, and the suite it came in becomes an error.
func TestCollectorRefusesForgedEvents(t *testing.T) {
	zero, one := 0, 1
	pass := func(suite string) proto.Event {
		return proto.Event{Kind: proto.KindSuiteEnd, Suite: suite, Status: proto.StatusPass, ExitCode: &zero}
	}
	start := func(suite string) proto.Event { return ev(proto.KindSuiteStart, suite, nil) }
	test := func(suite, name, action string) proto.Event {
		return ev(proto.KindTest, suite, &proto.TestEvent{Action: action, Test: name})
	}
	hello := proto.Event{Kind: proto.KindHello, Message: "6.12"}
	plan := []string{"forger", "later"}
	cases := []struct {
		name string
		// agent are the agent's events, numbered; forged (inserted
		// after agent[at]) carry the seq given.
		agent  []proto.Event
		at     int
		forged []proto.Event
		// want: the reasons refused (substrings, in order), and the
		// suites' statuses after Finish.
		refused []string
		status  map[string]string
		// lands: the forged test is in the (error) suite's results: a
		// forged line taken for the agent's before its own came.
		lands bool
	}{
		{
			name:  "unnumbered lines for itself, a later suite, a ghost, and done",
			agent: []proto.Event{hello, start("forger"), {Kind: proto.KindSuiteEnd, Suite: "forger", Status: proto.StatusPass, ExitCode: &zero}, start("later"), {Kind: proto.KindSuiteEnd, Suite: "later", Status: proto.StatusFail, ExitCode: &one}, {Kind: proto.KindDone}},
			at:    1,
			forged: []proto.Event{test("forger", "TestForged", "pass"), pass("forger"), start("later"), pass("later"),
				start("ghost"), pass("ghost"), {Kind: proto.KindDone}},
			refused: []string{"not numbered", "not numbered", "not numbered", "not numbered", "not numbered", "not numbered", "not numbered"},
			status:  map[string]string{"forger": Error, "later": Fail},
		},
		{
			name:   "a numbered line that guessed right is found when the agent's own comes",
			agent:  []proto.Event{hello, start("forger"), pass("forger"), start("later"), pass("later"), {Kind: proto.KindDone}},
			at:     1,
			forged: []proto.Event{{Seq: 3, Kind: proto.KindTest, Suite: "forger", Test: &proto.TestEvent{Action: "pass", Test: "TestForged"}}},
			// The agent's own suite-end is the one refused: which of
			// two lines numbered 3 is the agent's cannot be told, and
			// what follows it does not fit the plan any more.
			refused: []string{"seq 3 again", `suite-start for "later" while "forger" runs`, `"later", which is not running`},
			status:  map[string]string{"forger": Error},
			lands:   true,
		},
		{
			name:   "a line numbered just ahead of the agent's, whose own lines are in flight",
			agent:  []proto.Event{hello, start("forger"), pass("forger"), {Kind: proto.KindTaint, Suite: "forger"}, start("later"), {Kind: proto.KindSuiteEnd, Suite: "later", Status: proto.StatusFail, ExitCode: &one}, {Kind: proto.KindDone}},
			at:     1,
			forged: []proto.Event{{Seq: 4, Kind: proto.KindSuiteEnd, Suite: "later", Status: proto.StatusPass}},
			// Held, taken in its place (not allowed there: later does not
			// run), and the agent's own line 4 is refused as a repeat;
			// the rest of the agent's stream stands.
			refused: []string{`"later", which is not running`, "seq 4 again"},
			status:  map[string]string{"forger": Error, "later": Fail},
		},
		{
			name:    "a line far ahead is held, and refused when the stream ends without its predecessors",
			agent:   []proto.Event{hello, start("forger"), pass("forger"), start("later"), pass("later"), {Kind: proto.KindDone}},
			at:      1,
			forged:  []proto.Event{{Seq: 1000, Kind: proto.KindSuiteEnd, Suite: "forger", Status: proto.StatusPass}},
			refused: []string{"numbered ahead of lines that never came (the stream stops at seq 6)"},
			status:  map[string]string{"forger": Error, "later": Pass},
		},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCollector(plan)
			for i, e := range tt.agent {
				e.Seq = uint64(i + 1)
				c.Add(e)
				if i == tt.at {
					for _, f := range tt.forged {
						c.Add(f)
					}
				}
			}
			findings := c.Finish()
			if len(c.Refused) != len(tt.refused) || len(findings) != len(tt.refused) {
				t.Fatalf("refused %+v, want %d: %q", c.Refused, len(tt.refused), tt.refused)
			}
			for i, want := range tt.refused {
				if !strings.Contains(c.Refused[i].Reason, want) || findings[i].Class != ClassForgedEvent {
					t.Errorf("refusal %d: %+v, want %q", i, c.Refused[i], want)
				}
			}
			for name, want := range tt.status {
				s := c.suite[name]
				if s == nil || s.Status != want {
					t.Errorf("suite %s: %+v, want status %s", name, s, want)
				}
			}
			if _, ok := c.suite["ghost"]; ok {
				t.Error("a suite that is not in the plan has results")
			}
			for _, s := range c.Suites {
				for _, tst := range s.Tests {
					if tst.Name == "TestForged" && !tt.lands {
						t.Errorf("forged test %s/%s landed", s.Name, tst.Name)
					}
				}
			}
		})
	}
}

// TestCollectorPlanOrder: numbered events in the wrong place of the plan
// are refused, one reason each.
func TestCollectorPlanOrder(t *testing.T) {
	cases := []struct {
		name   string
		events []proto.Event
		want   string
	}{
		{"before hello", []proto.Event{ev(proto.KindSuiteStart, "a", nil)}, "before the agent's hello"},
		{"second hello", []proto.Event{{Kind: proto.KindHello}, {Kind: proto.KindHello}}, "a second hello"},
		{"out of plan order", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "b", nil)}, `plan's next suite is "a"`},
		{"not in the plan", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "a", nil), {Kind: proto.KindSuiteEnd, Suite: "a"}, ev(proto.KindSuiteStart, "b", nil), {Kind: proto.KindSuiteEnd, Suite: "b"}, ev(proto.KindSuiteStart, "c", nil)}, "after every suite of the plan ran"},
		{"twice", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "a", nil), {Kind: proto.KindSuiteEnd, Suite: "a"}, ev(proto.KindSuiteStart, "a", nil)}, `plan's next suite is "b"`},
		{"start while another runs", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "a", nil), ev(proto.KindSuiteStart, "b", nil)}, `while "a" runs`},
		{"a test of another suite", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "a", nil), ev(proto.KindTest, "b", &proto.TestEvent{Action: "pass", Test: "T"})}, `"b", which is not running`},
		{"output between suites", []proto.Event{{Kind: proto.KindHello}, {Kind: proto.KindOutput, Suite: "a"}}, "not running (no suite runs)"},
		{"end of another suite", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "a", nil), {Kind: proto.KindSuiteEnd, Suite: "b"}}, `"b", which is not running`},
		{"taint of another suite", []proto.Event{{Kind: proto.KindHello}, ev(proto.KindSuiteStart, "a", nil), {Kind: proto.KindSuiteEnd, Suite: "a"}, {Kind: proto.KindTaint, Suite: "b"}}, "did not just end"},
		{"after done", []proto.Event{{Kind: proto.KindHello}, {Kind: proto.KindDone}, {Kind: proto.KindLog}}, "after the agent's done"},
		{"unknown kind", []proto.Event{{Kind: proto.KindHello}, {Kind: "result"}}, "unknown event kind"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCollector([]string{"a", "b"})
			feed(c, tt.events...)
			if len(c.Refused) != 1 || !strings.Contains(c.Refused[0].Reason, tt.want) {
				t.Errorf("refused %+v, want one: %q", c.Refused, tt.want)
			}
		})
	}
}

// TestCollectorCrashedGoBinary: a Go test binary that panicked mid-way
// (test2json reports no package result, the panic is in the output of
// the test that ran) is a crash of its suite: the panic line, the test
// running then, and the tests that started but never reported, as not
// run. A binary that ended with no package result and no panic line is a
// crash too, the last test started named; a suite that failed with every
// test's end reported is not.
func TestCollectorCrashedGoBinary(t *testing.T) {
	two := 2
	run := func(msg string, extra ...proto.Event) *Suite {
		c := NewCollector([]string{"s"})
		events := []proto.Event{
			{Kind: proto.KindHello, Message: "6.12"},
			ev(proto.KindSuiteStart, "s", nil),
			ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestOK"}),
			ev(proto.KindTest, "s", &proto.TestEvent{Action: "pass", Test: "TestOK"}),
			ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestP1"}),
			ev(proto.KindTest, "s", &proto.TestEvent{Action: "pause", Test: "TestP1"}),
			ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestP2"}),
			ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestX"}),
		}
		events = append(events, extra...)
		events = append(events, proto.Event{Kind: proto.KindSuiteEnd, Suite: "s", Status: proto.StatusFail, ExitCode: &two, Message: msg}, proto.Event{Kind: proto.KindDone})
		feed(c, events...)
		return c.Suites[0]
	}
	s := run("exit status 2; test2json reported no package result",
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Test: "TestX", Output: "panic: runtime error: index out of range [3] with length 3\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Test: "TestX", Output: "\ngoroutine 7 [running]:\n"}))
	want := &Crash{Message: "panic: runtime error: index out of range [3] with length 3", Test: "TestX", NotRun: []string{"TestP1", "TestP2"}}
	if s.Crash == nil || s.Crash.Message != want.Message || s.Crash.Test != want.Test || strings.Join(s.Crash.NotRun, ",") != "TestP1,TestP2" {
		t.Errorf("crash = %+v, want %+v", s.Crash, want)
	}
	s = run("exit status 2; test2json reported no package result")
	if s.Crash == nil || !strings.Contains(s.Crash.Message, "no package result") || s.Crash.Test != "TestX" || len(s.Crash.NotRun) != 2 {
		t.Errorf("no package result: crash = %+v", s.Crash)
	}
	s = run("exit status 2; test2json reported no package result",
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Output: "panic: boom in a goroutine\n"}))
	if s.Crash == nil || s.Crash.Message != "panic: boom in a goroutine" || s.Crash.Test != "TestX" {
		t.Errorf("a panic in the package's own output: crash = %+v", s.Crash)
	}
	s = run("exit status 1",
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "fail", Test: "TestX"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "pass", Test: "TestP1"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "pass", Test: "TestP2"}))
	if s.Crash != nil {
		t.Errorf("a suite whose tests all ended: crash = %+v", s.Crash)
	}
}
