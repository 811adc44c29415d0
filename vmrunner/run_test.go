package vmrunner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// fakeQEMUEnv makes the test binary act as QEMU (see fakeQEMU); its value
// is the behaviour of the guest.
const fakeQEMUEnv = "VMRUNNER_FAKE_QEMU"

// fakeVirtiofsdEnv makes the test binary act as a virtiofsd that never
// serves: "exit" fails at once, "hang" never makes its socket.
const fakeVirtiofsdEnv = "VMRUNNER_FAKE_VIRTIOFSD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeQEMUEnv); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	switch os.Getenv(fakeVirtiofsdEnv) {
	case "exit":
		fmt.Fprintln(os.Stderr, "fake virtiofsd: cannot serve")
		os.Exit(1)
	case "hang":
		fmt.Fprintln(os.Stderr, "fake virtiofsd: hanging")
		select {}
	}
	os.Exit(m.Run())
}

// fakeQEMU plays QEMU for Run, from the command line Run gives it: it
// connects to the console and event sockets, serves QMP, and once
// continued behaves as mode says:
//
//	silent         never says anything (no hello)
//	hello-hang     the agent says hello, then nothing
//	panic-exit     a panic on the console, GUEST_PANICKED, and QEMU exits
//	                (as with panic=-1: the event is read after the exit)
//	pvpanic-only   GUEST_PANICKED with nothing on the console, and QEMU stays
//	flood          hello, then 4 MiB of console lines, then nothing
//	bad-event      hello, a malformed event line, done, and QEMU exits 0
//	exit-at-start  QEMU fails before connecting to anything (exit 1)
func fakeQEMU(mode string, args []string) int {
	if len(args) > 0 && args[0] == "-help" {
		fmt.Println("-action panic=pause|shutdown|exit-failure|none")
		return 0
	}
	if len(args) > 1 && args[0] == "-device" && args[1] == "help" {
		fmt.Println(`name "pvpanic-pci", bus PCI`)
		fmt.Println(`name "vhost-user-fs-pci", bus PCI`)
		fmt.Println(`name "virtio-9p-pci", bus PCI, alias "virtio-9p"`)
		return 0
	}
	if mode == "exit-at-start" {
		fmt.Fprintln(os.Stderr, "fake: cannot start")
		return 1
	}
	var con, ev, qmpPath string
	for i, a := range args {
		if p, ok := strings.CutPrefix(a, "socket,id=con,path="); ok {
			con = p
		}
		if p, ok := strings.CutPrefix(a, "socket,id=ev,path="); ok {
			ev = p
		}
		if a == "-qmp" && i+1 < len(args) {
			qmpPath = strings.TrimSuffix(strings.TrimPrefix(args[i+1], "unix:"), ",server=on,wait=off")
		}
	}
	ql, err := net.Listen("unix", qmpPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conC, err1 := net.Dial("unix", con)
	evC, err2 := net.Dial("unix", ev)
	qc, err3 := ql.Accept()
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintln(os.Stderr, err1, err2, err3)
		return 1
	}
	var mu sync.Mutex
	send := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(qc, s)
	}
	send(`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": []}}`)
	started := make(chan struct{})
	go func() {
		// Commands come as a stream of JSON values, not lines.
		dec := json.NewDecoder(qc)
		for {
			var cmd struct {
				Execute string `json:"execute"`
			}
			if err := dec.Decode(&cmd); err != nil {
				os.Exit(0)
			}
			switch cmd.Execute {
			case "query-kvm":
				send(`{"return": {"enabled": false, "present": false}}`)
			case "human-monitor-command":
				send(`{"return": "RIP=ffffffff81000000\r\n"}`)
			case "quit":
				send(`{"return": {}}`)
				os.Exit(0)
			case "cont":
				send(`{"return": {}}`)
				close(started)
			default:
				send(`{"return": {}}`)
			}
		}
	}()
	<-started
	hello := func() {
		fmt.Fprintf(evC, `{"time":"2026-01-01T00:00:00Z","kind":"hello","message":"6.12.0"}`+"\n")
	}
	panicked := `{"event": "GUEST_PANICKED", "data": {"action": "run"}, "timestamp": {"seconds": 1, "microseconds": 0}}`
	switch mode {
	case "hello-hang":
		hello()
	case "panic-exit":
		hello()
		fmt.Fprintln(conC, "[    1.000000] Kernel panic - not syncing: fake")
		time.Sleep(20 * time.Millisecond)
		send(panicked)
		return 0
	case "bad-event":
		hello()
		fmt.Fprintf(evC, "{not an event\n")
		fmt.Fprintf(evC, `{"time":"2026-01-01T00:00:00Z","kind":"done"}`+"\n")
		evC.Close()
		conC.Close()
		return 0
	case "pvpanic-only":
		hello()
		send(panicked)
	case "oops-goes-on", "oops-then-panic":
		hello()
		for _, l := range []string{
			"BUG: kernel NULL pointer dereference, address: 0000000000000000",
			"Oops: 0000 [#1] SMP",
			"RIP: 0010:fake_fn+0x1/0x2",
			"Call Trace:",
			" <TASK>",
			" fake_fn+0x1/0x2",
			" </TASK>",
			"---[ end trace 0000000000000000 ]---",
		} {
			fmt.Fprintf(conC, "[    1.000000] %s\n", l)
		}
		if mode == "oops-then-panic" {
			// A panic that never reboots: only the grace ends it.
			fmt.Fprintln(conC, "[    1.000000] Kernel panic - not syncing: Fatal exception")
		}
		// The agent lives on: its heartbeats are not console output.
		for {
			time.Sleep(20 * time.Millisecond)
			if _, err := fmt.Fprintf(evC, `{"time":"2026-01-01T00:00:00Z","kind":"heartbeat"}`+"\n"); err != nil {
				return 0
			}
		}
	case "flood":
		hello()
		line := bytes.Repeat([]byte("x"), 1023)
		line = append(line, '\n')
		for range 4 << 10 {
			if _, err := conC.Write(line); err != nil {
				return 0
			}
		}
	}
	select {}
}

