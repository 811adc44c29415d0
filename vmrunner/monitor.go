package vmrunner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/triage"
)

// monitor watches one started machine until it ends: it reads the console
// and the agent's events from the first moment (begin), continues the VM,
// runs the one select loop over everything that can happen (loop), then
// stops QEMU and reads what was still on its way (stop). Every guest event
// goes through onGuest and every QMP event through onQMP, in the loop and
// in the final drain alike.
//
// Only the loop's goroutine touches the monitor's state; the readers send
// to it over channels.
type monitor struct {
	spec    Spec    // timeouts scaled for the accelerator
	base    Spec    // timeouts as given, for the verdict's text
	factor  float64 // spec's timeouts are base's times this
	res     *Result
	inst    *instance
	started time.Time
	exited  <-chan struct{}
	qmpEv   <-chan qmp.Event // QEMU's events (nil without QMP)
	scanner *lockedScanner

	// From the readers: activity on either line (for the silence
	// timeout), console bytes (for the quiet after a crash), a fatal
	// console finding, and the guest's events (closed at the end).
	activity, consoleActive, fatal chan struct{}
	guest                          chan guestMsg
	readers                        sync.WaitGroup

	bootT, runT, silT, quietT *time.Timer
	silence                   time.Duration // silT's period (a huge one for no limit)
	quiet                     time.Duration // the console quiet that ends an oops that goes on
	graceC, quietC            <-chan time.Time
	fatalAt                   time.Time // the first sign of a crash

	hello, done bool
	ended       bool // the loop is over: nothing more is timed
	ending      Outcome
	reason      string
}

// guestMsg is one line of the event channel: an event, or why the line
// was not one.
type guestMsg struct {
	ev  proto.Event
	bad string
}

// newMonitor returns the monitor of inst, which is connected and paused.
func newMonitor(spec, base Spec, factor float64, res *Result, inst *instance) *monitor {
	m := &monitor{spec: spec, base: base, factor: factor, res: res, inst: inst,
		started: inst.started, exited: inst.exited,
		scanner:  &lockedScanner{s: triage.NewScanner()},
		activity: make(chan struct{}, 1), consoleActive: make(chan struct{}, 1), fatal: make(chan struct{}, 1),
		guest: make(chan guestMsg, 256),
	}
	if inst.qmp != nil {
		m.qmpEv = inst.qmp.events
	}
	return m
}

// begin starts the readers, continues the VM, starts copying the console
// input, tells OnState "booting" and arms the timers.
func (m *monitor) begin(ctx context.Context) error {
	m.readers.Add(2)
	go m.readConsole(m.inst.con)
	go m.readEvents(m.inst.ev)
	if err := m.inst.qmp.run(ctx, "cont", nil, nil); err != nil {
		return err
	}
	if m.spec.ConsoleInput != nil {
		go m.copyInput()
	}
	if m.spec.OnState != nil {
		m.spec.OnState("booting")
	}
	m.armTimers()
	return nil
}

// copyInput copies Spec.ConsoleInput to the guest's console once
// InputGate is open.
func (m *monitor) copyInput() {
	if m.spec.InputGate != nil {
		select {
		case <-m.spec.InputGate:
		case <-m.exited:
			return
		}
		// The gate opens when the guest says it starts the program;
		// give it a moment to open the line.
		time.Sleep(300 * time.Millisecond)
	}
	io.Copy(m.inst.con, m.spec.ConsoleInput)
}

// armTimers starts the boot and silence timers; the run timer waits for
// the agent's hello, the quiet timer for a crash.
func (m *monitor) armTimers() {
	m.bootT = time.NewTimer(m.spec.BootTimeout)
	m.runT = time.NewTimer(time.Hour)
	m.runT.Stop()
	m.silence = m.spec.SilenceTimeout
	if m.silence <= 0 {
		m.silence = 1 << 62
	}
	m.silT = time.NewTimer(m.silence)
	// After a fatal finding: the console must stay quiet this long for the
	// report to be taken as complete and the kernel as going on.
	m.quiet = m.spec.CrashGrace / 3
	m.quietT = time.NewTimer(time.Hour)
	m.quietT.Stop()
}

