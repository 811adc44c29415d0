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
//
// The machine is a list of Device values, each giving its QEMU arguments
// and its kernel command-line words together (devices.go). Run starts it
// (instance.go) with its sockets in a private directory that names its
// owner, so that one left by a killed kvmtest can be found and removed
// (tempdir.go), watches it until it ends (monitor.go) and judges what it
// saw (verdict.go).
package vmrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/triage"
)

// Spec describes one boot.
type Spec struct {
	// Shares are host directories shared read-only into the guest (see
	// Share), over ShareTransport: "virtiofs", "9p", or "" / "auto"
	// (ResolveShareTransport; under auto a virtiofsd that cannot start
	// gives way to 9p, said in Result.ShareReason).
	Shares         []Share
	ShareTransport string
	// shareTransport is the transport resolved for this machine.
	shareTransport string

	// Arch is the guest's architecture (an internal/arch name); "" is
	// x86_64. It chooses the QEMU binary (when QEMU is ""), the machine
	// (pc, or virt with the event line on a virtio console), the CPU
	// model, the console device and firmware; KVM only when it is the
	// host's.
	Arch      string
	QEMU      string   // QEMU binary; default the architecture's (qemu-system-x86_64)
	Kernel    string   // the architecture's image (bzImage, Image)
	Initrd    string   // initramfs (cpio)
	MemoryMiB int      // default 512
	CPUs      int      // default 1
	Accel     string   // auto, kvm or tcg
	Cmdline   []string // extra kernel command line words
	ExtraArgs []string // extra QEMU argv
	// Devices are more QEMU features (see Device), given after the
	// runner's own and before ExtraArgs and Cmdline: their QEMU arguments
	// after -append, their kernel words before Cmdline's.
	Devices []Device
	// TempDir is the parent of the machine's private directory
	// (PrivateDirPrefix*, holding its sockets and a pid file naming this
	// process; removed on every return of Run); "" means os.TempDir(). It
	// is created (0700) if it does not exist. Socket paths are limited to
	// 107 bytes, so TempDir may be at most MaxTempDirLen bytes long: Run
	// refuses a longer one with an *InfraError before QEMU starts rather
	// than put the sockets elsewhere (CheckTempDir tells beforehand).
	// Callers pass a directory the cache owns (builder.Cache.NewTempDir),
	// so that one a killed kvmtest left behind is garbage-collected.
	TempDir string

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
	// Logf, when set, is told what the caller should know once per
	// machine about how it is run, e.g. that its shares fell back from
	// virtiofs to 9p (also in Result.ShareReason).
	Logf func(format string, args ...any)
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
	BadEvents   int // lines on the event channel that were not valid events
	// ShareTransport is how Spec.Shares reached the guest ("" without
	// shares), ShareReason why it is not virtiofs under auto.
	ShareTransport string
	ShareReason    string
	QEMUStderr     string // the tail of QEMU's own stderr

	consoleBytes int64
}

// InfraError is a failure of the machinery (QEMU missing, would not start,
// sockets), not of the kernel under test.
type InfraError struct{ Err error }

func (e *InfraError) Error() string { return "infrastructure: " + e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

func (s *Spec) defaults() {
	if s.Arch == "" {
		s.Arch = arch.Default
	}
	if s.QEMU == "" {
		if a, ok := arch.ByName(s.Arch); ok {
			s.QEMU = a.QEMU
		}
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

// Run boots the machine and waits until it ends. It returns an error only
// for infrastructure failures (*InfraError) or when ctx ends before QEMU
// started; every verdict about the kernel is in the Result.
//
// With Accel auto, a QEMU that fails under KVM before the guest printed
// anything is started again under TCG, and AccelReason says so.
func Run(ctx context.Context, spec Spec) (*Result, error) {
	spec.defaults()
	if _, ok := arch.ByName(spec.Arch); !ok {
		return nil, &InfraError{arch.UnknownError(spec.Arch)}
	}
	accel, why, err := ResolveAccel(spec.Accel, spec.Arch)
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

// run boots one machine under accel, in three steps: start QEMU paused
// with its sockets (start, connect), watch it until it ends (monitor),
// and judge what was seen (verdict).
func run(ctx context.Context, spec Spec, accel, why string) (*Result, error) {
	base := spec
	spec, factor := spec.scaled(accel)
	res := &Result{Accel: accel, AccelReason: why, Slowdown: factor,
		BootTimeout: spec.BootTimeout, RunTimeout: spec.RunTimeout, SilenceTimeout: spec.SilenceTimeout, CrashGrace: spec.CrashGrace}
	inst, err := start(spec, accel)
	if err != nil {
		return nil, err
	}
	defer inst.close()
	res.Argv = inst.argv
	res.ShareTransport, res.ShareReason = inst.shareTransport, inst.shareReason
	if err := inst.connect(ctx, accel); err != nil {
		return inst.fail(res, err)
	}
	res.QEMUVersion = inst.version

	m := newMonitor(spec, base, factor, res, inst)
	if err := m.begin(ctx); err != nil {
		return inst.fail(res, err)
	}
	m.loop(ctx)
	m.stop()

	res.Wall = time.Since(inst.started)
	if !m.fatalAt.IsZero() {
		res.CrashToGone = inst.exitedAt.Sub(m.fatalAt)
	}
	m.scanner.Flush()
	res.Findings = m.scanner.Findings()
	res.QEMUStderr = inst.stderr.String()
	var qemuErr error
	res.Outcome, res.Reason, qemuErr = verdict(observation{
		ending: m.ending, reason: m.reason,
		fatal: m.scanner.Fatal(), guestPanicked: res.GuestPanicked,
		hello: m.hello, done: m.done,
		findings: res.Findings, waitErr: inst.waitErr,
	})
	if qemuErr != nil {
		return inst.fail(res, qemuErr)
	}
	return res, nil
}