// fakeSpec is a spec that boots the fake QEMU with behaviour mode.
func fakeSpec(t *testing.T, mode string) Spec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeQEMUEnv, mode)
	dir := t.TempDir()
	for _, f := range []string{"bzImage", "initrd"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	return Spec{QEMU: self, Kernel: filepath.Join(dir, "bzImage"), Initrd: filepath.Join(dir, "initrd"), Accel: AccelTCG}
}

// TestRunScalesTimeouts: under TCG, Run multiplies the boot, run and
// silence timeouts by the slowdown, and really waits that long; with
// Unscaled it does not.
func TestRunScalesTimeouts(t *testing.T) {
	const base = 300 * time.Millisecond
	boot := func(s *Spec) *time.Duration { return &s.BootTimeout }
	run := func(s *Spec) *time.Duration { return &s.RunTimeout }
	silence := func(s *Spec) *time.Duration { return &s.SilenceTimeout }
	tests := []struct {
		name     string
		mode     string
		timeout  func(*Spec) *time.Duration
		recorded func(*Result) time.Duration
		unscaled bool
		outcome  Outcome
		text     string
	}{
		{"boot", "silent", boot, func(r *Result) time.Duration { return r.BootTimeout }, false, OutcomeBootTimeout, "within the boot timeout (1.2s: 300ms ×4 for tcg, tcg)"},
		{"boot unscaled", "silent", boot, func(r *Result) time.Duration { return r.BootTimeout }, true, OutcomeBootTimeout, "within the boot timeout (300ms, tcg)"},
		{"run", "hello-hang", run, func(r *Result) time.Duration { return r.RunTimeout }, false, OutcomeTimeout, "within the run timeout (1.2s: 300ms ×4 for tcg)"},
		{"run unscaled", "hello-hang", run, func(r *Result) time.Duration { return r.RunTimeout }, true, OutcomeTimeout, "within the run timeout (300ms)"},
		{"silence", "hello-hang", silence, func(r *Result) time.Duration { return r.SilenceTimeout }, false, OutcomeTimeout, "no console output and no event for 1.2s: 300ms ×4 for tcg"},
		{"silence unscaled", "hello-hang", silence, func(r *Result) time.Duration { return r.SilenceTimeout }, true, OutcomeTimeout, "no console output and no event for 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(SlowdownEnv, "4")
			spec := fakeSpec(t, tt.mode)
			*tt.timeout(&spec) = base
			spec.Unscaled = tt.unscaled
			start := time.Now()
			res, err := Run(context.Background(), spec)
			wall := time.Since(start)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Outcome != tt.outcome || !strings.Contains(res.Reason, tt.text) {
				t.Errorf("%s (%s), want %s with %q", res.Outcome, res.Reason, tt.outcome, tt.text)
			}
			factor, limit := 4.0, 4*base
			if tt.unscaled {
				factor, limit = 1, base
			}
			if res.Slowdown != factor || tt.recorded(res) != limit {
				t.Errorf("Result: Slowdown %g, timeout %s; want %g, %s", res.Slowdown, tt.recorded(res), factor, limit)
			}
			// It waited for the scaled timeout, and not for the scaled one
			// when unscaled.
			if wall < limit || tt.unscaled && wall >= 4*base {
				t.Errorf("Run took %s; the timeout was %s", wall, limit)
			}
			if !strings.Contains(res.Diagnostics, "RIP=") {
				t.Errorf("no QMP diagnostics before the timed-out machine was stopped: %q", res.Diagnostics)
			}
		})
	}
}

