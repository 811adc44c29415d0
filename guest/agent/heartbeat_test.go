package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// timedSink records when each event arrives.
type timedSink struct {
	mu    sync.Mutex
	kinds []string
	times []time.Time
}

func (s *timedSink) Send(ev proto.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds = append(s.kinds, ev.Kind)
	s.times = append(s.times, time.Now())
	return nil
}

func (s *timedSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kinds)
}

func TestHeartbeat(t *testing.T) {
	const interval = 20 * time.Millisecond
	s := &timedSink{}
	start := time.Now()
	stop := startHeartbeat(s, interval)
	time.Sleep(10 * interval)
	stop()
	stopped := time.Now()
	n := s.count()
	t.Logf("%d heartbeats in %v", n, stopped.Sub(start))
	if max := int(stopped.Sub(start)/interval) + 1; n < 3 || n > max {
		t.Errorf("%d heartbeats in %v, want between 3 and %d", n, stopped.Sub(start), max)
	}
	for i, k := range s.kinds {
		if k != proto.KindHeartbeat {
			t.Errorf("event %d is %q", i, k)
		}
		if s.times[i].Before(start.Add(interval / 2)) {
			t.Errorf("heartbeat %d came %v after the start, before the interval", i, s.times[i].Sub(start))
		}
	}
	time.Sleep(5 * interval)
	if s.count() != n {
		t.Errorf("%d heartbeats after stop", s.count()-n)
	}
	stop() // a second stop is harmless

	s = &timedSink{}
	stop = startHeartbeat(s, 0)
	time.Sleep(3 * interval)
	stop()
	if s.count() != 0 {
		t.Errorf("interval 0: %d heartbeats", s.count())
	}
}

// TestHostModeHeartbeat runs the agent with a heartbeat and a slow,
// silent suite: heartbeats come between hello and done, also from the
// supervisor while its worker runs the suite.
func TestHostModeHeartbeat(t *testing.T) {
	for _, args := range [][]string{nil, {"-subreaper"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			dir := t.TempDir()
			m := writeManifest(t, proto.Manifest{Heartbeat: proto.Duration(50 * time.Millisecond), Suites: []proto.Suite{
				{Name: "slow", Argv: []string{script(t, dir, "slow.sh", "sleep 0.5")}},
			}})
			evs := runAgent(t, m, nil, args...)
			beats, start, end := 0, -1, -1
			for i, ev := range evs {
				switch ev.Kind {
				case proto.KindHeartbeat:
					beats++
					if ev.Suite != "" || ev.Message != "" || ev.Time.IsZero() {
						t.Errorf("heartbeat %+v: want a time and nothing else", ev)
					}
				case proto.KindSuiteStart:
					start = i
				case proto.KindSuiteEnd:
					end = i
				}
			}
			during := 0
			for _, ev := range evs[start+1 : end] {
				if ev.Kind == proto.KindHeartbeat {
					during++
				}
			}
			t.Logf("%d heartbeats, %d during the suite", beats, during)
			if during < 3 {
				t.Errorf("%d heartbeats during a silent suite of 0.5s, want at least 3 at 50ms", during)
			}
		})
	}
}

func TestManifestHeartbeat(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		json string
		want time.Duration
	}{
		{`{"suites":[],"heartbeat":"10s"}`, 10 * time.Second},
		{`{"suites":[]}`, 0},
		{`{"suites":[],"heartbeat":"-1s"}`, 0}, // rejected
		{`{"suites":[`, 0},                     // unreadable
	} {
		p := filepath.Join(dir, "m.json")
		writeFile(t, p, tc.json)
		if got := heartbeatInterval(p); got != tc.want {
			t.Errorf("%s: heartbeat %v, want %v", tc.json, got, tc.want)
		}
	}
	p := filepath.Join(dir, "neg.json")
	writeFile(t, p, `{"suites":[],"heartbeat":"-1s"}`)
	if _, err := loadManifest(p); err == nil {
		t.Error("a negative heartbeat was accepted")
	}
}

// writeFile writes content to name.
func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
