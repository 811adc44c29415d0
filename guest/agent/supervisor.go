package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// How PID 1 reaps orphans without stealing exit statuses
//
// PID 1 inherits every orphan and must wait for them, or they stay zombies.
// But a wait4(-1) in the process that also runs the suites with exec.Cmd
// would sometimes reap a suite's own process first, and exec.Cmd.Wait
// would then fail with ECHILD and lose the exit status.
//
// So the agent is two processes, as tini and other container inits are.
// PID 1 (the supervisor) starts one child, the worker: the same binary with
// -worker, which loads the manifest and runs every suite with exec.Cmd.
// The suites are children of the worker, and only the worker waits for
// them; no other process can reap them. The worker is not a subreaper, so
// when a suite's process exits leaving descendants, they are reparented to
// PID 1, whose only job is a wait4(-1) loop: every pid it collects is an
// orphan, except the worker itself, whose status it wants anyway. No pid
// registry, no race between Start and registration, no SIGCHLD handler.
//
// On a host (tests), -subreaper makes the agent a child subreaper
// (PR_SET_CHILD_SUBREAPER) so the same code receives the orphans there.

// workerEventsFD is the descriptor of the event channel in the worker.
const workerEventsFD = 3

// supervision is the result of supervise.
type supervision struct {
	status unix.WaitStatus // of the worker
	reaped int             // orphans reaped
	killed bool            // the watchdog killed the worker
}

// supervise runs the worker (this executable with args) with events as
// its descriptor 3, reaps every child until the worker has exited, then
// the zombies left. If deadline is positive and the worker runs longer, it
// is killed.
func supervise(events *os.File, args []string, deadline time.Duration) (supervision, error) {
	var sv supervision
	exe, err := os.Executable()
	if err != nil {
		if !filepath.IsAbs(os.Args[0]) {
			return sv, fmt.Errorf("finding the agent executable: %w", err)
		}
		exe = os.Args[0]
	}
	proc, err := os.StartProcess(exe, append([]string{exe}, args...), &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, events},
	})
	if err != nil {
		return sv, fmt.Errorf("starting the agent worker: %w", err)
	}
	worker := proc.Pid
	var killed atomic.Bool
	if deadline > 0 {
		// proc.Kill signals through a pidfd where the kernel has them, so
		// a late timer cannot hit a reused pid.
		t := time.AfterFunc(deadline, func() {
			killed.Store(true)
			_ = proc.Kill()
		})
		defer t.Stop()
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return sv, fmt.Errorf("waiting for the agent worker: %w", err)
		}
		if pid == worker {
			sv.status = ws
			sv.killed = killed.Load() && ws.Signaled() && ws.Signal() == unix.SIGKILL
			break
		}
		sv.reaped++
	}
	sv.reaped += reapZombies()
	return sv, nil
}

// reapZombies reaps the children that have already exited, without
// waiting for the others, and returns how many.
func reapZombies() int {
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return n
		}
		n++
	}
}

// workerDeadline bounds the worker's run from the manifest: every suite's
// timeout plus what the worker may take around it, plus a margin. Without
// a readable manifest the worker only has to report that.
func workerDeadline(manifest string) time.Duration {
	d := time.Minute
	m, err := loadManifest(manifest)
	if err != nil {
		return d
	}
	for _, s := range m.Suites {
		d += suiteTimeout(s) + waitDelay + drainDelay + 5*time.Second
	}
	return d
}

// forwardGrace is how long the events the worker wrote may take to be
// forwarded once it has exited.
const forwardGrace = 5 * time.Second

// runSupervised runs the manifest's suites in a worker process, reaping
// orphans meanwhile, and reports anything abnormal about the worker.
//
// The worker's events come to this process through a pipe (the worker's
// descriptor 3, close-on-exec there, so no suite inherits it), and go to
// the event channel through sink: one writer numbers every line of the
// channel (proto.Event.Seq), the supervisor's heartbeats and the
// worker's events alike.
func runSupervised(sink Sink, manifest, dir, root, rootErr string) {
	pr, pw, err := os.Pipe()
	if err != nil {
		logf(sink, "agent worker's event pipe: %v", err)
		return
	}
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		forwardEvents(sink, pr)
	}()
	args := []string{"-worker", "-manifest", manifest, "-dir", dir, "-root", root, "-root-error", rootErr}
	sv, err := supervise(pw, args, workerDeadline(manifest))
	pw.Close()
	select {
	case <-forwarded:
	case <-time.After(forwardGrace):
		logf(sink, "the agent worker's event pipe stayed open %s after it exited", forwardGrace)
	}
	pr.Close()
	<-forwarded
	if err != nil {
		logf(sink, "%v", err)
		return
	}
	if sv.reaped > 0 {
		_ = sink.Send(proto.Event{Kind: proto.KindLog, Message: fmt.Sprintf("reaped %d orphaned processes", sv.reaped)})
	}
	switch ws := sv.status; {
	case sv.killed:
		logf(sink, "agent worker killed after exceeding the run's deadline")
	case ws.Signaled():
		logf(sink, "agent worker killed by signal %v", ws.Signal())
	case ws.ExitStatus() != 0:
		logf(sink, "agent worker exited with status %d", ws.ExitStatus())
	}
}

// forwardEvents sends the events the worker writes to r (JSON lines) to
// sink, until r ends. A line that is not an event is reported, not sent.
func forwardEvents(sink Sink, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), proto.MaxLineBytes+1)
	for sc.Scan() {
		var ev proto.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Kind == "" {
			logf(sink, "the agent worker wrote a line that is not an event (%d bytes)", len(sc.Bytes()))
			continue
		}
		_ = sink.Send(ev)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		logf(sink, "reading the agent worker's events: %v", err)
	}
}
