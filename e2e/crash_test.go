package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

const provokeProgram = `package main

import (
	"fmt"
	"os"
)

// provoke writes a crash type to LKDTM's trigger file.
func main() {
	err := os.WriteFile("/sys/kernel/debug/provoke-crash/DIRECT", []byte(os.Args[1]), 0)
	fmt.Println("provoked", os.Args[1], "error:", err)
}
`

// TestCrashDetection provokes real crashes with the kernel's LKDTM (a
// 6.12 kernel with CONFIG_LKDTM, e2e/testdata/crash.yaml) and checks the
// verdict and the class of each: a panic, a BUG and a NULL dereference
// end the VM as crashed (exit 1) at once; a WARNING is recorded while the
// kernel goes on and the program finishes.
func TestCrashDetection(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, provokeProgram)
	matrix := filepath.Join(repoRoot(t), "e2e", "testdata", "crash.yaml")
	cases := []struct {
		kind, verdict, finding string
		code                   int
	}{
		{"PANIC", "kvmtest: crashed", "kvmtest: console: kernel panic: dumptest (panic)", 1},
		{"BUG", "kvmtest: crashed", "kvmtest: console: kernel BUG in lkdtm_BUG (bug)", 1},
		{"EXCEPTION", "kvmtest: crashed", "kvmtest: console: BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION (oops)", 1},
		{"WARNING", "kvmtest: done", "kvmtest: console: WARNING in lkdtm_WARNING (warning)", 0},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			code, out := runKvmtest(t, bin, "boot", "--matrix", matrix, "--cell", "6.12-base-lkdtm", "--", prog, c.kind)
			if code != c.code || !strings.Contains(out, c.verdict) || !strings.Contains(out, c.finding) {
				t.Errorf("%s: exit %d, want %d with %q and %q", c.kind, code, c.code, c.verdict, c.finding)
			}
		})
	}
}

// TestKernelHang: LKDTM's LOOP spins in the kernel with interrupts on, on
// the only CPU of a non-preemptible kernel, so nothing in the guest runs
// again. The host's deadline ends it: the cell is timed out, and QEMU's
// view of the machine (registers) is taken over QMP before QEMU is stopped.
func TestKernelHang(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, provokeProgram)
	matrix := filepath.Join(repoRoot(t), "e2e", "testdata", "crash.yaml")
	code, out := runKvmtest(t, bin, "boot", "--matrix", matrix, "--cell", "6.12-base-lkdtm", "--timeout", "5s", "--", prog, "LOOP")
	if code != 1 || !strings.Contains(out, "kvmtest: timeout (the guest did not finish within the run timeout") ||
		!strings.Contains(out, "(qemu) info registers") || !strings.Contains(out, "RIP=") {
		t.Errorf("LOOP: exit %d, want 1 with a timeout verdict and QMP register diagnostics", code)
	}
}
