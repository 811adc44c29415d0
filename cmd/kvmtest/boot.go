package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/internal/kimage"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/vmrunner"
)

var bootCmd = &Command{
	Name:      "boot",
	UsageLine: "boot (--kernel PATH | --cell ID [--matrix MATRIX]) [--accel A] [--timeout D] [--console] [--console-limit SIZE] [--] [PROGRAM [ARGS...]]",
	Short:     "boot one kernel and run one program in it",
	Flags:     flag.NewFlagSet("boot", flag.ContinueOnError),
	Long: `
Boot starts a kernel under QEMU with the kvmtest agent as init and runs
PROGRAM in it, printing its output. PROGRAM is a host file (a static
binary or a script the guest can run), copied into the initramfs, or a
path that exists in the guest. The kernel is a bzImage (--kernel) or the
cached kernel of a matrix cell (--cell, built if needed).

With no PROGRAM, boot gives an interactive shell on the serial console:
Debian's static busybox (/bin/busybox, package busybox-static) is copied
in and runs as the console's session; the kernel's messages appear there
too. Leave with "exit" (the VM powers off). Standard input may also be a
script piped in.

The program's output (standard output) and, with --console or in the
shell, the console are passed through raw, as the guest wrote them:
seeing them is the point of boot, and escape sequences in them reach your
terminal (pipe them through cat -v or less to see them instead). What boot
says itself (on standard error: the outcome, console findings, QEMU's
diagnostics) is sanitised as kvmtest run's output is (docs/results.md,
"Guest text is sanitised").

Exit status: the program's exit status; 3 when the VM could not boot,
the kernel could not start kvmtest's agent, or the program could not run; 1 when the kernel crashed or timed out.`,
}

var (
	bootKernel  = bootCmd.Flags.String("kernel", "", "bzImage to boot")
	bootCell    = bootCmd.Flags.String("cell", "", "boot the kernel of this matrix cell")
	bootMatrix  = bootCmd.Flags.String("matrix", "", "matrix for --cell (default: the default matrix)")
	bootAccel   = bootCmd.Flags.String("accel", "auto", "auto, kvm or tcg")
	bootTimeout = bootCmd.Flags.Duration("timeout", 5*time.Minute, "program timeout: wall clock when given; the default is written for KVM and scaled under TCG")
	bootConsole = bootCmd.Flags.Bool("console", false, "also print the kernel console (to stderr)")
	bootRootfs  = bootCmd.Flags.String("rootfs", "", "run the program in initramfs (the default), host (the host's / shared read-only, with a tmpfs overlay) or DIR; default: the matrix's vm.rootfs with --cell")
	bootConfig  = bootCmd.Flags.String("config", "", "the --kernel's .config, checked before it boots (default: config-RELEASE next to a vmlinuz-RELEASE, as /boot has them)")
	bootModules = bootCmd.Flags.String("modules", "", "the --kernel's module tree, lib/modules/RELEASE (default: /lib/modules/RELEASE for a vmlinuz-RELEASE)")
	bootArch    = bootCmd.Flags.String("arch", "", "the kernel's architecture (x86_64, arm64, riscv64): checked against --kernel's image, or choosing the --cell of a matrix with several")
	bootConLim  = bootCmd.Flags.String("console-limit", "32M", "cap on the console printed by --console, then a truncation marker (bytes, or with a K, M or G suffix)")
)

func init() {
	bootCmd.Run = runBoot
	register(bootCmd)
}

func runBoot(cmd *Command, args []string) int {
	shell := len(args) == 0
	if (*bootKernel == "") == (*bootCell == "") {
		return fatalf(results.ExitBadInput, "boot: give exactly one of --kernel and --cell")
	}
	cache, err := openCache()
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	file, srcDir, err := resolveMatrix(cache, *bootMatrix)
	if err != nil {
		return fatalf(results.ExitBadInput, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	target, vm, code := bootTarget(ctx, cache, file)
	if code != results.ExitOK {
		return code
	}
	if shell {
		bb, err := engine.StaticBusybox(target.arch)
		if err != nil {
			return fatalf(results.ExitBadInput, "boot: no PROGRAM, and no shell to give: %v", err)
		}
		args = []string{bb, "sh"}
	}
	if *bootRootfs != "" {
		if vm.Rootfs, err = bootRootfsValue(*bootRootfs); err != nil {
			return fatalf(results.ExitBadInput, "boot: --rootfs: %v", err)
		}
	}
	conLimit, err := parseSize(*bootConLim)
	if err != nil {
		return fatalf(results.ExitBadInput, "boot: --console-limit: %v", err)
	}
	// Under the cache, with this process recorded as its owner: one left
	// by a killed boot goes with the next run or cache gc.
	work, err := cache.NewTempDir("boot-", 0)
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	defer os.RemoveAll(work)
	vmTmp, err := cache.NewTempDir("vm-", vmrunner.MaxTempDirLen)
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	defer os.RemoveAll(vmTmp)
	if p, err := filepath.Abs(args[0]); err == nil {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			args[0] = p
		}
	}
	o := engine.BootOptions{Kernel: target.kernel, Config: target.config, Modules: target.modules, SourceDir: srcDir, WorkDir: work, VMTempDir: vmTmp, CacheDir: cache.GuestDir(), Argv: args,
		Timeout: *bootTimeout, WallClock: flagSet(cmd.Flags, "timeout"), ConsoleLimit: conLimit, VM: vm, Accel: *bootAccel, Arch: target.arch, Output: os.Stdout}
	if *bootConsole {
		o.Console = os.Stderr
	}
	if shell {
		defer consoleShell(&o)()
	}
	o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "kvmtest: "+format+"\n", args...) }
	res, err := engine.Boot(ctx, o)
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	printBootResult(res.VM)
	return bootExitCode(ctx, res, o.WallClock)
}

