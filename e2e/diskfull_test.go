package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// TestDiskFull runs the `quick` matrix's real cell with --out on a small
// tmpfs that is filled as the VM boots, so that its console.log and
// events.jsonl cannot be written: the run must not say the cell passed,
// must exit 3 (infrastructure), name the file it could not write, and
// list it in run.json's incomplete files when run.json could be written.
func TestDiskFull(t *testing.T) {
	requireE2E(t)
	mnt := smallTmpfs(t, "128m")
	bin := kvmtestBinary(t)
	out := filepath.Join(mnt, "results")
	cmd := exec.Command(bin, "run", "quick", "--out", out)
	cmd.Dir = t.TempDir()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	filled := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		errOut.WriteString(sc.Text() + "\n")
		// The cell's files are open once it boots: fill the disk then.
		if !filled && regexp.MustCompile(`^\S+ 6\.12-base-minimal\s+boot\s`).MatchString(sc.Text()) {
			fillDisk(t, filepath.Join(mnt, "filler"))
			filled = true
		}
	}
	err = cmd.Wait()
	output := errOut.String() + stdout.String()
	t.Logf("kvmtest run quick --out %s:\n%s", out, output)
	if !filled {
		t.Fatal("the run never reached the boot")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit %v, want status 3 (infrastructure)", err)
	}
	if !regexp.MustCompile(`cells/6\.12-base-minimal/(console\.log|events\.jsonl)\S* could not be written whole`).MatchString(output) ||
		!strings.Contains(output, "no space left on device") {
		t.Error("the output does not name the file that could not be written, with ENOSPC")
	}
	if m := regexp.MustCompile(`(?m)^.*6\.12-base-minimal\s+passed.*$`).FindString(output); m != "" {
		t.Errorf("the run says the cell passed: %q", m)
	}
	// The initramfs of the cell goes once it ended, so run.json usually
	// fits again; when it does not, the run must have said so.
	run, err := results.Read(out)
	if err != nil {
		if !strings.Contains(output, filepath.Join(out, "run.json")) {
			t.Errorf("run.json unreadable (%v) and the output does not name it", err)
		}
		return
	}
	c := run.Cells[0]
	if c.Status == results.StatusPassed || len(c.Incomplete) == 0 {
		t.Errorf("run.json: cell %s, incomplete %v; want not passed, the lost files listed", c.Status, c.Incomplete)
	}
	for _, f := range c.Incomplete {
		if !strings.HasPrefix(f, "cells/6.12-base-minimal/") {
			t.Errorf("incomplete file %q is not one of the cell's", f)
		}
	}
}

// smallTmpfs mounts a tmpfs of the given size on a new directory,
// unmounted when the test ends; the test is skipped when it cannot be
// mounted (not root).
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	mnt := t.TempDir()
	if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, b)
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			if b, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", mnt, err, b)
			}
		})
	})
	return mnt
}

// fillDisk writes path until its file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}
