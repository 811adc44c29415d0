package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/kimage"
	"github.com/kvmtest/kvmtest/internal/tail"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/vmrunner"
)

// BootOptions describe one ad-hoc boot: a kernel and one program.
type BootOptions struct {
	Kernel string // bzImage
	// Config is the kernel's .config ("" when none is known: its
	// requirements are then not checked, and the boot says so); Modules
	// the directory of its module tree (modules_install's
	// lib/modules/RELEASE), "" for none.
	Config, Modules string
	SourceDir       string // kvmtest's materialized source tree (for the agent)
	WorkDir         string // scratch directory (initramfs, guest programs)
	// VMTempDir is the parent of the machine's sockets (vmrunner.Spec.TempDir,
	// at most vmrunner.MaxTempDirLen bytes; "" is os.TempDir()).
	VMTempDir string
	CacheDir  string   // where compiled guest programs are kept: the cache's GuestDir ("" = nowhere)
	Argv      []string // the program: a host file (copied in) or a guest path
	Format    string   // how to read its output; default exit-code
	// Timeout is the program's, written for KVM and scaled like a suite's
	// under TCG, unless WallClock: then it and the VM's timeouts are used
	// as they are (a deadline the user gave).
	Timeout   time.Duration
	WallClock bool
	// ConsoleLimit caps what reaches Console (0: vmrunner's default).
	ConsoleLimit int64
	VM           matrices.VM
	Accel        string
	// Arch is the kernel's architecture (an internal/arch name; "" is
	// x86_64): the machine, and what the guest programs are built for.
	Arch   string
	Output io.Writer // the program's output lines
	// Logf, when set, is told what the boot does besides the program:
	// a damaged cached guest program rebuilt.
	Logf    func(format string, args ...any)
	Console io.Writer // the kernel console (may be nil)
	// Input, with Format proto.FormatConsole, is the program's terminal
	// input (an interactive shell); it is sent once the program started.
	Input io.Reader
}

// BootResult is what an ad-hoc boot did.
type BootResult struct {
	VM       *vmrunner.Result
	Status   string // the program's status: pass, fail, timeout, error, or "" if it never ended
	ExitCode int
	// AgentFailed, when set, says the kernel could not start the guest
	// agent (the console line, see AgentStartFailure): the program never
	// ran, and a crash in VM is the set-up's, not the kernel's.
	AgentFailed string
}

// bootConsoleTail is how much of the console Boot keeps to tell why the
// agent did not start.
const bootConsoleTail = 256 << 10

