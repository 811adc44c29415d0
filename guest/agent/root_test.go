package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
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

	"github.com/kvmtest/kvmtest/guest/proto"
)

// envRealRoot makes the test binary TestRealRoot's child, in a private
// mount namespace; its value is the directory to work in.
const envRealRoot = "KVMTEST_AGENT_TEST_REAL_ROOT"

// flagNames renders mount flags as mount(8) would.
func flagNames(flags uintptr) string {
	var names []string
	for _, f := range []struct {
		bit  uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"}, {unix.MS_BIND, "bind"}, {unix.MS_REMOUNT, "remount"},
	} {
		if flags&f.bit != 0 {
			names = append(names, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		names = append(names, fmt.Sprintf("%#x", flags))
	}
	if len(names) == 0 {
		return "rw"
	}
	return strings.Join(names, ",")
}

// buildProbe builds the Go program src, statically, at out.
func buildProbe(t *testing.T, src, out string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", out, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

// TestSetupRootMounts: the root is built in order, with the flags and
// data each mount needs: the share read-only (the manifest's transport
// first, the other when the machine fell back), a tmpfs, the overlay,
// the system mounts inside the root (a tmpfs /dev with the agent's
// nodes but not the event channel's when there is no devtmpfs), then
// the binds; the first failure that matters stops it.
func TestSetupRootMounts(t *testing.T) {
	const (
		share9p  = "9p tag B/lower ro,nodev trans=virtio,version=9p2000.L,msize=262144,cache=loose"
		shareVFS = "virtiofs tag B/lower ro,nodev"
		rw       = "tmpfs kvmtest-rw B/rw rw mode=0755"
		overlay  = "overlay overlay B/root rw lowerdir=B/lower,upperdir=B/rw/upper,workdir=B/rw/work"
		proc     = "proc proc B/root/proc nosuid,nodev,noexec"
		sys      = "sysfs sysfs B/root/sys nosuid,nodev,noexec"
		devtmpfs = "devtmpfs devtmpfs B/root/dev nosuid mode=0755"
		devTmpfs = "tmpfs dev B/root/dev nosuid mode=0755"
		tmp      = "tmpfs tmpfs B/root/tmp nosuid,nodev mode=1777"
		run      = "tmpfs tmpfs B/root/run nosuid,nodev mode=0755"
		pts      = "devpts devpts B/root/dev/pts nosuid,noexec mode=0620,ptmxmode=0666"
		shm      = "tmpfs shm B/root/dev/shm nosuid,nodev mode=1777"
		debugfs  = "debugfs debugfs B/root/sys/kernel/debug nosuid,nodev,noexec"
		kfs      = "tracefs tracefs B/root/sys/kernel/tracing nosuid,nodev,noexec|cgroup2 cgroup2 B/root/sys/fs/cgroup nosuid,nodev,noexec|bpf bpf B/root/sys/fs/bpf nosuid,nodev,noexec"
		bindInit = "- B/initramfs/init B/root/init bind"
		bindKvm  = "- B/initramfs/kvmtest B/root/kvmtest bind"
	)
	for _, tt := range []struct {
		name      string
		transport string
		fail      []string // fstype or target (relative to base) of mounts that fail
		prep      func(t *testing.T, base string)
		asRoot    bool // makes device nodes
		want      []string
		err       string
	}{
		{name: "virtiofs", transport: proto.TransportVirtiofs,
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs, bindInit, bindKvm}},
		{name: "9p", transport: proto.Transport9P,
			want: []string{share9p, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs, bindInit, bindKvm}},
		{name: "virtiofs fell back to 9p", transport: proto.TransportVirtiofs, fail: []string{"virtiofs"},
			want: []string{shareVFS, share9p, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs, bindInit, bindKvm}},
		{name: "no share", transport: proto.Transport9P, fail: []string{"B/lower"},
			want: []string{share9p, shareVFS}, err: `mounting share "tag" read-only on B/lower: 9p: no such device; virtiofs: no such device`},
		{name: "no overlay", transport: proto.TransportVirtiofs, fail: []string{"overlay"},
			want: []string{shareVFS, rw, overlay}, err: "mount overlay on B/root"},
		{name: "optional mounts fail", transport: proto.TransportVirtiofs, fail: []string{"devpts", "B/root/dev/shm", "debugfs"},
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs, bindInit, bindKvm}},
		{name: "no proc", transport: proto.TransportVirtiofs, fail: []string{"proc"},
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs}, err: "system mounts in the root: mount proc on B/root/proc"},
		{name: "no devtmpfs", transport: proto.TransportVirtiofs, fail: []string{"devtmpfs"}, asRoot: true,
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, devTmpfs, tmp, run, pts, shm, debugfs, kfs, bindInit, bindKvm}},
		{name: "no dev at all", transport: proto.TransportVirtiofs, fail: []string{"B/root/dev"},
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, devTmpfs, tmp, run, pts, shm, debugfs, kfs}, err: "mount devtmpfs on B/root/dev: no such device; fallback: mount tmpfs on B/root/dev"},
		{name: "links in the root are replaced", transport: proto.TransportVirtiofs,
			prep: func(t *testing.T, base string) {
				os.MkdirAll(filepath.Join(base, "root"), 0o755)
				for _, p := range []string{"init", "run"} {
					if err := os.Symlink("/etc", filepath.Join(base, "root", p)); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs, bindInit, bindKvm}},
		{name: "no initramfs", transport: proto.TransportVirtiofs,
			prep: func(t *testing.T, base string) { os.Remove(filepath.Join(base, "initramfs", "init")) },
			want: []string{shareVFS, rw, overlay, proc, sys, devtmpfs, tmp, run, pts, shm, debugfs, kfs}, err: "binding into the root: stat B/initramfs/init"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.asRoot && os.Geteuid() != 0 {
				t.Skip("mknod needs root")
			}
			base := t.TempDir()
			initramfs := filepath.Join(base, "initramfs")
			os.MkdirAll(filepath.Join(initramfs, "kvmtest"), 0o755)
			os.WriteFile(filepath.Join(initramfs, "init"), []byte("agent"), 0o755)
			if tt.prep != nil {
				tt.prep(t, base)
			}
			var calls []string
			mnt := func(src, target, fstype string, flags uintptr, data string) error {
				if fstype == "" {
					fstype = "-"
				}
				c := strings.TrimSpace(strings.Join([]string{fstype, src, target, flagNames(flags), data}, " "))
				calls = append(calls, strings.ReplaceAll(c, base, "B"))
				rel := strings.Replace(target, base, "B", 1)
				if slices.Contains(tt.fail, fstype) || slices.Contains(tt.fail, rel) {
					return unix.ENODEV
				}
				if fstype == "devtmpfs" {
					// The kernel's devtmpfs has the nodes (and PID 1
					// left the event channel's there: the root loses it).
					for _, n := range devNodes {
						os.WriteFile(filepath.Join(target, n.name), nil, 0o600)
					}
				}
				return nil
			}
			ops := rootOps{
				mount:      mnt,
				mountShare: func(r *proto.Root, target string) error { return mountShare(mnt, r, target) },
				binds:      []bind{{filepath.Join(initramfs, "init"), "/init"}, {filepath.Join(initramfs, "kvmtest"), "/kvmtest"}},
			}
			root, warnings, err := setupRoot(&proto.Root{Tag: "tag", Transport: tt.transport}, base, ops)
			want := strings.Split(strings.Join(tt.want, "|"), "|")
			if !slices.Equal(calls, want) {
				t.Errorf("mounts:\n\t%s\nwant:\n\t%s", strings.Join(calls, "\n\t"), strings.Join(want, "\n\t"))
			}
			if len(warnings) > 0 {
				t.Errorf("warnings %q", warnings)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), base, "B"), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || root != filepath.Join(base, "root") {
				t.Fatalf("setupRoot = %q, %v", root, err)
			}
			if _, err := os.Lstat(filepath.Join(root, "dev", "ttyS1")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the root's /dev has the event channel's node: %v", err)
			}
			for _, n := range devNodes {
				if fi, err := os.Lstat(filepath.Join(root, "dev", n.name)); n.name != "ttyS1" && err != nil {
					t.Errorf("the root's /dev has no %s: %v", n.name, err)
				} else if tt.asRoot && err == nil && fi.Mode()&fs.ModeCharDevice == 0 {
					t.Errorf("the root's /dev/%s is a %v", n.name, fi.Mode())
				}
			}
			for _, l := range devLinks {
				if got, err := os.Readlink(filepath.Join(root, l[0])); got != l[1] {
					t.Errorf("the root's %s links to %q (%v), want %q", l[0], got, err, l[1])
				}
			}
			for _, p := range []string{"init", "run"} {
				if fi, err := os.Lstat(filepath.Join(root, p)); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
					t.Errorf("the root's mount point /%s: %v, %v", p, fi, err)
				}
			}
		})
	}
}

