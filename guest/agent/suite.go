package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

const (
	// maxOutputLine bounds one output event; longer lines are split.
	maxOutputLine = maxTextBytes
	// maxJSONLine bounds one line of test2json output; a longer line is
	// split and its pieces reported as output events.
	maxJSONLine = 256 << 10
	// waitDelay is exec.Cmd.WaitDelay: how long Wait waits for a killed
	// process group to go away.
	waitDelay = 2 * time.Second
	// drainDelay bounds how long output is read after the suite's process
	// exited and its process group was killed. Only a descendant that left
	// the group (setsid) and still holds the output can make it matter.
	drainDelay = 2 * time.Second
)

// runner runs suites and reports them to sink.
type runner struct {
	sink      Sink
	test2json string // path of test2json, for FormatGo
	dir       string // working directory of the suites
	taintFile string // read after each suite; "" to send no taint events
	// root, when not "", is the directory every suite is chrooted into
	// (its dir then inside it); rootErr, when not "", why the root the
	// manifest asks for could not be built: every suite ends with it.
	root, rootErr string
	// modules is the release's module index, for Suite.Modules (nil
	// without Manifest.Modules); modulesErr why it could not be read.
	modules    *moduleIndex
	modulesErr error
	// load loads one module file (finitModule; a test's recorder).
	load loadFunc
	// initramfs is where the agent sees the initramfs ("" for /; a
	// test's directory).
	initramfs string
}

// suiteEnv is the environment of every suite, before Suite.Env.
func suiteEnv() []string {
	return []string{
		"PATH=/kvmtest/bin:/bin:/sbin",
		"HOME=/tmp",
		"TMPDIR=/tmp",
		proto.GuestEnv + "=1",
	}
}

// outcome is what running a suite produced, from which its status is
// derived.
type outcome struct {
	format    string
	startErr  error  // the program could not be started
	timedOut  bool   // the deadline expired
	exited    bool   // the process exited (rather than being killed by a signal)
	exitCode  int    // valid if exited
	signal    string // the signal that killed it, if not exited
	pkgAction string // FormatGo: Action of the last package-level pass/fail/skip event
	notOK     int    // FormatTAP, FormatKTAP: failures (tapParser.Failures)
	tapSkip   bool   // FormatTAP, FormatKTAP: the plan was 1..0
}

// deriveStatus maps an outcome to a proto status.
func deriveStatus(o outcome) string {
	switch {
	case o.startErr != nil:
		return proto.StatusError
	case o.timedOut:
		return proto.StatusTimeout
	case !o.exited || o.exitCode != 0:
		return proto.StatusFail
	}
	switch o.format {
	case proto.FormatGo:
		switch o.pkgAction {
		case "pass":
			return proto.StatusPass
		case "skip":
			return proto.StatusSkip
		}
		return proto.StatusFail
	case proto.FormatTAP, proto.FormatKTAP:
		switch {
		case o.notOK > 0:
			return proto.StatusFail
		case o.tapSkip:
			return proto.StatusSkip
		}
	}
	return proto.StatusPass
}

