package vmrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
	probe := fmt.Sprintf("kvmtest-probe-%d", os.Getpid())
	for i, tt := range []struct {
		shared string   // "": dir
		argv   []string // "MNT" is the view
		ok     bool
		out    string
	}{
		{"", []string{"cat", "MNT/f"}, true, "shared"},
		{"", []string{"touch", "MNT/new"}, false, "Read-only file system"},
		{"", []string{"truncate", "-s", "0", "MNT/f"}, false, "Read-only file system"},
		// The host's root, its submounts (/dev/shm, a tmpfs) included.
		{"/", []string{"cat", "MNT/proc/self/mountinfo"}, true, " / "},
		{"/", []string{"touch", "MNT/tmp/" + probe}, false, "Read-only file system"},
		{"/", []string{"touch", "MNT/dev/shm/" + probe}, false, "Read-only file system"},
	} {
		shared := dir
		if tt.shared != "" {
			shared = tt.shared
		}
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
		p, err := startInView(shared, mnt, cmd)
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
	for _, p := range []string{"/tmp/" + probe, "/dev/shm/" + probe} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("a write in the view of / reached %s", p)
		}
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
	if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := startVirtiofsd(dir, filepath.Join(priv, "fs0.ro"), filepath.Join(priv, "fs0.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.kill()
	pid := v.cmd.Process.Pid
	if _, err := os.Stat(filepath.Join(priv, "fs0.sock")); err != nil {
		t.Errorf("no socket: %v", err)
	}
	group := processGroup(pid)
	v.kill()
	if left := waitGone(group, 5*time.Second); len(left) > 0 {
		t.Fatalf("virtiofsd processes left: %v", left)
	}
}

// checkServesReadOnly: among the processes of virtiofsd's group, the one
// that serves (virtiofsd sandboxes itself once QEMU connects: its root is
// then the share) cannot write to its root.
func checkServesReadOnly(t *testing.T, v *virtiofsd, marker string) []int {
	t.Helper()
	var group []int
	deadline := time.Now().Add(5 * time.Second)
	for {
		group = processGroup(v.cmd.Process.Pid)
		for _, p := range group {
			root := fmt.Sprintf("/proc/%d/root", p)
			if _, err := os.Stat(filepath.Join(root, marker)); err != nil {
				continue // not in the sandbox
			}
			if err := os.WriteFile(filepath.Join(root, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
				t.Errorf("virtiofsd %d writes its share: %v, want EROFS", p, err)
			}
			return group
		}
		if time.Now().After(deadline) {
			t.Errorf("no process of virtiofsd's group %v has the share as its root", group)
			return group
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits up to d until none of pids is a live process (a zombie
// counts as gone only once reaped: it still holds its pid) and returns
// those left.
func waitGone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, p := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesNaming lists the live processes whose command line contains s.
func processesNaming(s string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(b), s) {
			out = append(out, pid)
		}
	}
	return out
}

// TestStartShares: under auto, a virtiofsd that fails or never makes its
// socket gives way to 9p, said once through Logf and in the reason; asked
// for virtiofs, the same is an error naming virtiofsd's output; nothing
// of a failed virtiofsd is left running.
func TestStartShares(t *testing.T) {
	requireRoot(t)
	if c := probeQEMU(qemuBinary); !c.vhostUserFS || !c.virtio9P {
		t.Skip("QEMU without vhost-user-fs-pci or virtio-9p-pci")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	defer func(p string, w time.Duration) { VirtiofsdPath, virtiofsdWait = p, w }(VirtiofsdPath, virtiofsdWait)
	VirtiofsdPath, virtiofsdWait = self, 500*time.Millisecond
	share := []Share{{Tag: "root", Dir: t.TempDir()}}
	for _, tt := range []struct {
		fake, want, env string
		tr, reason      string // "" tr: an error containing reason
	}{
		{"exit", "", "", "9p", "FALLING BACK to 9p: virtiofsd for"},
		{"hang", "auto", "", "9p", "made no socket within"},
		{"exit", "virtiofs", "", "", "fake virtiofsd: cannot serve"},
		{"hang", "virtiofs", "", "", "fake virtiofsd: hanging"},
		{"exit", "auto", "virtiofs", "", "fake virtiofsd: cannot serve"},
		{"exit", "auto", "9p", "9p", ShareTransportEnv + "=9p"},
	} {
		t.Run(tt.fake+"/"+tt.want+"/"+tt.env, func(t *testing.T) {
			t.Setenv(fakeVirtiofsdEnv, tt.fake)
			t.Setenv(ShareTransportEnv, tt.env)
			in := &instance{dir: t.TempDir()}
			var logs []string
			spec := Spec{QEMU: qemuBinary, Shares: share, ShareTransport: tt.want,
				Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
			err := in.startShares(&spec)
			in.stopShares()
			if tt.tr == "" {
				if err == nil || !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("err %v, want one containing %q", err, tt.reason)
				}
			} else {
				if err != nil || in.shareTransport != tt.tr || spec.shareTransport != tt.tr || !strings.Contains(in.shareReason, tt.reason) {
					t.Errorf("got %q (%q) %v, want %q (%q)", in.shareTransport, in.shareReason, err, tt.tr, tt.reason)
				}
				if len(logs) != 1 || !strings.Contains(logs[0], tt.reason) {
					t.Errorf("told %q, want once %q", logs, tt.reason)
				}
			}
			if left := processesNaming(in.dir); len(left) > 0 {
				t.Errorf("processes left: %v", left)
			}
		})
	}
}

// TestQEMUAcceptsShares: the real QEMU starts (paused) with the shares'
// devices of each transport, virtiofs with a real virtiofsd (QEMU talks
// vhost-user to it while it starts), and shows the device with its tag.
func TestQEMUAcceptsShares(t *testing.T) {
	requireRoot(t)
	if c := probeQEMU(qemuBinary); !c.vhostUserFS || !c.virtio9P {
		t.Skip("QEMU without vhost-user-fs-pci or virtio-9p-pci")
	}
	if _, err := os.Stat(VirtiofsdPath); err != nil {
		t.Skip("no virtiofsd")
	}
	for _, tr := range []string{"virtiofs", "9p"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			shared := filepath.Join(t.TempDir(), "a,b") // a comma QEMU must not split at
			if err := os.Mkdir(shared, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(shared, "marker"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			in := &instance{dir: dir}
			defer in.stopShares()
			spec := Spec{QEMU: qemuBinary, MemoryMiB: 128, Shares: []Share{{Tag: "kvmtest-root", Dir: shared}}, ShareTransport: tr}
			if err := in.startShares(&spec); err != nil {
				t.Fatal(err)
			}
			var mem Device = Memory{MiB: spec.MemoryMiB}
			if tr == "virtiofs" {
				mem = SharedMemory{MiB: spec.MemoryMiB}
			}
			qmpPath := filepath.Join(dir, qmpSock)
			devs := append([]Device{MachineType{Name: "pc"}, Accelerator{Name: AccelTCG}, mem, Bare{}, Paused{}, QMPSocket{Path: qmpPath}},
				shareDevices(spec.Shares, spec.shareTransport, dir)...)
			argv := machineArgv(qemuBinary, devs)
			var stderr strings.Builder
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			q, err := dialQMP(ctx, qmpPath, exited)
			if err != nil {
				t.Fatalf("%v; QEMU said: %s (argv %q)", err, stderr.String(), argv)
			}
			defer q.close()
			qtree, err := q.hmp(ctx, "info qtree")
			if err != nil {
				t.Fatal(err)
			}
			dev := map[string]string{"virtiofs": "vhost-user-fs-pci", "9p": "virtio-9p-pci"}[tr]
			if !strings.Contains(qtree, dev) || !strings.Contains(qtree, "kvmtest-root") {
				t.Errorf("QEMU's device tree has no %s tagged kvmtest-root:\n%s", dev, qtree)
			}
			if tr == "9p" {
				return
			}
			v := in.fsds[0]
			group := checkServesReadOnly(t, v, "marker")
			if _, err := os.Stat(filepath.Join(shared, "new")); err == nil {
				t.Error("a write reached the share")
			}
			// virtiofsd serves one VM: once QEMU is gone, it ends by itself.
			// (QEMU is killed rather than asked to quit: go-qemu hands out
			// replies in its reader's buffer, which the next reply overwrites.)
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			select {
			case <-v.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("virtiofsd still runs 10s after QEMU ended: %s", v.stderr.String())
			}
			if left := waitGone(group, 5*time.Second); len(left) > 0 {
				t.Errorf("virtiofsd processes left: %v", left)
			}
		})
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

// manyShares returns n shares of dir.
func manyShares(n int, dir string) []Share {
	var s []Share
	for i := range n {
		s = append(s, Share{Tag: fmt.Sprint("t", i), Dir: dir})
	}
	return s
}

// TestShareSocketsFit: the socket of the last share a machine may have
// fits in the private directory's slack, as the runner's own do.
func TestShareSocketsFit(t *testing.T) {
	longest := max(len(conSock), len(evSock), len(qmpSock))
	if n := len(fmt.Sprintf("fs%d.sock", MaxShares-1)); n > longest {
		t.Errorf("fs%d.sock is %d bytes, the slack has room for %d", MaxShares-1, n, longest)
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
		{manyShares(MaxShares, dir), ""},
		{manyShares(MaxShares+1, dir), "at most"},
	} {
		err := checkShares(tt.shares)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkShares(%v) = %v, want %q", tt.shares, err, tt.want)
		}
	}
}

// TestRunStopsVirtiofsd: whichever way Run returns (the VM done, QEMU
// failing at start, a timeout), the real virtiofsd it started for a share
// is gone, and the Result says how the share went.
func TestRunStopsVirtiofsd(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(VirtiofsdPath); err != nil {
		t.Skip("no virtiofsd")
	}
	for _, tt := range []struct {
		mode  string
		infra bool
	}{
		{"bad-event", false},
		{"exit-at-start", true},
		{"hello-hang", false},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			spec := fakeSpec(t, tt.mode)
			spec.TempDir = t.TempDir()
			spec.RunTimeout, spec.Unscaled = 300*time.Millisecond, true
			spec.Shares, spec.ShareTransport = []Share{{Tag: "root", Dir: t.TempDir()}}, "virtiofs"
			started := false
			spec.OnState = func(string) {
				// The machine runs: its virtiofsd must too.
				started = started || len(processesNaming("--socket-path="+spec.TempDir)) > 0
			}
			res, err := Run(context.Background(), spec)
			var ie *InfraError
			if errors.As(err, &ie) != tt.infra {
				t.Fatalf("Run: %v", err)
			}
			if !tt.infra {
				if res.ShareTransport != "virtiofs" || !slices.Contains(res.Argv, "vhost-user-fs-pci,chardev=fs0,tag=root") {
					t.Errorf("ShareTransport %q, argv %q", res.ShareTransport, res.Argv)
				}
				if !started {
					t.Error("no virtiofsd ran alongside QEMU")
				}
			}
			if left := processesNaming(spec.TempDir); len(left) > 0 {
				t.Errorf("processes left after Run: %v", left)
			}
		})
	}
}