// bootKernelFiles is a kernel to boot: its image, and its .config and
// module tree when known ("" otherwise).
type bootKernelFiles struct {
	kernel, config, modules string
	arch                    string // the kernel's architecture (internal/arch name)
}

// bootTarget returns the kernel to boot and its machine: --kernel (with
// --config and --modules, or the config and modules found next to it)
// with a default machine, or the kernel of --cell in the matrix file
// (built if needed) with the matrix's machine. On failure it has printed
// the problem and returns the exit code (results.ExitBadInput or
// results.ExitInfra); else results.ExitOK.
func bootTarget(ctx context.Context, cache *builder.Cache, file string) (bootKernelFiles, matrices.VM, int) {
	vm := matrices.VM{MemoryMiB: 512, CPUs: 1, BootTimeout: 60 * time.Second}
	if *bootCell == "" {
		t := bootKernelFiles{kernel: *bootKernel, config: *bootConfig, modules: *bootModules}
		info, err := kimage.Probe(t.kernel)
		switch {
		case err != nil:
		case !info.Bootable():
			err = fmt.Errorf("%s is a %s %s image: kvmtest boots x86_64 bzImages and arm64 and riscv64 Images", t.kernel, info.Arch, info.Format)
		case *bootArch != "" && *bootArch != info.Arch:
			err = fmt.Errorf("%s is an %s image, not %s (--arch)", t.kernel, info.Arch, *bootArch)
		}
		t.arch = info.Arch
		if err != nil {
			return t, vm, fatalf(results.ExitBadInput, "boot: --kernel: %v", err)
		}
		config, modules := builder.KernelCompanions(t.kernel)
		if t.config == "" {
			t.config = config
		}
		if t.modules == "" {
			t.modules = modules
		}
		for _, p := range []*string{&t.config, &t.modules} {
			if *p != "" {
				if abs, err := filepath.Abs(*p); err == nil {
					*p = abs
				}
			}
		}
		if t.config != "" {
			fmt.Fprintf(os.Stderr, "kvmtest: checking the kernel against %s\n", t.config)
		}
		if t.modules != "" {
			if rel := filepath.Base(t.modules); info.Release != "" && rel != info.Release {
				return t, vm, fatalf(results.ExitBadInput, "boot: --modules %s are for %s, the image is %s", t.modules, rel, info.Release)
			}
			fmt.Fprintf(os.Stderr, "kvmtest: modules from %s\n", t.modules)
		}
		return t, vm, results.ExitOK
	}
	if flagSet(bootCmd.Flags, "config") || flagSet(bootCmd.Flags, "modules") {
		return bootKernelFiles{}, vm, fatalf(results.ExitBadInput, "boot: --config and --modules go with --kernel; a --cell has its own")
	}
	m, err := matrices.Load(file)
	if err != nil {
		return bootKernelFiles{}, vm, printMatrixError(err)
	}
	c, ok := m.Cell(*bootCell)
	if !ok && *bootArch != "" { // a cell of a matrix with several architectures, named without its -ARCH
		c, ok = m.Cell(*bootCell + "-" + *bootArch)
	}
	if !ok {
		return bootKernelFiles{}, vm, fatalf(results.ExitBadInput, "boot: no cell %q in %s", *bootCell, file)
	}
	if c.Arch == "" {
		c.Arch = arch.Default
	}
	if *bootArch != "" && c.Arch != *bootArch {
		return bootKernelFiles{}, vm, fatalf(results.ExitBadInput, "boot: cell %s is %s, not %s (--arch)", c.ID, c.Arch, *bootArch)
	}
	req, err := engine.BuildRequest(c)
	if err != nil {
		return bootKernelFiles{}, vm, fatalf(results.ExitInfra, "%s: %v", c.ID, err)
	}
	b := &builder.Builder{Cache: cache, Logf: newProgress(os.Stderr, false, progressPlain).Logf}
	a, err := b.Build(ctx, req)
	if err != nil {
		return bootKernelFiles{}, vm, fatalf(results.ExitInfra, "%s: %v", c.ID, err)
	}
	return bootKernelFiles{kernel: a.Kernel, config: a.Config, modules: a.Modules, arch: c.Arch}, m.VM, results.ExitOK
}