// readLines calls fn for every line of r, without its line terminator
// ("\n" or "\r\n"). Lines longer than max bytes are passed in pieces of at
// most max bytes. It returns at EOF or on a read error.
func readLines(r io.Reader, max int, fn func(line []byte)) {
	br := bufio.NewReaderSize(r, max)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			}
			fn(line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// command returns the argv to execute for s.
func (r *runner) command(s proto.Suite) ([]string, error) {
	if len(s.Argv) == 0 {
		return nil, errors.New("empty argv")
	}
	if s.Format != proto.FormatGo {
		return s.Argv, nil
	}
	if r.test2json == "" {
		return nil, errors.New("no test2json in the manifest")
	}
	// -test.v=test2json goes first: a test binary stops parsing flags at
	// the first argument that is not one.
	argv := []string{r.test2json, "-t", "-p", s.Name, s.Argv[0], "-test.v=test2json"}
	return append(argv, s.Argv[1:]...), nil
}

// run runs one suite and reports it: suite-start, its test or output
// events, suite-end and, unless it was skipped, a taint event. It returns
// the status reported.
func (r *runner) run(ctx context.Context, s proto.Suite) string {
	_ = r.sink.Send(proto.Event{Kind: proto.KindSuiteStart, Suite: s.Name})
	if s.Skip != "" {
		_ = r.sink.Send(proto.Event{Kind: proto.KindSuiteEnd, Suite: s.Name, Status: proto.StatusSkip, Message: s.Skip})
		return proto.StatusSkip
	}
	sr, err := r.forSuite(s)
	if err != nil {
		_ = r.sink.Send(proto.Event{Kind: proto.KindSuiteEnd, Suite: s.Name, Status: proto.StatusError, Message: err.Error()})
		return proto.StatusError
	}
	start := time.Now()
	o, msg := sr.exec(ctx, s)
	status := deriveStatus(o)
	end := proto.Event{
		Kind:    proto.KindSuiteEnd,
		Suite:   s.Name,
		Status:  status,
		Elapsed: time.Since(start).Seconds(),
		Message: msg,
	}
	if o.startErr == nil && o.exited {
		code := o.exitCode
		end.ExitCode = &code
	}
	_ = r.sink.Send(end)
	r.sendTaint(s.Name)
	return status
}

// forSuite prepares what s needs before it starts and returns the runner
// that runs it: in the initramfs when s asks for it (Suite.Initramfs),
// else in the shared root if there is one; in s's workdir, made first;
// with s's modules loaded. The error is why s cannot start (the shared
// root that could not be built, a module that does not load).
func (r *runner) forSuite(s proto.Suite) (*runner, error) {
	sr := *r
	if s.Initramfs {
		sr.root, sr.rootErr = "", ""
	}
	if sr.rootErr != "" {
		return nil, errors.New(sr.rootErr)
	}
	if len(s.Modules) > 0 {
		if r.modules == nil {
			err := r.modulesErr
			if err == nil {
				err = errors.New("the kernel has no modules in the initramfs")
			}
			return nil, fmt.Errorf("suite needs modules %s: %w", strings.Join(s.Modules, ", "), err)
		}
		load := r.load
		if load == nil {
			load = finitModule
		}
		if err := loadModules(r.modules, s.Modules, load); err != nil {
			return nil, fmt.Errorf("suite needs modules %s: %w", strings.Join(s.Modules, ", "), err)
		}
	}
	if s.Workdir != "" {
		// The directory is made outside the root (the agent is not
		// chrooted), so a link in the root must not lead out of it.
		host := s.Workdir
		if sr.root != "" {
			var err error
			if host, err = mkdirIn(sr.root, s.Workdir); err != nil {
				return nil, fmt.Errorf("making the suite's workdir %s: %w", s.Workdir, err)
			}
			// What the host put in the workdir (files: under it) is in
			// the initramfs: the suite finds it in the root's too.
			if err := copyTree(filepath.Join(r.initramfs, s.Workdir), host); err != nil {
				return nil, fmt.Errorf("copying the suite's files into its workdir %s: %w", s.Workdir, err)
			}
		} else if err := os.MkdirAll(host, 0o755); err != nil {
			return nil, fmt.Errorf("making the suite's workdir: %w", err)
		}
		sr.dir = s.Workdir
	}
	return &sr, nil
}

// sendTaint reports the kernel's taint flags after suite.
func (r *runner) sendTaint(suite string) {
	if r.taintFile == "" {
		return
	}
	taint, err := readTaint(r.taintFile)
	if err != nil {
		logf(r.sink, "suite %s: %v", suite, err)
		return
	}
	_ = r.sink.Send(proto.Event{Kind: proto.KindTaint, Suite: suite, Taint: &taint})
}

// readTaint parses a /proc/sys/kernel/tainted file.
func readTaint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("reading taint: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing taint %q: %w", b, err)
	}
	return v, nil
}

