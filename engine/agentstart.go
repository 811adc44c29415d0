package engine

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kvmtest/kvmtest/vmrunner"
)

// What the kernel prints when it cannot start the initramfs's /init, the
// guest agent (init/main.c: run_init_process, try_to_run_init_process
// and the panic that ends kernel_init).
var (
	initFailed = regexp.MustCompile(`Failed to execute /init\b|` +
		`Kernel panic - not syncing: No working init found|` +
		`Starting init: /init exists but couldn't execute it|` +
		`Requested init /init failed`)
	initRun   = regexp.MustCompile(`Run /init as init process`)
	execError = regexp.MustCompile(`\(error -?\d+\)`)
)

// initRunWindow is how many console lines after "Run /init as init
// process" an exec error is taken to be that of /init.
const initRunWindow = 5

// AgentStartFailure returns the console line saying that the kernel could
// not start the guest agent (the initramfs's /init: "Failed to execute
// /init (error -8)", "Kernel panic - not syncing: No working init
// found", "Run /init as init process" followed by an exec error), or ""
// when console shows no such thing. Such a machine never ran the code
// under test: the agent is damaged or the kernel cannot run it (no
// CONFIG_BINFMT_ELF), which is a failure of the set-up, not a verdict on
// the kernel.
func AgentStartFailure(console io.Reader) string {
	sc := bufio.NewScanner(console)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sinceRun := -1
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case initFailed.MatchString(line):
			return line
		case initRun.MatchString(line):
			sinceRun = 0
		case sinceRun >= 0:
			sinceRun++
			if execError.MatchString(line) {
				return line
			}
			if sinceRun >= initRunWindow {
				sinceRun = -1
			}
		}
	}
	return ""
}

// agentStartVerdict says whether a machine that ended before its agent's
// hello (helloSeen false) did so because the agent could not start, as
// console shows; reason is the cell's (status results.StatusBootFailed,
// infrastructure: exit 3), never a kernel crash.
func agentStartVerdict(res *vmrunner.Result, helloSeen bool, console io.Reader) (reason string, ok bool) {
	if res == nil || helloSeen || console == nil {
		return "", false
	}
	switch res.Outcome {
	case vmrunner.OutcomeCrashed, vmrunner.OutcomeDied, vmrunner.OutcomeBootTimeout:
	default:
		return "", false
	}
	line := AgentStartFailure(console)
	if line == "" {
		return "", false
	}
	return "the kernel could not start the guest agent (" + line + "): a damaged agent or a kernel that cannot run it (CONFIG_BINFMT_ELF); not a kernel verdict", true
}

// cellAgentStartFailure is agentStartVerdict for a cell whose console is
// DIR/console.log: what the engine asks, once a cell's machine ended,
// before it takes the machine's outcome for the kernel's.
func cellAgentStartFailure(dir string, res *vmrunner.Result, helloSeen bool) (reason string, ok bool) {
	f, err := os.Open(filepath.Join(dir, "console.log"))
	if err != nil {
		return "", false
	}
	defer f.Close()
	return agentStartVerdict(res, helloSeen, f)
}