// TestRunGuestPanicked: a GUEST_PANICKED event is recorded, whether it is
// read while QEMU runs or only after it exited, and a panic reported only
// that way is a crash.
func TestRunGuestPanicked(t *testing.T) {
	tests := []struct {
		mode, reason string
	}{
		{"panic-exit", "kernel crashed: kernel panic: fake; pvpanic: QEMU saw GUEST_PANICKED"},
		{"pvpanic-only", "kernel crashed: the guest reported a panic and the console shows no crash report; pvpanic: QEMU saw GUEST_PANICKED"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			spec := fakeSpec(t, tt.mode)
			spec.CrashGrace = 200 * time.Millisecond
			res, err := Run(context.Background(), spec)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Outcome != OutcomeCrashed || !res.GuestPanicked || res.Reason != tt.reason {
				t.Errorf("%s (%s), GuestPanicked %v; want crashed (%s) with GuestPanicked", res.Outcome, res.Reason, res.GuestPanicked, tt.reason)
			}
			if res.CrashToGone <= 0 || res.CrashToGone > 5*time.Second {
				t.Errorf("CrashToGone = %s", res.CrashToGone)
			}
			if i := slices.Index(res.Argv, "pvpanic-pci"); i < 0 || res.Argv[i-1] != "-device" {
				t.Errorf("argv has no pvpanic-pci device: %q", res.Argv)
			}
		})
	}
}

// TestRunOopsGoesOn: a kernel that oopses and goes on (panic_on_oops=0)
// is stopped as crashed once its console has been quiet for a third of
// the crash grace, whatever the agent still sends; one that panics but
// never reboots is left to the grace.
func TestRunOopsGoesOn(t *testing.T) {
	tests := []struct {
		mode, reason string
	}{
		{"oops-goes-on", "kernel crashed: BUG: unable to handle kernel NULL pointer dereference in fake_fn; the kernel went on after its report (no panic): stopped after 300ms of console quiet"},
		{"oops-then-panic", "kernel crashed: BUG: unable to handle kernel NULL pointer dereference in fake_fn"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			spec := fakeSpec(t, tt.mode)
			spec.Unscaled = true
			spec.CrashGrace = 900 * time.Millisecond
			res, err := Run(context.Background(), spec)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Outcome != OutcomeCrashed || res.Reason != tt.reason {
				t.Errorf("%s (%s); want crashed (%s)", res.Outcome, res.Reason, tt.reason)
			}
		})
	}
}

// TestRunConsoleFlood: a guest that floods its console gets at most
// ConsoleLimit bytes and one truncation marker through to Console, and
// the machine still ends at its deadline.
func TestRunConsoleFlood(t *testing.T) {
	spec := fakeSpec(t, "flood")
	spec.Unscaled = true
	spec.RunTimeout = 2 * time.Second
	spec.ConsoleLimit = 1 << 20
	var console bytes.Buffer
	spec.Console = &console
	res, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	marker := fmt.Sprintf("[kvmtest: console truncated after %d bytes]", 1<<20)
	if res.Outcome != OutcomeTimeout || console.Len() > 1<<20+len(marker)+2 || strings.Count(console.String(), marker) != 1 {
		t.Errorf("%s (%s), console %d bytes, %d markers", res.Outcome, res.Reason, console.Len(), strings.Count(console.String(), marker))
	}
	if res.consoleBytes != 4<<20 {
		t.Errorf("read %d console bytes, want all 4 MiB (the guest must not be blocked)", res.consoleBytes)
	}
}

func TestDrainEvents(t *testing.T) {
	if got := drainEvents(nil, time.Hour); got != nil {
		t.Errorf("nil channel: %v", got)
	}
	closed := make(chan qmp.Event, 3)
	closed <- qmp.Event{Event: "GUEST_PANICKED"}
	closed <- qmp.Event{Event: "SHUTDOWN"}
	close(closed)
	if got := drainEvents(closed, time.Hour); len(got) != 2 || got[0].Event != "GUEST_PANICKED" || got[1].Event != "SHUTDOWN" {
		t.Errorf("closed channel: %v", got)
	}
	open := make(chan qmp.Event, 1)
	open <- qmp.Event{Event: "STOP"}
	start := time.Now()
	if got := drainEvents(open, 100*time.Millisecond); len(got) != 1 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("open channel: %v after %s", got, time.Since(start))
	}
}