// exec runs the suite's program in its own process group with the suite's
// deadline and streams its output as events. It returns when the program
// has exited, its process group is killed and its output is read (or
// drainDelay passed). The message describes anything abnormal.
func (r *runner) exec(ctx context.Context, s proto.Suite) (outcome, string) {
	o := outcome{format: s.Format}
	argv, err := r.command(s)
	if err != nil {
		o.startErr = err
		return o, err.Error()
	}
	timeout := suiteTimeout(s)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	env := suiteEnv()
	if r.root != "" {
		// exec.Command would look the program up in the initramfs.
		if argv[0], err = lookPathIn(r.root, argv[0]); err != nil {
			o.startErr = err
			return o, err.Error()
		}
		env[0] = "PATH=" + rootPATH
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(env, s.Env...)
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Chroot: r.root}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay
	if s.Format == proto.FormatConsole {
		return r.execConsole(ctx, cmd, o, timeout)
	}

	// The output goes to pipes we own rather than through exec's copying
	// goroutines: Wait then returns as soon as the process exits, even if
	// a descendant still holds the pipe, and we decide how long to read.
	var readers []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		o.startErr = fmt.Errorf("creating output pipe: %w", err)
		return o, o.startErr.Error()
	}
	readers = append(readers, outR)
	cmd.Stdout, cmd.Stderr = outW, outW
	writers := []*os.File{outW}
	var errR *os.File
	if s.Format == proto.FormatGo {
		// test2json writes JSON on stdout; its stderr is for its own errors.
		var errW *os.File
		errR, errW, err = os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(writers)
			o.startErr = fmt.Errorf("creating error pipe: %w", err)
			return o, o.startErr.Error()
		}
		readers = append(readers, errR)
		writers = append(writers, errW)
		cmd.Stderr = errW
	}

	err = cmd.Start()
	closeAll(writers) // the child has its copies
	if err != nil {
		closeAll(readers)
		o.startErr = r.startError(argv[0], err)
		return o, o.startErr.Error()
	}

	var wg sync.WaitGroup
	var mu sync.Mutex // guards o.pkgAction
	// The TAP parser is used by the reader, then, once it is done, by
	// this goroutine.
	var tap *tapParser
	if s.Format == proto.FormatTAP || s.Format == proto.FormatKTAP {
		tap = newTAPParser(time.Now, func(e tapEvent) { r.sendTAPEvent(s.Name, e) })
	}
	wg.Go(func() {
		switch {
		case s.Format == proto.FormatGo:
			readLines(outR, maxJSONLine, func(line []byte) {
				if a := r.sendTestLine(s.Name, line); a != "" {
					mu.Lock()
					o.pkgAction = a
					mu.Unlock()
				}
			})
		case tap != nil:
			readLines(outR, maxOutputLine, func(line []byte) { tap.Line(string(line)) })
		default:
			readLines(outR, maxOutputLine, func(line []byte) {
				_ = r.sink.Send(proto.Event{Kind: proto.KindOutput, Suite: s.Name, Output: string(line)})
			})
		}
	})
	if errR != nil {
		wg.Go(func() {
			readLines(errR, maxOutputLine, func(line []byte) {
				_ = r.sink.Send(proto.Event{Kind: proto.KindOutput, Suite: s.Name, Output: string(line)})
			})
		})
	}

	waitErr := cmd.Wait()
	o.timedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
	// Whatever the program left behind in its group goes with it.
	_ = killGroup(cmd.Process.Pid)

	var msgs []string
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainDelay):
		msgs = append(msgs, fmt.Sprintf("output still open %v after the program ended (a descendant left its process group?); stopped reading", drainDelay))
		closeAll(readers) // unblocks the readers
		<-drained
	}
	closeAll(readers)

	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.signal = ws.Signal().String()
		} else {
			o.exited = true
			o.exitCode = ps.ExitCode()
		}
	}
	switch {
	case o.timedOut:
		msgs = append([]string{fmt.Sprintf("timed out after %v; process group killed", timeout)}, msgs...)
	case o.signal != "":
		msgs = append([]string{"killed by signal: " + o.signal}, msgs...)
	case waitErr != nil && !errors.As(waitErr, new(*exec.ExitError)) && !errors.Is(waitErr, exec.ErrWaitDelay):
		msgs = append([]string{fmt.Sprintf("waiting: %v", waitErr)}, msgs...)
	}
	if s.Format == proto.FormatGo && !o.timedOut && o.pkgAction == "" {
		msgs = append(msgs, "test2json reported no package result")
	}
	if tap != nil {
		tap.Finish(o.timedOut)
		o.notOK = tap.Failures()
		if skipped, reason := tap.Skipped(); skipped {
			o.tapSkip = true
			if reason == "" {
				reason = "no tests planned (1..0)"
			}
			msgs = append(msgs, "skipped: "+reason)
		}
	}
	return o, strings.Join(msgs, "; ")
}