// signal sends on a one-slot channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// readConsole copies the console to Spec.Console (capped) and to the
// crash scanner until the connection ends.
func (m *monitor) readConsole(r io.Reader) {
	defer m.readers.Done()
	out := &limitWriter{w: m.spec.Console, max: m.spec.ConsoleLimit}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			out.Write(buf[:n])
			atomic.AddInt64(&m.res.consoleBytes, int64(n))
			m.scanner.Write(buf[:n])
			if m.scanner.Fatal() {
				signal(m.fatal)
			}
			signal(m.activity)
			// Console bytes only (agent heartbeats do not count): after
			// a fatal finding, a quiet console means the report is
			// complete.
			signal(m.consoleActive)
		}
		if err != nil {
			return
		}
	}
}

// readEvents parses the event channel, one JSON event a line, into
// m.guest until the connection ends, then closes m.guest.
func (m *monitor) readEvents(r io.Reader) {
	defer m.readers.Done()
	defer close(m.guest)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br, proto.MaxLineBytes)
		if len(line) > 0 {
			m.guest <- parseEvent(line)
			signal(m.activity)
		}
		if err != nil {
			return
		}
	}
}

// parseEvent turns one line of the event channel into a message: an
// event, or, for a line that is not a valid event, a description of it.
func parseEvent(line []byte) guestMsg {
	var e proto.Event
	if err := json.Unmarshal(line, &e); err != nil || e.Kind == "" {
		return guestMsg{bad: fmt.Sprintf("malformed event (%d bytes): %.200q", len(line), line)}
	}
	return guestMsg{ev: e}
}

// loop handles what happens until the machine ends: QEMU exits, a
// timeout, a crash report is complete, or ctx ends.
func (m *monitor) loop(ctx context.Context) {
	defer m.over()
	guest, qmpEv := m.guest, m.qmpEv // set to nil here once closed
	for {
		select {
		case g, ok := <-guest:
			if !ok {
				guest = nil
				continue
			}
			m.onGuest(g)
		case e, ok := <-qmpEv:
			if !ok {
				qmpEv = nil
				continue
			}
			m.onQMP(e)
		case <-m.activity:
			resetTimer(m.silT, m.silence)
		case <-m.consoleActive:
			if m.quietC != nil {
				resetTimer(m.quietT, m.quiet)
			}
		case <-m.fatal:
			m.crashSeen()
		case <-m.quietC:
			if m.onQuiet() {
				return
			}
		case <-m.graceC:
			m.end(OutcomeCrashed, crashReason(m.scanner.Findings()))
			return
		case <-m.exited:
			return
		case <-m.bootT.C:
			m.end(OutcomeBootTimeout, fmt.Sprintf("no hello from the guest agent within the boot timeout (%s, %s)",
				m.timeoutText(m.spec.BootTimeout, m.base.BootTimeout), m.res.Accel))
			return
		case <-m.runT.C:
			m.end(OutcomeTimeout, fmt.Sprintf("the guest did not finish within the run timeout (%s)",
				m.timeoutText(m.spec.RunTimeout, m.base.RunTimeout)))
			return
		case <-m.silT.C:
			m.end(OutcomeTimeout, fmt.Sprintf("no console output and no event for %s",
				m.timeoutText(m.silence, m.base.SilenceTimeout)))
			return
		case <-ctx.Done():
			m.end(OutcomeInterrupted, "interrupted")
			return
		}
	}
}

// onGuest handles one message of the event channel, in the loop and in
// the final drain alike: a valid event is counted, the agent's hello and
// done are noted, and the event goes to OnEvent; a malformed line is
// counted as bad and goes to OnEvent as a log event that says so.
func (m *monitor) onGuest(g guestMsg) {
	ev := g.ev
	if g.bad != "" {
		m.res.BadEvents++
		ev = proto.Event{Time: time.Now(), Kind: proto.KindLog, Message: "kvmtest: " + g.bad}
	} else {
		m.res.Events++
		switch ev.Kind {
		case proto.KindHello:
			m.sawHello()
		case proto.KindDone:
			m.done = true
		}
	}
	if m.spec.OnEvent != nil {
		m.spec.OnEvent(ev)
	}
}

