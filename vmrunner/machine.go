// Package vmrunner boots a kernel with an initramfs under QEMU and turns
// what happens into a verdict: the guest agent's events, the console, and
// the way the machine ended (done, crashed, timed out, QEMU died).
//
// QEMU is started paused (-S) with its console and the agent's event line
// on host sockets and QMP on a third; the runner reads everything from the
// first moment, then continues the VM. Whatever happens (guest panic, hang,
// host cancellation, a panic in the caller), QEMU is killed before Run
// returns, and it dies with this process (PR_SET_PDEATHSIG) if that is
// killed outright.
package vmrunner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/triage"
)

// Spec describes one boot.
type Spec struct {
	QEMU      string   // QEMU binary; default qemu-system-x86_64
	Kernel    string   // bzImage
	Initrd    string   // initramfs (cpio)
	MemoryMiB int      // default 512
	CPUs      int      // default 1
	Accel     string   // auto, kvm or tcg
	Cmdline   []string // extra kernel command line words
	ExtraArgs []string // extra QEMU argv

	// BootTimeout bounds the time from start until the agent's hello.
	BootTimeout time.Duration
	// RunTimeout bounds the time from hello until the agent's done.
	RunTimeout time.Duration
	// SilenceTimeout ends a machine that prints nothing and sends no event
	// for this long (0: no limit).
	SilenceTimeout time.Duration
	// CrashGrace is how long the console keeps being read after a fatal
	// finding (panic, oops...) before the machine is stopped; default 3s.
	// A kernel that goes on after its report (an oops with
	// panic_on_oops=0) is stopped sooner, once its console has been quiet
	// for a third of the grace: the report is complete by then.
	CrashGrace time.Duration
	// The three timeouts above and CrashGrace are written for KVM: Run
	// multiplies them by Slowdown of the accelerator it really uses (after
	// auto and the fallback to TCG), unless Unscaled is set, which makes
	// them wall-clock as given (a user's explicit deadline).
	Unscaled bool

	// Console receives the console bytes (capped at ConsoleLimit, then a
	// truncation marker). May be nil.
	Console io.Writer
	// ConsoleLimit caps what reaches Console; default 32 MiB.
	ConsoleLimit int64
	// OnEvent is called for each guest event, in order, from one goroutine.
	OnEvent func(proto.Event)
	// OnState is told the machine's state changes (booting, running). May be nil.
	OnState func(state string)
	// ConsoleInput, when set, is copied to the guest's console (ttyS0)
	// once InputGate is closed (or at once when InputGate is nil): input
	// sent before anything in the guest opened the line would be lost.
	ConsoleInput io.Reader
	InputGate    <-chan struct{}
}

// Outcome says how a machine ended.
type Outcome string

// Outcomes.
const (
	OutcomeDone        Outcome = "done"         // the agent reported done and the VM stopped
	OutcomeCrashed     Outcome = "crashed"      // a fatal console finding or a guest panic event
	OutcomeBootTimeout Outcome = "boot-timeout" // no hello from the agent in time
	OutcomeTimeout     Outcome = "timeout"      // the run or silence timeout hit
	OutcomeDied        Outcome = "died"         // the VM stopped before done without a crash (early exit, triple fault...)
	OutcomeInterrupted Outcome = "interrupted"  // the caller's context ended
)

// Result is what Run observed.
type Result struct {
	Outcome     Outcome
	Reason      string // one line: why it ended that way
	Accel       string // the accelerator actually used
	AccelReason string
	QEMUVersion string
	Argv        []string // the QEMU command line
	Findings    []triage.Finding
	Diagnostics string // QMP diagnostics taken before a hung machine was killed
	// Slowdown is the factor the spec's timeouts were multiplied by for
	// Accel (1 under KVM or with Spec.Unscaled); BootTimeout, RunTimeout,
	// SilenceTimeout and CrashGrace are the values used.
	Slowdown       float64
	BootTimeout    time.Duration
	RunTimeout     time.Duration
	SilenceTimeout time.Duration
	CrashGrace     time.Duration
	// GuestPanicked says the guest told QEMU it panicked (the pvpanic
	// device, QMP event GUEST_PANICKED). Only kernels with
	// CONFIG_PVPANIC_PCI (which needs CONFIG_PCI) can; on others the
	// console is the only sign of a panic.
	GuestPanicked bool
	ToHello       time.Duration
	// CrashToGone is the time from the first sign of a crash (a fatal
	// console finding, or GUEST_PANICKED) to QEMU's exit (0 when there was
	// none).
	CrashToGone time.Duration
	Wall        time.Duration
	Events      int
	BadEvents   int    // lines on the event channel that were not valid events
	QEMUStderr  string // the tail of QEMU's own stderr

	consoleBytes int64
}

