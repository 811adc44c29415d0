package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCrashDetectionArch provokes real crashes with LKDTM on the virt
// machines: crash.yaml's kernel cross-built for arm64 and riscv64
// (e2e/testdata/crash-arch.yaml), booted under qemu-system-aarch64 and
// qemu-system-riscv64, the provoking program built for each GOARCH. Each
// crash ends the VM as crashed with the one console finding the triage
// rules give that architecture's report (arm64's "Internal error: Oops",
// riscv's "Oops [#1]", their call traces: both unwinders are reliable, so
// a panic and a stall are titled from the trace, where x86's guessing
// unwinder gives none), and the kernel tells QEMU it panicked through
// pvpanic on the virt machine's PCI bus; a WARNING is recorded while the
// program goes on. The hard lockup boots two vCPUs and locks up CPU 1 for
// the buddy detector to see from CPU 0; neither machine can interrupt the
// locked CPU (no NMI under TCG), so its stack is never printed and the
// title has no function. These are triage/testdata/real-ARCH-lkdtm-*.log.
func TestCrashDetectionArch(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	matrix := filepath.Join(repoRoot(t), "e2e", "testdata", "crash-arch.yaml")
	smp := smpMatrix(t, matrix)
	const pvpanic = "; pvpanic: QEMU saw GUEST_PANICKED)"
	nullDeref := map[string]string{
		"arm64": "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION",
		// arch/riscv/mm/fault.c: a kernel access below TASK_SIZE
		// without SR_SUM is reported as a user access, even at 0.
		"riscv64": "BUG: unable to handle kernel access to user memory in lkdtm_EXCEPTION",
	}
	cases := []struct {
		kind    string
		sysctls []string
		title   string // "": the architecture's nullDeref
		class   string
		code    int
	}{
		{"PANIC", nil, "kernel panic: dumptest in lkdtm_do_action", "panic", 1},
		{"BUG", nil, "kernel BUG in lkdtm_BUG", "bug", 1},
		{"EXCEPTION", nil, "", "oops", 1},
		{"WARNING", nil, "WARNING in lkdtm_WARNING", "warning", 0},
		{"SOFTLOCKUP", []string{"kernel/watchdog_thresh=2"}, "BUG: soft lockup in direct_entry", "soft-lockup", 1},
		{"HUNG_TASK", nil, "INFO: task hung in lkdtm_HUNG_TASK", "hung-task", 1},
		{"HARDLOCKUP", []string{"kernel/watchdog_thresh=2", "--cpu=1"}, "BUG: hard lockup", "hard-lockup", 1},
	}
	loaded := regexp.MustCompile(`modprobe lkdtm: insmod /lib/modules/6\.12\.[0-9]+/kernel/drivers/misc/lkdtm/lkdtm\.ko\s+\(error: <nil>\)`)
	for _, a := range []string{"arm64", "riscv64"} {
		prog := buildGuestProgramFor(t, provokeProgram, a)
		for _, c := range cases {
			t.Run(a+"/"+c.kind, func(t *testing.T) {
				m := matrix
				if c.kind == "HARDLOCKUP" {
					m = smp
				}
				title := c.title
				if title == "" {
					title = nullDeref[a]
				}
				verdict := "kvmtest: crashed (kernel crashed: " + title + pvpanic
				if c.code == 0 {
					verdict = "kvmtest: done (the agent finished and the VM stopped)"
				}
				args := append([]string{"boot", "--matrix", m, "--cell", "6.12-base-lkdtm", "--arch", a, "--", prog, c.kind}, c.sysctls...)
				code, out := runKvmtest(t, bin, args...)
				if c.code == 0 && !loaded.MatchString(out) {
					t.Errorf("no line of the guest's modprobe loading lkdtm from the artifact's modules")
				}
				finding := "kvmtest: console: " + title + " (" + c.class + ")"
				findings := regexp.MustCompile(`(?m)^kvmtest: console: .*$`).FindAllString(out, -1)
				if code != c.code || !strings.Contains(out, verdict) || len(findings) != 1 || findings[0] != finding {
					t.Errorf("exit %d, findings %q; want exit %d with %q and the one finding %q", code, findings, c.code, verdict, finding)
				}
				if c.code == 0 && strings.Contains(out, "GUEST_PANICKED") {
					t.Errorf("a kernel that did not panic reported a panic")
				}
			})
		}
	}
}