// TestLookPathIn finds programs in the root's PATH, not the agent's,
// following symbolic links as a process chrooted into the root does.
func TestLookPathIn(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	for _, d := range []string{"usr/bin", "usr/sbin", "opt", "etc/alternatives"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	exe := func(p string) { os.WriteFile(filepath.Join(root, p), []byte("#!/bin/sh\n"), 0o755) }
	link := func(p, to string) { os.Symlink(to, filepath.Join(root, p)) }
	exe("usr/bin/tool")
	exe("opt/real")
	os.WriteFile(filepath.Join(root, "usr", "bin", "data"), nil, 0o644)
	os.WriteFile(filepath.Join(outside, "host-only"), []byte("#!/bin/sh\n"), 0o755)
	link("bin", "usr/bin")
	link("sbin", "usr/sbin")
	link("usr/bin/alt", "/etc/alternatives/alt") // absolute: from the root
	link("etc/alternatives/alt", "/opt/real")
	link("usr/bin/escape", "../../../../../../../.."+outside+"/host-only") // .. stops at the root
	link("usr/bin/abs-out", outside+"/host-only")
	link("usr/bin/loop", "loop")
	link("usr/bin/dangling", "/nowhere")
	link("usr/bin/dir", "/opt")
	for _, tt := range []struct{ name, want, err string }{
		{"tool", "/usr/bin/tool", ""},
		{"alt", "/usr/bin/alt", ""},
		{"/abs/prog", "/abs/prog", ""},
		{"data", "", "data not found in the root's PATH (" + rootPATH + ") in the shared root " + root},
		{"missing", "", "missing not found"},
		{"escape", "", "escape not found"},
		{"abs-out", "", "abs-out not found"},
		{"loop", "", "loop not found"},
		{"dangling", "", "dangling not found"},
		{"dir", "", "dir not found"},
	} {
		got, err := lookPathIn(root, tt.name)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("lookPathIn(%q) = %q, %v; want %q, %q", tt.name, got, err, tt.want, tt.err)
		}
	}
	if _, err := resolveIn(root, "/usr/bin/loop"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("resolving a loop: %v, want ELOOP", err)
	}
	if got, err := resolveIn(root, "/bin/../sbin/./"); got != filepath.Join(root, "usr", "sbin") || err != nil {
		t.Errorf("resolveIn(/bin/../sbin/./) = %q, %v", got, err)
	}
}

