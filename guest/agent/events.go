package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// maxTextBytes bounds each free-text field of an event (Output, Message,
// Test.Output). An event that still exceeds proto.MaxLineBytes (because
// of JSON escapes) has its fields clipped further.
const maxTextBytes = 64 << 10

// Sink receives the agent's events.
type Sink interface {
	Send(ev proto.Event) error
}

// lineSink writes events as JSON lines to w. Each event is one Write of a
// complete line, numbered (proto.Event.Seq) from 1 in the order written;
// writers are serialized by a mutex, so lines never interleave and their
// numbers follow the order of the lines. It is safe for concurrent use.
type lineSink struct {
	mu  sync.Mutex
	w   io.Writer
	seq uint64 // of the last line written
	err error  // the first write error, reported by every later Send
}

func newLineSink(w io.Writer) *lineSink { return &lineSink{w: w} }

// clip truncates s to at most n bytes, saying so.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…[truncated]"
	return s[:n-len(mark)] + mark
}

// encodeEvent fills in the time, bounds the text fields and returns the
// JSON line, newline included.
func encodeEvent(ev proto.Event) ([]byte, error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	for limit := maxTextBytes; ; limit /= 2 {
		ev.Output = clip(ev.Output, limit)
		ev.Message = clip(ev.Message, limit)
		if ev.Test != nil && len(ev.Test.Output) > limit {
			t := *ev.Test
			t.Output = clip(t.Output, limit)
			ev.Test = &t
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encoding %s event: %w", ev.Kind, err)
		}
		if len(b) < proto.MaxLineBytes {
			return append(b, '\n'), nil
		}
		if limit < 1024 {
			return nil, fmt.Errorf("%s event of %d bytes exceeds the line limit", ev.Kind, len(b))
		}
	}
}

// Send writes ev as one line, with the next Seq (whatever ev.Seq was).
// After a write error the sink stays broken
// and every Send returns that error.
func (s *lineSink) Send(ev proto.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	ev.Seq = s.seq + 1
	b, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	s.seq++
	if _, err := s.w.Write(b); err != nil {
		s.err = fmt.Errorf("writing event: %w", err)
		return s.err
	}
	return nil
}

// logf sends a log event, and also prints it on stderr (the console in the
// guest), where it survives a broken event channel.
func logf(sink Sink, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	printConsole("%s", msg)
	_ = sink.Send(proto.Event{Kind: proto.KindLog, Message: msg})
}
