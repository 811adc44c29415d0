package e2e

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/results"
)

// TestInterruptAndResume sends SIGINT to `kvmtest run` while the guest
// runs its suite: kvmtest exits 130, no QEMU process of that run remains,
// run.json says interrupted, and `--resume` finishes the cell.
func TestInterruptAndResume(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	cmd := startRun(t, bin, out)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v, want exit status 130", err)
	}
	// QEMU's command line names the cell's initramfs, under out.
	time.Sleep(200 * time.Millisecond)
	if pids, _ := exec.Command("pgrep", "-f", "qemu-system.*"+out).Output(); len(pids) > 0 {
		t.Errorf("QEMU still running after the interrupt: pids %s", pids)
		exec.Command("pkill", "-9", "-f", "qemu-system.*"+out).Run()
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := run.Cells[0]; c.Status != results.StatusInterrupted {
		t.Fatalf("cell after SIGINT: %s (%s), want interrupted", c.Status, c.Reason)
	}
	code, _ := runKvmtest(t, bin, "run", "--resume", out)
	if code != 0 {
		t.Errorf("--resume exited %d, want 0", code)
	}
	run, err = results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := run.Cells[0]; c.Status != results.StatusPassed {
		t.Errorf("cell after --resume: %s (%s), want passed", c.Status, c.Reason)
	}
}