// TestSuiteRunsChrooted runs the agent (as PID 1 runs it: supervised) with
// a root: a program named without a slash is found in the root's PATH and
// runs chrooted there, in its /tmp, with the root's PATH; a missing one is
// the suite's error; a root that could not be built ends every suite.
func TestSuiteRunsChrooted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "tmp"), 0o755)
	buildProbe(t, `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	_, err := os.Stat("/usr/bin/probe")
	fmt.Println("wd", wd, "self", err == nil, "path", os.Getenv("PATH"))
	os.WriteFile("/tmp/written", []byte("x"), 0o644)
}
`, filepath.Join(root, "usr", "bin", "probe"))
	m := writeManifest(t, proto.Manifest{Root: &proto.Root{Tag: "t", Transport: proto.Transport9P}, Suites: []proto.Suite{
		{Name: "probe", Argv: []string{"probe"}, Timeout: proto.Duration(time.Minute)},
		{Name: "missing", Argv: []string{"no-such-program"}, Timeout: proto.Duration(time.Minute)},
		{Name: "absent", Argv: []string{"/no/such/program"}, Timeout: proto.Duration(time.Minute)},
	}})
	evs := runAgent(t, m, nil, "-subreaper", "-root", root, "-dir", "/tmp")
	got := map[string]string{}
	for _, ev := range evs {
		switch ev.Kind {
		case proto.KindOutput:
			got[ev.Suite] += ev.Output
		case proto.KindSuiteEnd:
			got[ev.Suite+" end"] = ev.Status + " " + ev.Message
		}
	}
	if want := "wd /tmp self true path " + rootPATH; got["probe"] != want || !strings.HasPrefix(got["probe end"], "pass") {
		t.Errorf("probe said %q (%s), want %q", got["probe"], got["probe end"], want)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp", "written")); err != nil {
		t.Errorf("the suite's write is not in the root: %v", err)
	}
	if want := "error no-such-program not found in the root's PATH (" + rootPATH + ") in the shared root " + root; got["missing end"] != want {
		t.Errorf("missing program: %q, want %q", got["missing end"], want)
	}
	if want := "error starting /no/such/program in the shared root " + root; !strings.HasPrefix(got["absent end"], want) {
		t.Errorf("absent program: %q, want %q...", got["absent end"], want)
	}
	evs = runAgent(t, m, nil, "-root-error", "the root file system could not be set up: boom")
	ends := 0
	for _, ev := range evs {
		if ev.Kind == proto.KindSuiteEnd {
			ends++
			if ev.Status != proto.StatusError || ev.Message != "the root file system could not be set up: boom" {
				t.Errorf("suite %s ended %s %q, want the root's error", ev.Suite, ev.Status, ev.Message)
			}
		}
		if ev.Kind == proto.KindOutput {
			t.Errorf("a suite ran although the root could not be built: %q", ev.Output)
		}
	}
	if ends != 3 {
		t.Errorf("%d suites ended, want 3", ends)
	}
}