// sawHello notes the agent's first hello: boot is over, the run timeout
// starts (unless the machine has already ended).
func (m *monitor) sawHello() {
	if m.hello {
		return
	}
	m.hello = true
	m.res.ToHello = time.Since(m.started)
	if m.ended {
		return
	}
	m.bootT.Stop()
	m.runT.Reset(m.spec.RunTimeout)
	if m.spec.OnState != nil {
		m.spec.OnState("running")
	}
}

// onQMP handles one QMP event, in the loop and in the final drain alike:
// GUEST_PANICKED (pvpanic) is a crash.
func (m *monitor) onQMP(e qmp.Event) {
	if e.Event == "GUEST_PANICKED" {
		m.res.GuestPanicked = true
		m.crashSeen()
	}
}

// crashSeen starts the crash grace and the console-quiet watch at the
// first sign of a crash. After the loop it does nothing: too late to time.
func (m *monitor) crashSeen() {
	if m.ended || m.graceC != nil {
		return
	}
	m.fatalAt = time.Now()
	m.graceC = time.After(m.spec.CrashGrace)
	m.quietT.Reset(m.quiet)
	m.quietC = m.quietT.C
}

// onQuiet handles a console quiet after a crash report. A panic in
// progress is left to QEMU, which ends it (panic=-1, -no-reboot), within
// the grace; a kernel that went on after its report (an oops without
// panic) ends the machine now. It reports whether the machine ended.
func (m *monitor) onQuiet() bool {
	fs := m.scanner.Findings()
	if m.res.GuestPanicked || panicked(fs) {
		m.quietC = nil
		return false
	}
	m.end(OutcomeCrashed, crashReason(fs)+
		fmt.Sprintf("; the kernel went on after its report (no panic): stopped after %s of console quiet", m.quiet.Round(time.Millisecond)))
	return true
}

// over marks the loop as over and stops its timers.
func (m *monitor) over() {
	m.ended = true
	for _, t := range []*time.Timer{m.bootT, m.runT, m.silT, m.quietT} {
		t.Stop()
	}
}

// end records why the monitor ends the machine; the first reason stays.
func (m *monitor) end(o Outcome, reason string) {
	if m.ending == "" {
		m.ending, m.reason = o, reason
	}
}

// timeoutText describes a timeout of this machine for a verdict.
func (m *monitor) timeoutText(used, base time.Duration) string {
	return timeoutText(used, base, m.factor, m.res.Accel)
}

// stop ends the machine after the loop: it takes QMP diagnostics of a
// machine that timed out, stops QEMU (politely, then by force), and
// handles the events still on their way.
func (m *monitor) stop() {
	if m.ending == OutcomeTimeout || m.ending == OutcomeBootTimeout {
		m.res.Diagnostics = diagnose(m.inst.qmp)
	}
	m.inst.shutdown()
	// QMP events sent just before QEMU exited (a panic reported while the
	// kernel reboots) may still be on their way: read them to the end.
	for _, e := range drainEvents(m.qmpEv, time.Second) {
		m.onQMP(e)
	}
	m.drain(time.Second)
}

// drain handles the guest events still on their way (the event reader
// may be blocked sending them) and waits for both readers to reach the end
// of their lines, which QEMU's exit closes: what QEMU wrote just before it
// exited is still read. Lines still open after d are closed.
func (m *monitor) drain(d time.Duration) {
	finished := make(chan struct{})
	go func() { m.readers.Wait(); close(finished) }()
	force := time.NewTimer(d)
	defer force.Stop()
	guest := m.guest // set to nil here once closed
	for {
		select {
		case g, ok := <-guest:
			if !ok {
				guest = nil
				continue
			}
			m.onGuest(g)
		case <-force.C:
			m.inst.closeConns()
		case <-finished:
			for g := range m.guest { // closed by now: what is left
				m.onGuest(g)
			}
			m.inst.closeConns()
			return
		}
	}
}

// resetTimer stops t, empties its channel, and starts it again for d.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