// Boot boots a kernel with the agent and runs one program, streaming its
// output. It is `kvmtest boot`: the quickest way to try something on a
// kernel by hand, with the same machinery a run uses.
func Boot(ctx context.Context, o BootOptions) (*BootResult, error) {
	if len(o.Argv) == 0 {
		return nil, fmt.Errorf("boot: no program")
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if o.Arch == "" {
		o.Arch = arch.Default
	}
	g, err := buildGuest(ctx, o.SourceDir, filepath.Join(o.WorkDir, "guest"), o.CacheDir, o.Arch, nil, o.Logf)
	if err != nil {
		return nil, err
	}
	suite := &matrices.Suite{Name: "boot", Command: o.Argv, Timeout: o.Timeout, Format: o.Format}
	if fi, err := os.Stat(o.Argv[0]); err == nil && fi.Mode().IsRegular() {
		guestPath := "/kvmtest/bin/" + filepath.Base(o.Argv[0])
		suite.Files = []matrices.File{{Src: o.Argv[0], Dst: guestPath}}
		suite.Command = append([]string{guestPath}, o.Argv[1:]...)
	}
	if suite.Timeout <= 0 {
		suite.Timeout = 5 * time.Minute
	}
	suites := []*matrices.Suite{suite}
	slowdown := 1.0
	if accel, _, err := vmrunner.ResolveAccel(o.Accel, o.Arch); err == nil && !o.WallClock {
		slowdown = vmrunner.Slowdown(accel, o.Arch)
	}
	m := manifestFor("boot", suites, nil, slowdown)
	k := loadGuestKernel(filepath.Base(o.Modules), o.Config, o.Modules)
	if k.Config == nil {
		// A kernel built with CONFIG_IKCONFIG carries its own.
		if cfg, err := kimage.EmbeddedConfig(o.Kernel); err == nil {
			k.Config, k.ConfigFrom = matrices.ParseKernelConfig(cfg), "the config embedded in "+o.Kernel
		}
	}
	shares, shareTransport, err := bootRoot(o, k, &m)
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(o.WorkDir, "initramfs.cpio")
	cg := &cellGuest{Modules: o.Modules}
	if m.Modules != nil {
		var note string
		shared := ""
		if m.Root != nil {
			shared = o.VM.SharedRoot()
		}
		cg.ModuleFiles, m.Modules.Shared, note = carryPlan(k, m.Modules.Boot, shared)
		if note != "" && o.Logf != nil {
			o.Logf("%s", note)
		}
	}
	if bb, err := StaticBusybox(o.Arch); err == nil {
		cg.Busybox = bb
	}
	man, _ := json.Marshal(m)
	if _, err := writeInitramfs(initrd, g, cg, suites, man); err != nil {
		return nil, err
	}
	res := &BootResult{ExitCode: -1}
	started := make(chan struct{})
	var startOnce sync.Once
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	conTail := tail.New(bootConsoleTail)
	console := io.Writer(conTail)
	if o.Console != nil {
		console = io.MultiWriter(o.Console, conTail)
	}
	hello := false
	spec := vmrunner.Spec{
		Arch:   o.Arch,
		Kernel: o.Kernel, Initrd: initrd, MemoryMiB: o.VM.MemoryMiB, CPUs: o.VM.CPUs, Accel: o.Accel,
		Cmdline: o.VM.Cmdline, ExtraArgs: o.VM.QEMUArgs, BootTimeout: o.VM.BootTimeout,
		RunTimeout: suite.Timeout + 30*time.Second, Console: console, Unscaled: o.WallClock,
		ConsoleLimit: o.ConsoleLimit,
		TempDir:      o.VMTempDir,
		Shares:       shares, ShareTransport: shareTransport,
		ConsoleInput: o.Input,
		InputGate:    started,
		OnEvent: func(e proto.Event) {
			switch e.Kind {
			case proto.KindHello:
				hello = true
			case proto.KindSuiteStart:
				startOnce.Do(func() { close(started) })
			case proto.KindOutput:
				fmt.Fprintln(out, e.Output)
			case proto.KindTest:
				if e.Test != nil && e.Test.Action == "output" {
					fmt.Fprint(out, e.Test.Output)
				}
			case proto.KindLog:
				fmt.Fprintf(out, "[agent] %s\n", e.Message)
			case proto.KindSuiteEnd:
				res.Status = e.Status
				if e.ExitCode != nil {
					res.ExitCode = *e.ExitCode
				}
				if e.Message != "" {
					fmt.Fprintf(out, "[agent] %s\n", e.Message)
				}
			}
		},
	}
	vr, err := vmrunner.Run(ctx, spec)
	res.VM = vr
	if why, ok := agentStartVerdict(vr, hello, strings.NewReader(conTail.String())); ok {
		res.AgentFailed = why
	}
	return res, err
}

// BootRequirementError is a kernel that cannot run the boot asked of it:
// what it lacks, named, found before QEMU starts.
type BootRequirementError struct{ Err error }

func (e *BootRequirementError) Error() string { return e.Err.Error() }
func (e *BootRequirementError) Unwrap() error { return e.Err }

// bootRoot checks the kernel k against what the boot needs (checkBoot,
// and the shared root o.VM asks for, if any), gives the manifest its
// shared root and the modules to load at boot, and returns the
// machine's share and transport. A kernel without a known config is not
// checked: that is logged.
func bootRoot(o BootOptions, k *guestKernel, m *proto.Manifest) ([]vmrunner.Share, string, error) {
	logf := func(format string, args ...any) {
		if o.Logf != nil {
			o.Logf(format, args...)
		}
	}
	check := checkBoot(k, o.Arch, nil)
	if check.Note != "" {
		logf("%s", check.Note)
	}
	if err := check.Err(k); err != nil {
		return nil, "", &BootRequirementError{err}
	}
	mods := check.Modules
	defer func() {
		if o.Modules != "" {
			m.Modules = &proto.Modules{Release: filepath.Base(o.Modules), Boot: mods}
		}
	}()
	dir := o.VM.SharedRoot()
	if dir == "" {
		return nil, "", nil
	}
	want := o.VM.ShareTransport
	tr, why, err := vmrunner.ResolveShareTransport(want)
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", dir, err)
	}
	if why != "" {
		logf("rootfs: %s over %s (%s)", dir, tr, why)
	}
	sr := sharedRoot{dir: dir, transport: tr, auto: shareAuto(want)}
	tr, rootMods, err := sr.forCell(k)
	if err != nil {
		return nil, "", &BootRequirementError{err}
	}
	mods = append(mods, rootMods...)
	if sr.auto && tr == sr.transport {
		tr = "auto" // a virtiofsd that cannot start still leaves 9p
	}
	var shares []vmrunner.Share
	m.Root, shares = rootShare(dir, sr.transport)
	if tr != "auto" {
		m.Root, shares = rootShare(dir, tr)
	}
	return shares, tr, nil
}