// realProbe is the program TestRealRoot runs in the root: it reports
// what it sees, one line each, and writes into the root.
const realProbe = `package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Println("wd", wd)
	fmt.Println("path", os.Getenv("PATH"))
	b, err := os.ReadFile("/etc/hostfile")
	fmt.Printf("hostfile %q %v\n", b, err)
	fmt.Println("write-root", os.WriteFile("/written", []byte("x"), 0o644))
	fmt.Println("write-share-file", os.WriteFile("/etc/hostfile", []byte("changed"), 0o644))
	fmt.Println("write-tmp", os.WriteFile("/tmp/x", []byte("x"), 0o644))
	b, err = os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == "/proc" {
			fmt.Println("proc mounted")
		}
	}
	_, err = os.Stat("/sys/kernel")
	fmt.Println("sys", err)
	fi, err := os.Stat("/dev/null")
	fmt.Println("null", err == nil && fi.Mode()&os.ModeCharDevice != 0)
	_, err = os.Lstat("/dev/ttyS1")
	fmt.Println("ttyS1", os.IsNotExist(err))
	b, err = os.ReadFile("/init")
	fmt.Printf("init %q %v\n", b, err)
	b, err = os.ReadFile("/kvmtest/bin/marker")
	fmt.Printf("kvmtest %q %v\n", b, err)
	_, err = os.Stat("/run")
	fmt.Println("run", err)
}
`

