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
	"github.com/kvmtest/kvmtest/matrices"
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

Exit status: the program's exit status; 3 when the VM could not boot or
the program could not run; 1 when the kernel crashed or timed out.`,
}

var (
	bootKernel  = bootCmd.Flags.String("kernel", "", "bzImage to boot")
	bootCell    = bootCmd.Flags.String("cell", "", "boot the kernel of this matrix cell")
	bootMatrix  = bootCmd.Flags.String("matrix", "", "matrix for --cell (default: the default matrix)")
	bootAccel   = bootCmd.Flags.String("accel", "auto", "auto, kvm or tcg")
	bootTimeout = bootCmd.Flags.Duration("timeout", 5*time.Minute, "program timeout: wall clock when given; the default is written for KVM and scaled under TCG")
	bootConsole = bootCmd.Flags.Bool("console", false, "also print the kernel console (to stderr)")
	bootConLim  = bootCmd.Flags.String("console-limit", "32M", "cap on the console printed by --console, then a truncation marker (bytes, or with a K, M or G suffix)")
)

func init() {
	bootCmd.Run = runBoot
	register(bootCmd)
}

func runBoot(cmd *Command, args []string) int {
	shell := len(args) == 0
	if shell {
		bb, err := engine.StaticBusybox()
		if err != nil {
			return fatalf(2, "boot: no PROGRAM, and no shell to give: %v", err)
		}
		args = []string{bb, "sh"}
	}
	if (*bootKernel == "") == (*bootCell == "") {
		return fatalf(2, "boot: give exactly one of --kernel and --cell")
	}
	cache, err := openCache()
	if err != nil {
		return fatalf(3, "%v", err)
	}
	file, srcDir, err := resolveMatrix(cache, *bootMatrix)
	if err != nil {
		return fatalf(2, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	vm := matrices.VM{MemoryMiB: 512, CPUs: 1, BootTimeout: 60 * time.Second}
	kernel := *bootKernel
	if *bootCell != "" {
		m, err := matrices.Load(file)
		if err != nil {
			return printMatrixError(err)
		}
		c, ok := m.Cell(*bootCell)
		if !ok {
			return fatalf(2, "boot: no cell %q in %s", *bootCell, file)
		}
		vm = m.VM
		req, err := engine.BuildRequest(c)
		if err != nil {
			return fatalf(3, "%s: %v", c.ID, err)
		}
		b := &builder.Builder{Cache: cache, Logf: newProgress(os.Stderr, false).Logf}
		a, err := b.Build(ctx, req)
		if err != nil {
			return fatalf(3, "%s: %v", c.ID, err)
		}
		kernel = a.Kernel
	}
	conLimit, err := parseSize(*bootConLim)
	if err != nil {
		return fatalf(2, "boot: --console-limit: %v", err)
	}
	work, err := os.MkdirTemp("", "kvmtest-boot-")
	if err != nil {
		return fatalf(3, "%v", err)
	}
	defer os.RemoveAll(work)
	if p, err := filepath.Abs(args[0]); err == nil {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			args[0] = p
		}
	}
	o := engine.BootOptions{Kernel: kernel, SourceDir: srcDir, WorkDir: work, CacheDir: cache.Path("guest"), Argv: args,
		Timeout: *bootTimeout, WallClock: flagSet(cmd.Flags, "timeout"), ConsoleLimit: conLimit, VM: vm, Accel: *bootAccel, Output: os.Stdout}
	if *bootConsole {
		o.Console = os.Stderr
	}
	if shell {
		o.Format, o.Input, o.Console = proto.FormatConsole, os.Stdin, os.Stdout
		if *bootTimeout == 5*time.Minute {
			o.Timeout = 24 * time.Hour // a person is at the keyboard
		}
		if restore, err := rawTerminal(os.Stdin); err == nil {
			defer restore()
			fmt.Fprintln(os.Stderr, "kvmtest: shell on the guest's console; leave with exit")
		}
	}
	res, err := engine.Boot(ctx, o)
	if err != nil {
		return fatalf(3, "%v", err)
	}
	vr := res.VM
	accel := vr.Accel
	if vr.Slowdown != 1 {
		accel += fmt.Sprintf(" (timeouts ×%g)", vr.Slowdown)
	}
	fmt.Fprintf(os.Stderr, "kvmtest: %s (%s); %s, to agent %.2fs, wall %.2fs\n", vr.Outcome, vr.Reason, accel, vr.ToHello.Seconds(), vr.Wall.Seconds())
	for _, f := range vr.Findings {
		fmt.Fprintf(os.Stderr, "kvmtest: console: %s (%s)\n", f.Title, f.Class)
	}
	if vr.CrashToGone > 0 {
		fmt.Fprintf(os.Stderr, "kvmtest: crash seen on the console to QEMU gone: %.3fs\n", vr.CrashToGone.Seconds())
	}
	if vr.Diagnostics != "" {
		fmt.Fprintf(os.Stderr, "kvmtest: QEMU's view of the hung machine, taken before it was stopped:\n%s", vr.Diagnostics)
	}
	switch {
	case ctx.Err() != nil:
		return 130
	case vr.Outcome == vmrunner.OutcomeCrashed || vr.Outcome == vmrunner.OutcomeTimeout || res.Status == "timeout":
		if res.Status == "timeout" {
			limit := bootTimeout.String()
			if vr.Slowdown != 1 && !o.WallClock {
				limit = fmt.Sprintf("%s ×%g for %s", limit, vr.Slowdown, vr.Accel)
			}
			fmt.Fprintf(os.Stderr, "kvmtest: the program did not finish within --timeout %s; the agent killed it\n", limit)
		}
		return 1
	case vr.Outcome != vmrunner.OutcomeDone || res.Status == "error" || res.ExitCode < 0:
		return 3
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