// InfraError is a failure of the machinery (QEMU missing, would not start,
// sockets), not of the kernel under test.
type InfraError struct{ Err error }

func (e *InfraError) Error() string { return "infrastructure: " + e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

func (s *Spec) defaults() {
	if s.QEMU == "" {
		s.QEMU = "qemu-system-x86_64"
	}
	if s.MemoryMiB <= 0 {
		s.MemoryMiB = 512
	}
	if s.CPUs <= 0 {
		s.CPUs = 1
	}
	if s.BootTimeout <= 0 {
		s.BootTimeout = 60 * time.Second
	}
	if s.RunTimeout <= 0 {
		s.RunTimeout = 10 * time.Minute
	}
	if s.CrashGrace <= 0 {
		s.CrashGrace = 3 * time.Second
	}
	if s.ConsoleLimit <= 0 {
		s.ConsoleLimit = 32 << 20
	}
}

// Cmdline returns the kernel command line for a spec.
func (s *Spec) cmdline() string {
	words := []string{"console=ttyS0", "panic=-1", "rdinit=/init", "8250.nr_uarts=2"}
	return strings.Join(append(words, s.Cmdline...), " ")
}

// argv builds QEMU's command line. Every value is its own argument: nothing
// passes through a shell. When QEMU has them (caps) and the machine has a
// PCI bus, a pvpanic-pci device lets the guest report its panics, and
// "-action panic=none" keeps QEMU from stopping the guest on that report
// (its default, shutdown, would cut the console short: the kernel flushes
// the rest of its report and reboots itself after its panic notifiers).
func (s *Spec) argv(accel, dir string, caps qemuCaps) []string {
	cpu := "max"
	if accel == AccelKVM {
		cpu = "host"
	}
	a := []string{s.QEMU,
		"-machine", "pc", "-accel", accel, "-cpu", cpu,
		"-m", fmt.Sprint(s.MemoryMiB), "-smp", smp(s.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
		"-kernel", s.Kernel, "-initrd", s.Initrd, "-append", s.cmdline(),
		"-chardev", "socket,id=con,path=" + filepath.Join(dir, "con.sock"),
		"-serial", "chardev:con",
		"-chardev", "socket,id=ev,path=" + filepath.Join(dir, "ev.sock"),
		"-serial", "chardev:ev",
		"-qmp", "unix:" + filepath.Join(dir, "qmp.sock") + ",server=on,wait=off",
	}
	if caps.pvpanicPCI && caps.action && machineHasPCI(s.ExtraArgs) {
		a = append(a, "-device", "pvpanic-pci", "-action", "panic=none")
	}
	return append(a, s.ExtraArgs...)
}

// smp is QEMU's -smp value for n CPUs: one socket each. A kernel without
// ACPI finds its CPUs in SeaBIOS's MP table, which lists one CPU per
// socket: with QEMU's default topology (cores of one socket) it would see
// only the first.
func smp(n int) string {
	return fmt.Sprintf("%d,sockets=%d,cores=1,threads=1", n, n)
}

// Run boots the machine and waits until it ends. It returns an error only
// for infrastructure failures (*InfraError) or when ctx ends before QEMU
// started; every verdict about the kernel is in the Result.
//
// With Accel auto, a QEMU that fails under KVM before the guest printed
// anything is started again under TCG, and AccelReason says so.
func Run(ctx context.Context, spec Spec) (*Result, error) {
	spec.defaults()
	accel, why, err := ResolveAccel(spec.Accel)
	if err != nil {
		return nil, &InfraError{err}
	}
	res, err := run(ctx, spec, accel, why)
	var ie *InfraError
	if accel == AccelKVM && (spec.Accel == "" || spec.Accel == AccelAuto) && errors.As(err, &ie) && res != nil && res.consoleBytes == 0 && ctx.Err() == nil {
		why = fmt.Sprintf("KVM failed at start (%v): fell back to TCG", ie.Err)
		return run(ctx, spec, AccelTCG, why)
	}
	return res, err
}

func run(ctx context.Context, spec Spec, accel, why string) (*Result, error) {
	base := spec
	spec, factor := spec.scaled(accel)
	res := &Result{Accel: accel, AccelReason: why, Slowdown: factor,
		BootTimeout: spec.BootTimeout, RunTimeout: spec.RunTimeout, SilenceTimeout: spec.SilenceTimeout, CrashGrace: spec.CrashGrace}
	for _, f := range []string{spec.Kernel, spec.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, &InfraError{err}
		}
	}
	// Socket paths must stay under 108 bytes: use a short private directory.
	dir, err := os.MkdirTemp("", "kvmtest-vm-")
	if err != nil {
		return nil, &InfraError{err}
	}
	defer os.RemoveAll(dir)
	conL, err := net.Listen("unix", filepath.Join(dir, "con.sock"))
	if err != nil {
		return nil, &InfraError{err}
	}
	defer conL.Close()
	evL, err := net.Listen("unix", filepath.Join(dir, "ev.sock"))
	if err != nil {
		return nil, &InfraError{err}
	}
	defer evL.Close()

	res.Argv = spec.argv(accel, dir, probeQEMU(spec.QEMU))
	cmd := exec.Command(res.Argv[0], res.Argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C reaches us, not QEMU: we stop it ourselves
		Pdeathsig: syscall.SIGKILL, // and it dies with us if we are killed outright
	}
	stderr := &capWriter{max: 64 << 10}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, &InfraError{fmt.Errorf("starting QEMU: %w", err)}
	}
	exited := make(chan struct{})
	var waitErr error
	var exitedAt time.Time
	go func() { waitErr = cmd.Wait(); exitedAt = time.Now(); close(exited) }()
	kill := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	defer func() {
		if r := recover(); r != nil {
			kill()
			panic(r)
		}
		kill()
	}()
	infra := func(err error) (*Result, error) {
		kill()
		res.QEMUStderr = stderr.String()
		if s := strings.TrimSpace(res.QEMUStderr); s != "" {
			err = fmt.Errorf("%w; QEMU said: %s", err, lastLines(s, 5))
		}
		return res, &InfraError{err}
	}

	// QEMU connects to both sockets during start-up.
	conC, err := accept(ctx, conL, exited)
	if err != nil {
		return infra(fmt.Errorf("console connection: %w", err))
	}
	defer conC.Close()
	evC, err := accept(ctx, evL, exited)
	if err != nil {
		return infra(fmt.Errorf("event connection: %w", err))
	}
	defer evC.Close()
	mon, err := dialMonitor(ctx, filepath.Join(dir, "qmp.sock"), exited)
	if err != nil {
		return infra(err)
	}
	defer mon.close()
	if v := mon.mon.Version; v != nil {
		res.QEMUVersion = v.String()
	}
	var kvm struct {
		Enabled bool `json:"enabled"`
		Present bool `json:"present"`
	}
	if err := mon.run(ctx, "query-kvm", nil, &kvm); err == nil {
		if accel == AccelKVM && !kvm.Enabled {
			return infra(fmt.Errorf("asked QEMU for KVM but query-kvm says it is not enabled"))
		}
	}

	// Readers start before the guest does.
	scanner := &lockedScanner{s: triage.NewScanner()}
	activity := make(chan struct{}, 1)
	poke := func() {
		select {
		case activity <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	fatal := make(chan struct{}, 1)
	// Console bytes only (agent heartbeats do not count): after a fatal
	// finding, a quiet console means the report is complete.
	consoleActive := make(chan struct{}, 1)
	go func() {
		defer wg.Done()
		out := &limitWriter{w: spec.Console, max: spec.ConsoleLimit}
		buf := make([]byte, 32<<10)
		for {
			n, err := conC.Read(buf)
			if n > 0 {
				out.Write(buf[:n])
				atomic.AddInt64(&res.consoleBytes, int64(n))
				scanner.Write(buf[:n])
				if scanner.Fatal() {
					select {
					case fatal <- struct{}{}:
					default:
					}
				}
				poke()
				select {
				case consoleActive <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	type evMsg struct {
		ev  proto.Event
		bad string
	}
	evCh := make(chan evMsg, 256)
	events := evCh // set to nil in the loop once closed
	go func() {
		defer wg.Done()
		defer close(evCh)
		r := bufio.NewReaderSize(evC, 64<<10)
		for {
			line, err := readLine(r, proto.MaxLineBytes)
			if len(line) > 0 {
				var e proto.Event
				if jerr := json.Unmarshal(line, &e); jerr != nil || e.Kind == "" {
					evCh <- evMsg{bad: fmt.Sprintf("malformed event (%d bytes): %.200q", len(line), line)}
				} else {
					evCh <- evMsg{ev: e}
				}
				poke()
			}
			if err != nil {
				return
			}
		}
	}()

	if err := mon.run(ctx, "cont", nil, nil); err != nil {
		return infra(err)
	}
	if spec.ConsoleInput != nil {
		go func() {
			if spec.InputGate != nil {
				select {
				case <-spec.InputGate:
				case <-exited:
					return
				}
				// The gate opens when the guest says it starts the
				// program; give it a moment to open the line.
				time.Sleep(300 * time.Millisecond)
			}
			io.Copy(conC, spec.ConsoleInput)
		}()
	}
	if spec.OnState != nil {
		spec.OnState("booting")
	}

	bootT := time.NewTimer(spec.BootTimeout)
	defer bootT.Stop()
	runT := time.NewTimer(time.Hour)
	runT.Stop()
	defer runT.Stop()
	silence := spec.SilenceTimeout
	if silence <= 0 {
		silence = 1 << 62
	}
	silT := time.NewTimer(silence)
	defer silT.Stop()
	var graceT <-chan time.Time
	var fatalAt time.Time
	// After a fatal finding: the console must stay quiet this long for the
	// report to be taken as complete and the kernel as going on.
	quiet := spec.CrashGrace / 3
	quietT := time.NewTimer(time.Hour)
	quietT.Stop()
	defer quietT.Stop()
	var quietC <-chan time.Time
	crashSeen := func() {
		if graceT == nil {
			fatalAt = time.Now()
			graceT = time.After(spec.CrashGrace)
			quietT.Reset(quiet)
			quietC = quietT.C
		}
	}
	hello, done := false, false
	var ending Outcome
	var reason string

	finish := func(o Outcome, r string) {
		if ending == "" {
			ending, reason = o, r
		}
	}
	qmpEvent := func(e qmp.Event) {
		if e.Event == "GUEST_PANICKED" {
			res.GuestPanicked = true
			crashSeen()
		}
	}
loop:
	for {
		select {
		case m, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if m.bad != "" {
				res.BadEvents++
				if spec.OnEvent != nil {
					spec.OnEvent(proto.Event{Time: time.Now(), Kind: proto.KindLog, Message: "kvmtest: " + m.bad})
				}
				continue
			}
			res.Events++
			switch m.ev.Kind {
			case proto.KindHello:
				if !hello {
					hello = true
					res.ToHello = time.Since(start)
					bootT.Stop()
					runT.Reset(spec.RunTimeout)
					if spec.OnState != nil {
						spec.OnState("running")
					}
				}
			case proto.KindDone:
				done = true
			}
			if spec.OnEvent != nil {
				spec.OnEvent(m.ev)
			}
		case <-activity:
			if !silT.Stop() {
				select {
				case <-silT.C:
				default:
				}
			}
			silT.Reset(silence)
		case <-consoleActive:
			if quietC != nil {
				if !quietT.Stop() {
					select {
					case <-quietT.C:
					default:
					}
				}
				quietT.Reset(quiet)
			}
		case <-quietC:
			fs := scanner.Findings()
			if res.GuestPanicked || panicked(fs) {
				// A panic in progress: QEMU ends it (panic=-1,
				// -no-reboot); the grace is the bound.
				quietC = nil
				continue
			}
			finish(OutcomeCrashed, crashReason(fs)+
				fmt.Sprintf("; the kernel went on after its report (no panic): stopped after %s of console quiet", quiet.Round(time.Millisecond)))
			break loop
		case <-fatal:
			crashSeen()
		case <-graceT:
			finish(OutcomeCrashed, crashReason(scanner.Findings()))
			break loop
		case e, ok := <-mon.events:
			if !ok {
				mon.events = nil
				continue
			}
			qmpEvent(e)
		case <-exited:
			break loop
		case <-bootT.C:
			finish(OutcomeBootTimeout, fmt.Sprintf("no hello from the guest agent within the boot timeout (%s, %s)",
				timeoutText(spec.BootTimeout, base.BootTimeout, factor, accel), accel))
			break loop
		case <-runT.C:
			finish(OutcomeTimeout, fmt.Sprintf("the guest did not finish within the run timeout (%s)",
				timeoutText(spec.RunTimeout, base.RunTimeout, factor, accel)))
			break loop
		case <-silT.C:
			finish(OutcomeTimeout, fmt.Sprintf("no console output and no event for %s",
				timeoutText(silence, base.SilenceTimeout, factor, accel)))
			break loop
		case <-ctx.Done():
			finish(OutcomeInterrupted, "interrupted")
			break loop
		}
	}

	if ending == OutcomeTimeout || ending == OutcomeBootTimeout {
		res.Diagnostics = diagnose(mon)
	}
	select {
	case <-exited:
	default:
		// Ask politely, then kill.
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		mon.run(dctx, "quit", nil, nil)
		cancel()
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
		}
		kill()
	}
	// QMP events sent just before QEMU exited (a panic reported while the
	// kernel reboots) may still be on their way: read them to the end.
	for _, e := range drainEvents(mon.events, time.Second) {
		if e.Event == "GUEST_PANICKED" {
			res.GuestPanicked = true // too late to time it
		}
	}
	mon.events = nil
	conC.Close()
	evC.Close()
	// Drain the events that arrived before the end (the reader may be
	// blocked sending them), then wait for both readers.
	for m := range evCh {
		if m.bad != "" {
			res.BadEvents++
			continue
		}
		res.Events++
		if m.ev.Kind == proto.KindDone {
			done = true
		}
		if spec.OnEvent != nil {
			spec.OnEvent(m.ev)
		}
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if !fatalAt.IsZero() {
		res.CrashToGone = exitedAt.Sub(fatalAt)
	}
	scanner.Flush()
	res.Findings = scanner.Findings()
	res.QEMUStderr = stderr.String()

	switch {
	case ending != "":
	case scanner.Fatal() || res.GuestPanicked:
		finish(OutcomeCrashed, crashReason(res.Findings))
	case done:
		finish(OutcomeDone, "the agent finished and the VM stopped")
	case !hello:
		finish(OutcomeDied, fmt.Sprintf("the VM stopped before the guest agent started (%s)", exitText(waitErr)))
	default:
		finish(OutcomeDied, fmt.Sprintf("the VM stopped before the guest agent finished (%s)", exitText(waitErr)))
	}
	if ending == OutcomeCrashed && res.GuestPanicked {
		reason += "; pvpanic: QEMU saw GUEST_PANICKED"
	}
	res.Outcome, res.Reason = ending, reason
	// QEMU ending on its own with an error or a signal (killed from
	// outside, crashed) is infrastructure; a guest that stops the VM
	// (QEMU exits 0 under -no-reboot) is not.
	if ending == OutcomeDied && waitErr != nil {
		return infra(fmt.Errorf("QEMU failed: %v", waitErr))
	}
	return res, nil
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

// panicked reports whether the console shows the kernel panicking.
func panicked(fs []triage.Finding) bool {
	for _, f := range fs {
		if f.Panicked {
			return true
		}
	}
	return false
}

// crashReason is the verdict's reason for a crash: the first fatal
// console finding, or, when only pvpanic reported the panic, that.
func crashReason(fs []triage.Finding) string {
	for _, f := range fs {
		if f.Fatal {
			return "kernel crashed: " + f.Title
		}
	}
	return "kernel crashed: the guest reported a panic and the console shows no crash report"
}

func exitText(err error) string {
	if err == nil {
		return "QEMU exited 0"
	}
	return "QEMU: " + err.Error()
}

// diagnose asks QEMU for the state of a hung machine.
func diagnose(mon *monitor) string {
	var b strings.Builder
	for _, c := range []string{"info status", "info registers", "info cpus"} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := mon.hmp(ctx, c)
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

func accept(ctx context.Context, l net.Listener, exited <-chan struct{}) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-exited:
		l.Close()
		return nil, fmt.Errorf("QEMU exited during start-up")
	case <-time.After(30 * time.Second):
		l.Close()
		return nil, fmt.Errorf("QEMU did not connect within 30s")
	case <-ctx.Done():
		l.Close()
		return nil, ctx.Err()
	}
}

// readLine reads one '\n'-terminated line, discarding the part of a line
// beyond max (the guest is untrusted: a line without end must not eat memory).
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) <= max {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}

// capWriter keeps the last max bytes written.
type capWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > c.max {
		c.buf = append([]byte(nil), c.buf[len(c.buf)-c.max:]...)
	}
	return len(p), nil
}

func (c *capWriter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// limitWriter passes at most max bytes to w, then one truncation marker.
type limitWriter struct {
	w         io.Writer
	max, n    int64
	truncated bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.w == nil {
		return len(p), nil
	}
	if l.n >= l.max {
		if !l.truncated {
			l.truncated = true
			fmt.Fprintf(l.w, "\n[kvmtest: console truncated after %d bytes]\n", l.max)
		}
		return len(p), nil
	}
	q := p
	if int64(len(q)) > l.max-l.n {
		q = q[:l.max-l.n]
	}
	n, err := l.w.Write(q)
	l.n += int64(n)
	if err != nil {
		return n, err
	}
	return len(p), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// lockedScanner serialises the console reader's writes with the main
// loop's reads of a triage.Scanner.
type lockedScanner struct {
	mu sync.Mutex
	s  *triage.Scanner
}

func (l *lockedScanner) Write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.Write(p)
}

func (l *lockedScanner) Fatal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Fatal()
}

func (l *lockedScanner) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.Flush()
}

func (l *lockedScanner) Findings() []triage.Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Findings()
}