// TestRealRoot builds a root for real, as root, in a private mount
// namespace (the test binary again, so the host's mount table does not
// change): a host directory bound read-only as the share, the overlay,
// the system mounts (a tmpfs /dev: the host's devtmpfs is left alone),
// the binds; a suite runs chrooted in it and sees the share's files,
// /proc, /dev, /init and /kvmtest; its writes land in the overlay, not
// in the share.
func TestRealRoot(t *testing.T) {
	if dir := os.Getenv(envRealRoot); dir != "" {
		realRootChild(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	share := filepath.Join(dir, "share")
	buildProbe(t, realProbe, filepath.Join(share, "usr", "bin", "probe"))
	for _, d := range []string{"etc", "tmp", "proc", "dev"} {
		os.MkdirAll(filepath.Join(share, d), 0o755)
	}
	os.WriteFile(filepath.Join(share, "etc", "hostfile"), []byte("from the host"), 0o644)
	os.Symlink("usr/bin", filepath.Join(share, "bin"))

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestRealRoot$", "-test.v")
	cmd.Env = append(os.Environ(), envRealRoot+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS} // and / made private
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		if strings.Contains(err.Error(), "operation not permitted") {
			t.Skipf("no private mount namespace: %v", err)
		}
		t.Fatalf("child: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(share, "etc", "hostfile")); string(b) != "from the host" {
		t.Errorf("the share's file changed: %q", b)
	}
	for _, p := range []string{"written", "tmp/x"} {
		if _, err := os.Lstat(filepath.Join(share, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the suite's write landed in the share: %s: %v", p, err)
		}
	}
	after, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("the host's mount table changed:\n%s\nnow:\n%s", before, after)
	}
}

// realRootChild is TestRealRoot in its private mount namespace.
func realRootChild(t *testing.T, dir string) {
	share, base := filepath.Join(dir, "share"), filepath.Join(dir, "base")
	initramfs := filepath.Join(dir, "initramfs")
	os.MkdirAll(filepath.Join(initramfs, "kvmtest", "bin"), 0o755)
	os.WriteFile(filepath.Join(initramfs, "init"), []byte("the agent"), 0o755)
	os.WriteFile(filepath.Join(initramfs, "kvmtest", "bin", "marker"), []byte("kvmtest"), 0o644)

	var mounted []string
	defer func() {
		for _, m := range slices.Backward(mounted) {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", m, err)
			}
		}
	}()
	mnt := func(src, target, fstype string, flags uintptr, data string) error {
		if fstype == "devtmpfs" {
			return unix.ENODEV // the host's: its nodes are not the test's to make
		}
		err := unix.Mount(src, target, fstype, flags, data)
		if err == nil && flags&unix.MS_REMOUNT == 0 {
			mounted = append(mounted, target)
		}
		return err
	}
	ops := rootOps{
		mount: mnt,
		mountShare: func(r *proto.Root, target string) error {
			if err := mnt(share, target, "", unix.MS_BIND, ""); err != nil {
				return err
			}
			return mnt("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NODEV, "")
		},
		binds: []bind{{filepath.Join(initramfs, "init"), "/init"}, {filepath.Join(initramfs, "kvmtest"), "/kvmtest"}},
	}
	root, warnings, err := setupRoot(&proto.Root{Tag: "share", Transport: proto.TransportVirtiofs}, base, ops)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("setupRoot: %v (warnings %q)", err, warnings)
	}
	c := &collector{}
	r := &runner{sink: c, dir: "/tmp", root: root}
	st := r.run(context.Background(), proto.Suite{Name: "probe", Argv: []string{"probe"}, Timeout: proto.Duration(time.Minute)})
	said := c.outputs()
	t.Logf("probe (%s):\n%s", st, strings.Join(said, "\n"))
	for _, want := range []string{
		"wd /tmp",
		"path " + rootPATH,
		`hostfile "from the host" <nil>`,
		"write-root <nil>",
		"write-share-file <nil>",
		"write-tmp <nil>",
		"proc mounted",
		"sys <nil>",
		"null true",
		"ttyS1 true",
		`init "the agent" <nil>`,
		`kvmtest "kvmtest" <nil>`,
		"run <nil>",
	} {
		if !slices.Contains(said, want) {
			t.Errorf("the probe did not say %q", want)
		}
	}
	if st != proto.StatusPass {
		t.Errorf("probe: %s", st)
	}
	if b, err := os.ReadFile(filepath.Join(base, "rw", "upper", "written")); string(b) != "x" {
		t.Errorf("the suite's write is not in the overlay's upper: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(base, "rw", "upper", "etc", "hostfile")); string(b) != "changed" {
		t.Errorf("the share's file is not copied up: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(base, "lower", "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing into the share: %v, want EROFS", err)
	}
	if st := r.run(context.Background(), proto.Suite{Name: "missing", Argv: []string{"no-such"}, Timeout: proto.Duration(time.Minute)}); st != proto.StatusError {
		t.Errorf("missing program: %s", st)
	}
}

// TestSetupSystemAt: in a suites' root the system set-up also mounts
// /run and makes every device node of the agent but the event channel's;
// for PID 1 (inRoot false) it makes them all and mounts no /run.
func TestSetupSystemAt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	for _, tt := range []struct {
		inRoot    bool
		wantTTYS1 bool
		wantRun   bool
	}{
		{inRoot: true, wantTTYS1: false, wantRun: true},
		{inRoot: false, wantTTYS1: true, wantRun: false},
	} {
		t.Run(fmt.Sprint("inRoot=", tt.inRoot), func(t *testing.T) {
			prefix := t.TempDir()
			var targets []string
			mnt := func(src, target, fstype string, flags uintptr, data string) error {
				if fstype == "devtmpfs" {
					return unix.ENODEV // a tmpfs then, filled by the agent
				}
				targets = append(targets, strings.TrimPrefix(target, prefix))
				return nil
			}
			if problems := setupSystemAt(prefix, mnt, tt.inRoot); len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			_, err := os.Lstat(filepath.Join(prefix, "dev", "ttyS1"))
			if got := err == nil; got != tt.wantTTYS1 {
				t.Errorf("/dev/ttyS1 made: %v, want %v", got, tt.wantTTYS1)
			}
			if got := slices.Contains(targets, "/run"); got != tt.wantRun {
				t.Errorf("/run mounted: %v, want %v (%q)", got, tt.wantRun, targets)
			}
		})
	}
}

// TestLoopbackUp: in a fresh network namespace (as a guest boots) lo is
// down and 127.0.0.1 unusable; after loopbackUp a listener on it accepts.
func TestLoopbackUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	type result struct{ before, setup, after error }
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the namespace goes with the thread
		var r result
		if r.setup = unix.Unshare(unix.CLONE_NEWNET); r.setup != nil {
			done <- r
			return
		}
		r.before = loopbackWorks()
		if r.setup = loopbackUp(); r.setup == nil {
			r.after = loopbackWorks()
		}
		done <- r
	}()
	r := <-done
	if r.setup != nil {
		t.Fatal(r.setup)
	}
	if r.before == nil {
		t.Error("127.0.0.1 usable before lo is up: the test proves nothing")
	}
	if r.after != nil {
		t.Errorf("after loopbackUp: %v", r.after)
	}
}