// startError is why prog could not be started: err, and the root it
// was to run in, if any.
func (r *runner) startError(prog string, err error) error {
	if r.root != "" {
		return fmt.Errorf("starting %s in the shared root %s: %w", prog, r.root, err)
	}
	return fmt.Errorf("starting %s: %w", prog, err)
}

// sendTAPEvent sends what the TAP parser of suite reports: a line of the
// suite itself as an output event, anything about a test case as a test
// event, the way test2json reports a Go test.
func (r *runner) sendTAPEvent(suite string, e tapEvent) {
	if e.Test == "" {
		_ = r.sink.Send(proto.Event{Kind: proto.KindOutput, Suite: suite, Output: e.Output})
		return
	}
	te := &proto.TestEvent{Time: e.Time.UTC(), Action: e.Action, Package: suite, Test: e.Test, Elapsed: e.Elapsed}
	if e.Action == "output" {
		te.Output = e.Output + "\n"
	}
	_ = r.sink.Send(proto.Event{Kind: proto.KindTest, Suite: suite, Test: te})
}

// sendTestLine sends one line of test2json output as a test event, or as
// an output event if it is not one. It returns the Action of a
// package-level result event (pass, fail, skip), "" otherwise.
func (r *runner) sendTestLine(suite string, line []byte) string {
	var te proto.TestEvent
	if err := json.Unmarshal(line, &te); err != nil || te.Action == "" {
		_ = r.sink.Send(proto.Event{Kind: proto.KindOutput, Suite: suite, Output: string(line)})
		return ""
	}
	_ = r.sink.Send(proto.Event{Kind: proto.KindTest, Suite: suite, Test: &te})
	if te.Test == "" {
		switch te.Action {
		case "pass", "fail", "skip":
			return te.Action
		}
	}
	return ""
}

// killGroup sends SIGKILL to the process group pgid. A group that is
// already gone is not an error.
func killGroup(pgid int) error {
	err := unix.Kill(-pgid, unix.SIGKILL)
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	if err != nil {
		return fmt.Errorf("killing process group %d: %w", pgid, err)
	}
	return nil
}

// execConsole runs cmd in a new session with the serial console as its
// controlling terminal and standard streams (an interactive shell), and
// waits for it within the suite's deadline.
func (r *runner) execConsole(ctx context.Context, cmd *exec.Cmd, o outcome, timeout time.Duration) (outcome, string) {
	_, conDev := devices()
	tty, err := os.OpenFile(conDev, os.O_RDWR, 0)
	if err != nil {
		o.startErr = fmt.Errorf("opening the console: %w", err)
		return o, o.startErr.Error()
	}
	defer tty.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Chroot: r.root}
	if err := cmd.Start(); err != nil {
		o.startErr = r.startError(cmd.Path, err)
		return o, o.startErr.Error()
	}
	cmd.Wait()
	o.timedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
	_ = killGroup(cmd.Process.Pid)
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.signal = ws.Signal().String()
		} else {
			o.exited, o.exitCode = true, ps.ExitCode()
		}
	}
	if o.timedOut {
		return o, fmt.Sprintf("timed out after %v; session killed", timeout)
	}
	return o, ""
}
