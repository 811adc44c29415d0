package vmrunner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces)")
	}
}

// TestReadOnlyView: in the view virtiofsd serves, the shared directory
// and the mounts below it refuse every write (EROFS), while the host
// keeps writing to it, and the view is invisible outside its thread.
func TestReadOnlyView(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(mnt, 0o700)
	type result struct{ create, write, subCreate, setup error }
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread and its namespace go with the goroutine
		var r result
		if r.setup = readOnlyView(dir, mnt); r.setup == nil {
			r.create = os.WriteFile(filepath.Join(mnt, "new"), nil, 0o644)
			f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY|os.O_APPEND, 0)
			if err == nil {
				_, err = f.WriteString("guest\n")
				f.Close()
			}
			r.write = err
			r.subCreate = os.WriteFile(filepath.Join(mnt, "sub", "new"), nil, 0o644)
		}
		done <- r
	}()
	r := <-done
	if r.setup != nil {
		t.Fatal(r.setup)
	}
	for name, err := range map[string]error{"create": r.create, "append": r.write, "create below": r.subCreate} {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s in the read-only view: %v, want EROFS", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "host\n" {
		t.Errorf("host file holds %q", b)
	}
	if err := os.WriteFile(filepath.Join(dir, "host-new"), nil, 0o644); err != nil {
		t.Errorf("the host cannot write its own directory any more: %v", err)
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Errorf("the view is visible outside its namespace: %v", ents)
	}
}

// TestVirtiofsdLifecycle starts the real virtiofsd on a directory: it
// makes its socket, and once killed no process of it is left.
func TestVirtiofsdLifecycle(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(VirtiofsdPath); err != nil {
		t.Skip("no virtiofsd")
	}
	dir, priv := t.TempDir(), t.TempDir()
	v, err := startVirtiofsd(dir, filepath.Join(priv, "fs0.ro"), filepath.Join(priv, "fs0.sock"))
	if err != nil {
		t.Fatal(err)
	}
	pid := v.cmd.Process.Pid
	if _, err := os.Stat(filepath.Join(priv, "fs0.sock")); err != nil {
		t.Errorf("no socket: %v", err)
	}
	v.kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processGroup(pid)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtiofsd processes left: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processGroup lists the live processes of process group pgid.
func processGroup(pgid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if g, err := unix.Getpgid(pid); err == nil && g == pgid {
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if !strings.Contains(string(b), ") Z ") {
				out = append(out, pid)
			}
		}
	}
	return out
}

// TestResolveShareTransport: the environment forces a transport under
// auto, an unknown one is refused.
func TestResolveShareTransport(t *testing.T) {
	if probe := probeQEMU(qemuBinary); !probe.virtio9P {
		t.Skip("QEMU without virtio-9p-pci")
	}
	t.Setenv(ShareTransportEnv, "9p")
	if tr, why, err := ResolveShareTransport("auto"); tr != "9p" || !strings.Contains(why, ShareTransportEnv) || err != nil {
		t.Errorf("forced 9p: %q %q %v", tr, why, err)
	}
	if _, _, err := ResolveShareTransport("nfs"); err == nil {
		t.Error("nfs accepted")
	}
	t.Setenv(ShareTransportEnv, "")
	if tr, _, err := ResolveShareTransport("9p"); tr != "9p" || err != nil {
		t.Errorf("9p: %q %v", tr, err)
	}
}

// TestCheckShares refuses tags QEMU cannot carry and missing directories.
func TestCheckShares(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		shares []Share
		want   string
	}{
		{[]Share{{Tag: "root", Dir: dir}}, ""},
		{[]Share{{Tag: "a,b", Dir: dir}}, "share tag"},
		{[]Share{{Tag: strings.Repeat("x", 37), Dir: dir}}, "share tag"},
		{[]Share{{Tag: "a", Dir: dir}, {Tag: "a", Dir: dir}}, "twice"},
		{[]Share{{Tag: "a", Dir: filepath.Join(dir, "none")}}, "not a directory"},
	} {
		err := checkShares(tt.shares)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkShares(%v) = %v, want %q", tt.shares, err, tt.want)
		}
	}
}
