package vmrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// qmpConn wraps go-qemu's QMP socket monitor with what the library lacks: a
// deadline on every call, and an event reader that starts at once (the
// library blocks its reader, and so every command, when events go unread).
type qmpConn struct {
	mon    *qmp.SocketMonitor
	events chan qmp.Event
}

// qmpTimeout bounds a single QMP call.
const qmpTimeout = 10 * time.Second

// errQMPTimeout is returned when QEMU does not answer in time; the caller
// then kills QEMU, which also unblocks the abandoned call.
var errQMPTimeout = errors.New("QMP call timed out")

// withDeadline runs f, giving up after d or when ctx ends.
func withDeadline[T any](ctx context.Context, d time.Duration, f func() (T, error)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := f()
		ch <- res{v, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-t.C:
		var zero T
		return zero, errQMPTimeout
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// dialQMP connects to QEMU's QMP socket, retrying while QEMU creates it,
// negotiates capabilities and starts draining events.
func dialQMP(ctx context.Context, path string, exited <-chan struct{}) (*qmpConn, error) {
	deadline := time.Now().Add(qmpTimeout)
	var mon *qmp.SocketMonitor
	for {
		var err error
		mon, err = qmp.NewSocketMonitor("unix", path, time.Second)
		if err == nil {
			break
		}
		var nerr net.Error
		if time.Now().After(deadline) || (errors.As(err, &nerr) && nerr.Timeout()) {
			return nil, fmt.Errorf("connecting to QMP at %s: %w", path, err)
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("QEMU exited before its QMP socket was up")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := withDeadline(ctx, qmpTimeout, func() (struct{}, error) { return struct{}{}, mon.Connect() }); err != nil {
		mon.Disconnect()
		return nil, fmt.Errorf("QMP handshake: %w", err)
	}
	m := &qmpConn{mon: mon, events: make(chan qmp.Event, 64)}
	stream, err := mon.Events(ctx)
	if err != nil {
		mon.Disconnect()
		return nil, fmt.Errorf("QMP events: %w", err)
	}
	go func() {
		defer close(m.events)
		for e := range stream {
			select {
			case m.events <- e:
			default: // nobody keeps up: drop rather than stall QMP
			}
		}
	}()
	return m, nil
}

// run executes one QMP command with a deadline and decodes its "return"
// member into out (which may be nil).
func (m *qmpConn) run(ctx context.Context, command string, args any, out any) error {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	raw, err := withDeadline(ctx, qmpTimeout, func() ([]byte, error) { return m.mon.Run(b) })
	if err != nil {
		return fmt.Errorf("QMP %s: %w", command, err)
	}
	if out == nil {
		return nil
	}
	var resp struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("QMP %s: decoding reply: %w", command, err)
	}
	if err := json.Unmarshal(resp.Return, out); err != nil {
		return fmt.Errorf("QMP %s: decoding reply: %w", command, err)
	}
	return nil
}

// hmp runs a human monitor command (for diagnostics) and returns its text.
func (m *qmpConn) hmp(ctx context.Context, line string) (string, error) {
	var out string
	err := m.run(ctx, "human-monitor-command", map[string]string{"command-line": line}, &out)
	return out, err
}

func (m *qmpConn) close() {
	m.mon.Disconnect()
}

// diagnose asks QEMU for the state of a hung machine.
func diagnose(q *qmpConn) string {
	var b strings.Builder
	for _, c := range []string{"info status", "info registers", "info cpus"} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := q.hmp(ctx, c)
		cancel()
		fmt.Fprintf(&b, "(qemu) %s\n", c)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
			continue
		}
		b.WriteString(out)
		b.WriteString("\n")
	}
	return b.String()
}

// drainEvents returns what is left on a closing event channel, waiting at
// most d for it to be closed. A nil channel has nothing left.
func drainEvents(events <-chan qmp.Event, d time.Duration) []qmp.Event {
	if events == nil {
		return nil
	}
	var out []qmp.Event
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-t.C:
			return out
		}
	}
}
