package vmrunner

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// guestLines is an event channel with valid events and malformed lines.
var guestLines = strings.Join([]string{
	`not json`,
	`{"time":"2026-01-01T00:00:00Z","kind":"hello","message":"6.12.0"}`,
	`{"time":"2026-01-01T00:00:00Z","message":"no kind"}`,
	`{"time":"2026-01-01T00:00:00Z","kind":"log","message":"x"}`,
	`{"time":"2026-01-01T00:00:00Z","kind":"done"}`,
}, "\n") + "\n"

// TestGuestEventsLoopAndDrain: the guest's events are handled the same
// whether the loop reads them or the final drain does: valid ones are
// counted and passed on, and a malformed line is counted as bad and
// passed to OnEvent as a kvmtest log event (the drain used to count it
// and drop it).
func TestGuestEventsLoopAndDrain(t *testing.T) {
	wantKinds := []string{proto.KindLog, proto.KindHello, proto.KindLog, proto.KindLog, proto.KindDone}
	for _, path := range []string{"loop", "drain"} {
		t.Run(path, func(t *testing.T) {
			exited := make(chan struct{})
			var got []proto.Event
			spec := Spec{OnEvent: func(e proto.Event) {
				got = append(got, e)
				if len(got) == len(wantKinds) && path == "loop" {
					close(exited) // QEMU exits once the loop has had every event
				}
			}}
			spec.defaults()
			res := &Result{}
			m := newMonitor(spec, spec, 1, res, &instance{started: time.Now(), exited: exited})
			m.armTimers()
			if path == "drain" {
				m.over() // the loop ended before the reader sent anything
			}
			m.readers.Add(1)
			go m.readEvents(strings.NewReader(guestLines))
			if path == "loop" {
				m.loop(context.Background())
			}
			m.drain(time.Second)

			var kinds []string
			for _, e := range got {
				kinds = append(kinds, e.Kind)
			}
			if !slices.Equal(kinds, wantKinds) {
				t.Fatalf("OnEvent got kinds %q, want %q", kinds, wantKinds)
			}
			for _, i := range []int{0, 2} {
				if !strings.HasPrefix(got[i].Message, "kvmtest: malformed event (") {
					t.Errorf("event %d: %q, want the kvmtest malformed-event log", i, got[i].Message)
				}
			}
			if res.Events != 3 || res.BadEvents != 2 || !m.hello || !m.done {
				t.Errorf("Events %d, BadEvents %d, hello %v, done %v; want 3, 2, true, true", res.Events, res.BadEvents, m.hello, m.done)
			}
			if m.ending != "" {
				t.Errorf("the monitor ended the machine itself: %s (%s)", m.ending, m.reason)
			}
		})
	}
}

// TestCrashSeenAfterTheLoop: a GUEST_PANICKED read after the loop is
// recorded but not timed (the crash-to-gone time would run backwards).
func TestCrashSeenAfterTheLoop(t *testing.T) {
	spec := Spec{}
	spec.defaults()
	res := &Result{}
	m := newMonitor(spec, spec, 1, res, &instance{started: time.Now(), exited: make(chan struct{})})
	m.armTimers()
	m.over()
	m.onQMP(qmp.Event{Event: "GUEST_PANICKED"})
	if !res.GuestPanicked || !m.fatalAt.IsZero() || m.graceC != nil {
		t.Errorf("GuestPanicked %v, fatalAt %v, grace armed %v; want true, zero, false", res.GuestPanicked, m.fatalAt, m.graceC != nil)
	}
}

// TestRunBadEvent: a malformed line on the event channel of a machine
// that then ends is counted and reaches OnEvent, whichever of the loop
// and the drain reads it.
func TestRunBadEvent(t *testing.T) {
	spec := fakeSpec(t, "bad-event")
	var logs []string
	spec.OnEvent = func(e proto.Event) {
		if e.Kind == proto.KindLog {
			logs = append(logs, e.Message)
		}
	}
	res, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != OutcomeDone || res.BadEvents != 1 || res.Events != 2 {
		t.Errorf("%s (%s), Events %d, BadEvents %d; want done, 2, 1", res.Outcome, res.Reason, res.Events, res.BadEvents)
	}
	if len(logs) != 1 || !strings.HasPrefix(logs[0], "kvmtest: malformed event (") {
		t.Errorf("OnEvent logs %q, want one malformed-event log", logs)
	}
}
