package vmrunner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
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
// and the mounts below it refuse every write (EROFS), from the viewing
// thread and from a process it starts, and device nodes cannot be
// opened; outside the view the directory and its submount stay writable,
// and the view itself is invisible.
func TestReadOnlyView(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	devOK := false // whether the host itself lets dir's device nodes be opened
	if f, err := os.OpenFile(null, os.O_WRONLY, 0); err == nil {
		f.Close()
		devOK = true
	}
	mnt := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}

	// One locked thread: a namespace of its own where sub is a writable
	// tmpfs (the host's mounts are left alone), then the view of dir
	// (sub's tmpfs a submount in it), then back to the first namespace.
	type check struct {
		name string
		err  error
		want error // nil: must succeed
	}
	done := make(chan []check)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread and its namespaces go with the goroutine
		var cs []check
		fail := func(name string, err error) []check { return append(cs, check{name, err, nil}) }
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			done <- fail("unshare", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			done <- fail("private", err)
			return
		}
		if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
			done <- fail("tmpfs on sub", err)
			return
		}
		outer, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fail("outer namespace", err)
			return
		}
		defer unix.Close(outer)
		if err := readOnlyView(dir, mnt); err != nil {
			done <- fail("readOnlyView", err)
			return
		}
		appendTo := func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err == nil {
				_, err = f.WriteString("guest\n")
				f.Close()
			}
			return err
		}
		openDev := func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}
		b, err := os.ReadFile(filepath.Join(mnt, "f"))
		if err == nil && string(b) != "host\n" {
			err = fmt.Errorf("reads %q", b)
		}
		cs = append(cs,
			check{"read in the view", err, nil},
			check{"create", os.WriteFile(filepath.Join(mnt, "new"), nil, 0o644), syscall.EROFS},
			check{"append", appendTo(filepath.Join(mnt, "f")), syscall.EROFS},
			check{"mkdir", os.Mkdir(filepath.Join(mnt, "d"), 0o755), syscall.EROFS},
			check{"remove", os.Remove(filepath.Join(mnt, "f")), syscall.EROFS},
			check{"chmod", os.Chmod(filepath.Join(mnt, "f"), 0o777), syscall.EROFS},
			check{"create in the submount", os.WriteFile(filepath.Join(mnt, "sub", "new"), nil, 0o644), syscall.EROFS},
		)
		if devOK {
			cs = append(cs, check{"open a device node", openDev(filepath.Join(mnt, "null")), syscall.EACCES})
		}
		// A process forked by this thread is in the view too.
		out, err := exec.Command("touch", filepath.Join(mnt, "by-child")).CombinedOutput()
		if err != nil && strings.Contains(string(out), "Read-only file system") {
			err = syscall.EROFS
		}
		cs = append(cs, check{"create from a child process", err, syscall.EROFS})
		// Outside the view, the submount is writable.
		if err := unix.Setns(outer, unix.CLONE_NEWNS); err != nil {
			done <- fail("back to the outer namespace", err)
			return
		}
		cs = append(cs, check{"create in the submount outside the view", os.WriteFile(filepath.Join(sub, "outside"), nil, 0o644), nil})
		done <- cs
	}()
	for _, c := range <-done {
		switch {
		case c.want == nil && c.err != nil:
			t.Errorf("%s: %v", c.name, c.err)
		case c.want != nil && !errors.Is(c.err, c.want):
			t.Errorf("%s in the read-only view: %v, want %v", c.name, c.err, c.want)
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
	if ents, _ := os.ReadDir(sub); len(ents) != 0 {
		t.Errorf("the test's tmpfs leaked to the host: %v", ents)
	}
}

// TestStartInView: a process startInView starts sees dir, read-only, and
// is reaped.
func TestStartInView(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		argv []string // "MNT" is the view
		ok   bool
		out  string
	}{
		{[]string{"cat", "MNT/f"}, true, "shared"},
		{[]string{"touch", "MNT/new"}, false, "Read-only file system"},
		{[]string{"truncate", "-s", "0", "MNT/f"}, false, "Read-only file system"},
	} {
		mnt := filepath.Join(t.TempDir(), fmt.Sprint("ro", i))
		if err := os.Mkdir(mnt, 0o700); err != nil {
			t.Fatal(err)
		}
		var argv []string
		for _, a := range tt.argv {
			argv = append(argv, strings.ReplaceAll(a, "MNT", mnt))
		}
		var out strings.Builder
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		p, err := startInView(dir, mnt, cmd)
		if err != nil {
			t.Fatal(err)
		}
		<-p.exited
		if got := p.cmd.ProcessState.Success(); got != tt.ok || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%q: success %v, output %q; want %v, %q", argv, got, out.String(), tt.ok, tt.out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "shared\n" {
		t.Errorf("the shared file holds %q", b)
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