// loopbackWorks connects to a listener on 127.0.0.1.
func loopbackWorks() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

// TestWorkdirFilesInRoot: what the host put under a suite's workdir in
// the initramfs is copied into the workdir the suite gets in a shared
// root, modes and links kept.
func TestWorkdirFilesInRoot(t *testing.T) {
	initramfs, root := t.TempDir(), t.TempDir()
	wd := "/run/kvmtest/work/s"
	src := filepath.Join(initramfs, wd)
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "data"), []byte("d"), 0o640)
	os.Symlink("sub/data", filepath.Join(src, "link"))
	r := &runner{dir: "/tmp", root: root, initramfs: initramfs}
	sr, err := r.forSuite(proto.Suite{Name: "s", Workdir: wd})
	if err != nil {
		t.Fatal(err)
	}
	if sr.dir != wd {
		t.Errorf("dir %q, want %q", sr.dir, wd)
	}
	dst := filepath.Join(root, wd)
	for name, want := range map[string]os.FileMode{"run.sh": 0o755, "sub/data": 0o640, "sub": os.ModeDir | 0o755, "link": os.ModeSymlink | 0o777} {
		fi, err := os.Lstat(filepath.Join(dst, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s in the root's workdir: %v %v, want %v", name, fi.Mode(), err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "link")); string(b) != "d" {
		t.Errorf("link reads %q", b)
	}
	// A second suite with the same workdir: the files are there already.
	if _, err := r.forSuite(proto.Suite{Name: "s", Workdir: wd}); err == nil {
		t.Error("copying over existing files: no error")
	}
}