// consoleShell makes o an interactive shell on the guest's serial console
// (standard input and output are the console; a default --timeout becomes
// a day, since a person is at the keyboard) and puts the terminal, if
// standard input is one, in raw mode. It returns the function that
// restores the terminal.
func consoleShell(o *engine.BootOptions) (restore func()) {
	o.Format, o.Input, o.Console = proto.FormatConsole, os.Stdin, os.Stdout
	if *bootTimeout == 5*time.Minute {
		o.Timeout = 24 * time.Hour // a person is at the keyboard
	}
	restore, err := rawTerminal(os.Stdin)
	if err != nil {
		return func() {}
	}
	fmt.Fprintln(os.Stderr, "kvmtest: shell on the guest's console; leave with exit")
	return restore
}

// printBootResult prints, to standard error, how the VM ended: outcome,
// accelerator and times, console findings, and QEMU's diagnostics of a
// hung machine.
func printBootResult(vr *vmrunner.Result) {
	accel := vr.Accel
	if vr.Slowdown != 1 {
		accel += fmt.Sprintf(" (timeouts ×%g)", vr.Slowdown)
	}
	l := guesttext.Line
	fmt.Fprintf(os.Stderr, "kvmtest: %s (%s); %s, to agent %.2fs, wall %.2fs\n", l(string(vr.Outcome)), l(vr.Reason), accel, vr.ToHello.Seconds(), vr.Wall.Seconds())
	for _, f := range vr.Findings {
		fmt.Fprintf(os.Stderr, "kvmtest: console: %s (%s)\n", l(f.Title), l(string(f.Class)))
	}
	if vr.CrashToGone > 0 {
		fmt.Fprintf(os.Stderr, "kvmtest: crash seen on the console to QEMU gone: %.3fs\n", vr.CrashToGone.Seconds())
	}
	if vr.Diagnostics != "" {
		fmt.Fprintf(os.Stderr, "kvmtest: QEMU's view of the hung machine, taken before it was stopped:\n%s", guesttext.Clean(vr.Diagnostics))
	}
}

// bootExitCode is boot's exit status: results.ExitInterrupted when ctx
// was cancelled, results.ExitInfra when the kernel could not start the
// guest agent (saying so: the program never ran), results.ExitFailed when the kernel crashed or timed out
// or the program did not finish in time (saying so), results.ExitInfra
// when the VM or the program did not run to its end, else the program's
// own exit status. wallClock says whether --timeout was given, unscaled.
func bootExitCode(ctx context.Context, res *engine.BootResult, wallClock bool) int {
	vr := res.VM
	switch {
	case ctx.Err() != nil:
		return results.ExitInterrupted
	case res.AgentFailed != "":
		fmt.Fprintf(os.Stderr, "kvmtest: %s\n", guesttext.Line(res.AgentFailed))
		return results.ExitInfra
	case vr.Outcome == vmrunner.OutcomeCrashed || vr.Outcome == vmrunner.OutcomeTimeout || res.Status == "timeout":
		if res.Status == "timeout" {
			limit := bootTimeout.String()
			if vr.Slowdown != 1 && !wallClock {
				limit = fmt.Sprintf("%s ×%g for %s", limit, vr.Slowdown, vr.Accel)
			}
			fmt.Fprintf(os.Stderr, "kvmtest: the program did not finish within --timeout %s; the agent killed it\n", limit)
		}
		return results.ExitFailed
	case vr.Outcome != vmrunner.OutcomeDone || res.Status == "error" || res.ExitCode < 0:
		return results.ExitInfra
	}
	return res.ExitCode
}

// rawTerminal puts a terminal in raw mode (keys go to the guest as typed,
// Ctrl-C included) and returns the function that restores it. It fails
// when f is not a terminal (a script piped in).
func rawTerminal(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseSize reads a byte count: digits with an optional K, M or G suffix
// (powers of 1024, "KiB" and "MB" spellings accepted).
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: want a size > 0 such as 65536, 64K or 32M", s)
	}
	return v * mult, nil
}

// bootRootfsValue checks a --rootfs value as the matrix checks
// vm.rootfs, a directory relative to the working directory.
func bootRootfsValue(v string) (string, error) {
	return matrices.ResolveRootfs(v, func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return abs
	})
}
