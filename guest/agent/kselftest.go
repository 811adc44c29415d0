package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kselftest runner
//
// Run as `/init kselftest-run [-timeout DURATION] PROG...` (not as PID
// 1), the agent binary runs each program in turn as the kernel's
// run_kselftest.sh does, in the program's own directory, with its stdout
// and stderr merged, and prints one KTAP document on its stdout:
//
//	KTAP version 1
//	1..N
//	  # Subtest: NAME            (after the program's version line if it starts with one)
//	  ...the program's output, indented by two spaces...
//	ok I NAME                    exit 0
//	ok I NAME # SKIP             exit 4 (KSFT_SKIP)
//	not ok I NAME # exit=CODE    another exit code
//	not ok I NAME # signal=SIG   killed by a signal
//	not ok I NAME # TIMEOUT      still running after -timeout
//	not ok I NAME # error        could not be started
//
// NAME is the program's base name. A line of the program that is not a
// (K)TAP line becomes a "# " diagnostic, so a program printing TAP becomes
// a subtest and any other program's output stays diagnostics; the
// "# Subtest:" header names the subtest before its cases, so that they
// are reported as they run. The runner exits 0 if no program failed.
//
// Each program runs in a process group of its own, which is killed after
// the program ends (taking what it left behind), at its timeout, and when
// the runner gets SIGTERM, SIGINT or SIGHUP (it then stops). So that the
// group also dies when the runner is killed outright (the agent kills
// the runner's group at the suite's deadline), the group is led by a
// guard: the agent binary again, run as `kselftest-guard`, which waits
// for the end of a pipe only the runner holds and then kills its group.

// Subcommands of the agent binary.
const (
	kselftestCommand = "kselftest-run"
	guardCommand     = "kselftest-guard" // internal: the runner's process-group guard
)

// ksftSkipCode is the exit code of a skipped kselftest (KSFT_SKIP).
const ksftSkipCode = 4

// subcommand runs the subcommand args name (args being os.Args[1:]) and
// returns its exit code; ok is false when args name none.
func subcommand(args []string) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case kselftestCommand:
		return kselftestMain(args[1:], os.Stdout, os.Stderr), true
	case guardCommand:
		return guardMain(), true
	}
	return 0, false
}

