package builder

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// fakeTemp makes a scratch directory under parent with the given owner
// record ("" for none) and modification time age ago.
func fakeTemp(t *testing.T, parent, name, owner string, age time.Duration) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if owner != "" {
		if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-age)
	os.Chtimes(d, old, old)
	return d
}

func TestRemoveStaleTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mine, err := c.NewTempDir("vm-", 0)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(mine) != c.RunDir() || !strings.HasPrefix(filepath.Base(mine), fmt.Sprintf("vm-%d-", os.Getpid())) {
		t.Fatalf("NewTempDir = %s, want RunDir/vm-PID-*", mine)
	}
	if fi, err := os.Stat(mine); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("scratch dir %s: %v %v, want mode 0700", mine, fi, err)
	}
	myStart, err := procStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dead := deadPid(t)
	run := c.RunDir()
	fakeTemp(t, run, "vm-dead", fmt.Sprintf("%d 0\n", dead), 0)
	fakeTemp(t, run, "vm-reused", fmt.Sprintf("%d %d\n", os.Getpid(), myStart+1), 0) // our pid, another start: reused
	fakeTemp(t, run, "vm-orphan-old", "", 2*orphanAge)
	fakeTemp(t, run, "vm-orphan-new", "", 0)
	fakeTemp(t, run, "vm-garbled", "not a record", time.Hour)
	fakeTemp(t, tmp, "kvmtest-boot-dead", fmt.Sprintf("%d 0\n", dead), 0)
	fakeTemp(t, tmp, "kvmtest-boot-legacy", "", time.Hour) // not recorded: not ours to remove
	fakeTemp(t, tmp, "other-dead", fmt.Sprintf("%d 0\n", dead), 0)

	got := c.RemoveStaleTemp()
	sort.Strings(got)
	want := []string{filepath.Join(tmp, "kvmtest-boot-dead"), "run/vm-dead", "run/vm-orphan-old", "run/vm-reused"}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("removed %q, want %q", got, want)
	}
	for _, keep := range []string{mine, filepath.Join(run, "vm-orphan-new"), filepath.Join(run, "vm-garbled"),
		filepath.Join(tmp, "kvmtest-boot-legacy"), filepath.Join(tmp, "other-dead")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
}

func TestOpenCacheAndGCRemoveStaleTemp(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	root := t.TempDir()
	dead := deadPid(t)
	a := fakeTemp(t, filepath.Join(root, runSub), "boot-a", fmt.Sprintf("%d 0\n", dead), 0)
	c, err := OpenCache(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); err == nil {
		t.Fatalf("OpenCache kept %s, whose owner is gone", a)
	}
	b := fakeTemp(t, c.RunDir(), "boot-b", fmt.Sprintf("%d 0\n", dead), 0)
	removed, err := c.GC(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); err == nil || !contains(removed, "run/boot-b") {
		t.Fatalf("GC kept %s (removed %q)", b, removed)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestNewTempDirShortPath(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	c, err := OpenCache(long)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.NewTempDir("vm-", MaxSocketDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) > MaxSocketDir {
		t.Errorf("%s: %d bytes, over %d", d, len(d), MaxSocketDir)
	}
	if filepath.Dir(d) != tmp || !strings.HasPrefix(filepath.Base(d), "kvmtest-vm-") {
		t.Errorf("a cache path too long for sockets gave %s, want TMPDIR/kvmtest-vm-*", d)
	}
	if staleTemp(d, false) {
		t.Errorf("%s, ours, is taken for stale", d)
	}
	// Within the bound, the cache is used.
	short, _ := OpenCache(t.TempDir())
	if d, err := short.NewTempDir("vm-", MaxSocketDir); err != nil || filepath.Dir(d) != short.RunDir() {
		t.Errorf("short cache: %s, %v; want it under %s", d, err, short.RunDir())
	}
}

func TestProcStartSelf(t *testing.T) {
	s, err := procStart(os.Getpid())
	if err != nil || s == 0 {
		t.Fatalf("procStart(self) = %d, %v", s, err)
	}
	if alive(deadPid(t), 0) {
		t.Error("a process that exited is alive")
	}
	if !alive(os.Getpid(), s) || alive(os.Getpid(), s+1) {
		t.Error("alive does not tell this process from a reused pid")
	}
}
