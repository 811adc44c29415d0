package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/vmrunner"
)

// Console endings of a kernel that could not run /init, as init/main.c
// prints them, and of kernels that started it.
var (
	consoleNoInit = `[    1.021] Freeing unused kernel image (initmem) memory: 1234K
[    1.022] Run /init as init process
[    1.023] Failed to execute /init (error -8)
[    1.024] Run /sbin/init as init process
[    1.025] Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.
[    1.026] CPU: 0 PID: 1 Comm: swapper Not tainted 6.12.0 #1
`
	consoleRunThenError = `[    1.0] Run /init as init process
[    1.1] with arguments:
[    1.2]   /init
[    1.3] Starting something (error -2)
`
	consolePanicOnly = "[    1.0] Kernel panic - not syncing: No working init found.  Try passing init= option\n"
	consoleStarted   = `[    1.0] Run /init as init process
[    1.1] random: crng init done
[    1.2] kvmtest-agent: hello
`
	consoleCrash = `[    2.0] Run /init as init process
[    2.1] kvmtest-agent: hello
[    2.2] x
[    2.3] y
[    2.4] z
[    2.5] w
[    3.0] BUG: kernel NULL pointer dereference, address: 0000000000000000
[    3.1] Kernel panic - not syncing: Fatal exception (error -1)
`
)

func TestAgentStartFailure(t *testing.T) {
	for _, tc := range []struct {
		name, console, want string
	}{
		{"exec format error", consoleNoInit, "Failed to execute /init (error -8)"},
		{"run then an exec error", consoleRunThenError, "Starting something (error -2)"},
		{"no working init", consolePanicOnly, "Kernel panic - not syncing: No working init found."},
		{"agent started", consoleStarted, ""},
		{"a crash well after init started", consoleCrash, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AgentStartFailure(strings.NewReader(tc.console))
			if !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
				t.Errorf("AgentStartFailure = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAgentStartVerdict: a machine whose agent could not start is
// infrastructure (boot-failed), not a crash of the kernel, whatever the
// machine's outcome before hello; after hello the kernel's outcome stands.
func TestAgentStartVerdict(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "console.log"), []byte(consoleNoInit), 0o644)
	crashed := &vmrunner.Result{Outcome: vmrunner.OutcomeCrashed, Reason: "kernel crashed: kernel panic: No working init found"}
	for _, tc := range []struct {
		name  string
		res   *vmrunner.Result
		hello bool
		want  bool
	}{
		{"crashed before hello", crashed, false, true},
		{"died before hello", &vmrunner.Result{Outcome: vmrunner.OutcomeDied}, false, true},
		{"no hello in time", &vmrunner.Result{Outcome: vmrunner.OutcomeBootTimeout}, false, true},
		{"after hello the kernel's outcome stands", crashed, true, false},
		{"the guest finished", &vmrunner.Result{Outcome: vmrunner.OutcomeDone}, false, false},
		{"no result", nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, ok := cellAgentStartFailure(dir, tc.res, tc.hello)
			if ok != tc.want {
				t.Fatalf("cellAgentStartFailure = %q, %v; want %v", why, ok, tc.want)
			}
			if ok && (!strings.Contains(why, "could not start the guest agent") || !strings.Contains(why, "error -8")) {
				t.Errorf("reason %q does not say the agent could not start and why", why)
			}
		})
	}
	if _, ok := cellAgentStartFailure(t.TempDir(), crashed, false); ok {
		t.Error("a cell with no console.log is taken for an agent that did not start")
	}
}