// kselftestMain is the kselftest runner; it returns the exit code.
func kselftestMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(kselftestCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 0, "kill each program after `duration`, reporting it timed out (0: no limit)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-timeout duration] /abs/path/prog...\n", kselftestCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	progs := fs.Args()
	switch {
	case len(progs) == 0:
		fs.Usage()
		return 2
	case *timeout < 0:
		fmt.Fprintf(stderr, "%s: negative timeout %v\n", kselftestCommand, *timeout)
		return 2
	}
	for _, p := range progs {
		if !filepath.IsAbs(p) {
			fmt.Fprintf(stderr, "%s: %q is not an absolute path\n", kselftestCommand, p)
			return 2
		}
	}

	k := &ksftRunner{out: stdout, timeout: *timeout}
	if self, err := os.Executable(); err == nil {
		k.self = self
	} else {
		k.noGuard = err
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Value // the signal that stopped the runner
	go func() {
		select {
		case s := <-sigs:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()

	k.printf("KTAP version 1\n1..%d\n", len(progs))
	failed := false
	for i, prog := range progs {
		if ctx.Err() != nil {
			break
		}
		if !k.run(ctx, i+1, prog, &got) {
			failed = true
		}
	}
	if s, ok := got.Load().(os.Signal); ok {
		fmt.Fprintf(stderr, "%s: stopped by %v\n", kselftestCommand, s)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// ksftRunner runs kselftest programs and prints KTAP.
type ksftRunner struct {
	mu      sync.Mutex // serializes writes to out
	out     io.Writer
	timeout time.Duration // per program; 0 for none
	self    string        // the agent binary, for the guard
	noGuard error         // why there is no self
}

// printf writes to the KTAP output.
func (k *ksftRunner) printf(format string, args ...any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fmt.Fprintf(k.out, format, args...)
}

// ksftName is the test name of prog: its base name, without the
// characters that would end a KTAP description or line.
func ksftName(prog string) string {
	return strings.Map(func(r rune) rune {
		if r == '#' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, filepath.Base(prog))
}

// startGuard starts the guard of a new process group and returns the
// group's id and a function that kills the group and reaps the guard.
// Without the agent binary's path it starts none and returns 0: the
// program then leads its own group.
func (k *ksftRunner) startGuard() (pgid int, stop func(), err error) {
	if k.self == "" {
		return 0, func() {}, nil
	}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("creating the guard's pipe: %w", err)
	}
	g := exec.Command(k.self, guardCommand)
	g.Stdin = lifeR
	g.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = g.Start()
	lifeR.Close()
	if err != nil {
		lifeW.Close()
		return 0, nil, fmt.Errorf("starting the process-group guard: %w", err)
	}
	return g.Process.Pid, func() {
		_ = killGroup(g.Process.Pid)
		lifeW.Close()
		_ = g.Wait()
	}, nil
}

// guardMain is the guard of a kselftest program's process group: it
// waits until its standard input, a pipe from the runner, reaches its end
// (the runner closed it or died), then kills its process group, itself
// included.
func guardMain() int {
	signal.Ignore(unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := unix.Kill(0, unix.SIGKILL); err != nil {
		fmt.Fprintf(os.Stderr, "%s: killing its process group: %v\n", guardCommand, err)
	}
	return 1
}

// run runs the num-th program and prints its subtest and result line.
// It reports whether the program passed or was skipped.
func (k *ksftRunner) run(ctx context.Context, num int, prog string, stopSig *atomic.Value) bool {
	name := ksftName(prog)
	out := &ksftOutput{k: k, name: name}
	notOK := func(directive string, diag ...string) bool {
		out.header()
		for _, d := range diag {
			k.printf("  # kvmtest: %s\n", d)
		}
		k.printf("not ok %d %s # %s\n", num, name, directive)
		return false
	}

	pgid, stopGuard, err := k.startGuard()
	if err != nil {
		return notOK("error", err.Error())
	}
	defer stopGuard()
	outR, outW, err := os.Pipe()
	if err != nil {
		return notOK("error", fmt.Sprintf("creating the output pipe: %v", err))
	}
	cmd := exec.Command(prog)
	cmd.Dir = filepath.Dir(prog)
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	err = cmd.Start()
	outW.Close()
	if err != nil {
		outR.Close()
		return notOK("error", fmt.Sprintf("starting %s: %v", prog, err))
	}
	if pgid == 0 {
		pgid = cmd.Process.Pid
	}

	var wg sync.WaitGroup
	wg.Go(func() { readLines(outR, maxOutputLine, out.line) })
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	var deadline <-chan time.Time
	if k.timeout > 0 {
		t := time.NewTimer(k.timeout)
		defer t.Stop()
		deadline = t.C
	}
	var timedOut, interrupted bool
	select {
	case <-waited:
	case <-deadline:
		timedOut = true
	case <-ctx.Done():
		interrupted = true
	}
	// The program, or what it left behind in its group, goes.
	_ = killGroup(pgid)
	<-waited

	var diags []string
	if k.noGuard != nil {
		diags = append(diags, fmt.Sprintf("no process-group guard (%v): the program's group outlives a killed runner", k.noGuard))
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainDelay):
		diags = append(diags, fmt.Sprintf("output still open %v after the program ended (a descendant left its process group?); stopped reading", drainDelay))
		outR.Close()
		<-drained
	}
	outR.Close()

	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case timedOut:
		return notOK("TIMEOUT", append(diags, fmt.Sprintf("timed out after %v; process group killed", k.timeout))...)
	case interrupted:
		by := "a signal"
		if sig, ok := stopSig.Load().(syscall.Signal); ok {
			by = unix.SignalName(sig)
		}
		return notOK("interrupted by "+by, append(diags, "the runner was stopped; process group killed")...)
	case ws.Signaled():
		return notOK("signal="+unix.SignalName(ws.Signal()), diags...)
	case ws.ExitStatus() == ksftSkipCode:
		out.header()
		for _, d := range diags {
			k.printf("  # kvmtest: %s\n", d)
		}
		k.printf("ok %d %s # SKIP\n", num, name)
		return true
	case ws.ExitStatus() != 0:
		return notOK(fmt.Sprintf("exit=%d", ws.ExitStatus()), diags...)
	}
	out.header()
	for _, d := range diags {
		k.printf("  # kvmtest: %s\n", d)
	}
	k.printf("ok %d %s\n", num, name)
	return true
}

// ksftOutput turns a program's output lines into lines of its subtest.
type ksftOutput struct {
	k      *ksftRunner
	name   string
	headed bool // the "# Subtest:" header is out

	afterResult  bool // the previous line was a result line...
	resultIndent int  // ...indented this much
	yaml         bool // inside a YAML block after a result line
	yamlLines    int
}

// header prints the subtest's "# Subtest:" line, once.
func (o *ksftOutput) header() {
	if !o.headed {
		o.headed = true
		o.k.printf("  # Subtest: %s\n", o.name)
	}
}

// line prints one line of the program, indented: as it is if it is a
// (K)TAP line or part of a YAML block after a result line, else as a
// diagnostic.
func (o *ksftOutput) line(b []byte) {
	s := string(b)
	l := parseTAPLine(s)
	if !o.headed {
		if l.kind == tapVersion && l.indent == 0 {
			// KUnit's order: the version line, then the header.
			o.k.printf("  %s\n", s)
			o.header()
			return
		}
		o.header()
	}
	isTAP := l.kind != tapOther
	switch {
	case o.yaml && (l.text == "" || l.indent > o.resultIndent):
		isTAP = true
		o.yamlLines++
		if l.text == "..." || o.yamlLines >= maxTAPYAMLLines {
			o.yaml = false
		}
	case o.afterResult && l.text == "---" && l.indent > o.resultIndent:
		isTAP, o.yaml, o.yamlLines = true, true, 0
	default:
		o.yaml = false
	}
	o.afterResult = l.kind == tapResult
	if o.afterResult {
		o.resultIndent = l.indent
	}
	switch {
	case isTAP:
		o.k.printf("  %s\n", s)
	case s == "":
		o.k.printf("  #\n")
	default:
		o.k.printf("  # %s\n", s)
	}
}
