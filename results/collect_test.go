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

func TestCollector(t *testing.T) {
	c := NewCollector()
	one := 1
	events := []proto.Event{
		{Kind: proto.KindHello, Message: "6.12.117"},
		ev(proto.KindSuiteStart, "s", nil),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestA"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Test: "TestA", Output: "read back 'B'\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "fail", Test: "TestA", Elapsed: 0.5}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestB"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "pass", Test: "TestB"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "output", Output: "BenchmarkX-1   \t     200\t      5000 ns/op\n"}),
		ev(proto.KindTest, "s", &proto.TestEvent{Action: "run", Test: "TestHang"}),
		{Kind: proto.KindSuiteEnd, Suite: "s", Status: proto.StatusFail, ExitCode: &one, Elapsed: 2},
		{Kind: proto.KindDone},
	}
	for _, e := range events {
		c.Add(e)
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
	if b := c.Bench["s"]; len(b) != 1 || b[0] != "BenchmarkX-1   \t     200\t      5000 ns/op" {
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
	c := NewCollector()
	for _, e := range []proto.Event{
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
	} {
		c.Add(e)
	}
	if len(c.Suites) != 1 || len(c.Logs) != 0 {
		t.Fatalf("%d suites, logs %q", len(c.Suites), c.Logs)
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
	plain := NewCollector()
	beating := NewCollector()
	beating.Add(proto.Event{Kind: proto.KindHeartbeat}) // before hello, too
	for _, e := range events {
		plain.Add(e)
		beating.Add(e)
		beating.Add(proto.Event{Kind: proto.KindHeartbeat, Suite: "s", Message: "x"})
	}
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
	c := NewCollector()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e proto.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		c.Add(e)
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
