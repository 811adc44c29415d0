package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// TestSetupRootMounts: the root is built in order, with the flags and
// data each mount needs: the share read-only (the manifest's transport
// first, the other when the machine fell back), a tmpfs, the overlay,
// then the system mounts inside the root.
func TestSetupRootMounts(t *testing.T) {
	for _, tt := range []struct {
		transport string
		fail      string // fstype whose mount fails
		want      []string
		err       string
	}{
		{transport: proto.TransportVirtiofs, want: []string{"virtiofs tag lower ro", "tmpfs rw", "overlay root"}},
		{transport: proto.TransportVirtiofs, fail: "virtiofs", want: []string{"virtiofs tag lower ro", "9p tag lower ro", "tmpfs rw", "overlay root"}},
		{transport: proto.Transport9P, want: []string{"9p tag lower ro", "tmpfs rw", "overlay root"}},
		{transport: proto.Transport9P, fail: "share", want: []string{"9p tag lower ro", "virtiofs tag lower ro"}, err: "mounting share tag"},
	} {
		t.Run(tt.transport+" "+tt.fail, func(t *testing.T) {
			base := t.TempDir()
			var calls []string
			var system []string
			mountFunc = func(src, target, fstype string, flags uintptr, data string) error {
				rel, _ := filepath.Rel(base, target)
				switch {
				case strings.HasPrefix(rel, "root/"):
					system = append(system, strings.TrimPrefix(rel, "root"))
					return nil
				case fstype == "overlay":
					if data != fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/rw/upper,workdir=%s/rw/work", base, base, base) {
						t.Errorf("overlay data %q", data)
					}
				}
				c := fstype
				if fstype == "virtiofs" || fstype == "9p" {
					c += " " + src
				}
				c += " " + rel
				if flags&unix.MS_RDONLY != 0 {
					c += " ro"
				}
				calls = append(calls, c)
				if fstype == tt.fail || (tt.fail == "share" && (fstype == "9p" || fstype == "virtiofs")) {
					return unix.ENODEV
				}
				return nil
			}
			defer func() { mountFunc = unix.Mount }()
			root, err := setupRoot(&proto.Root{Tag: "tag", Transport: tt.transport}, base)
			if strings.Join(calls, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("mounts %q, want %q", calls, tt.want)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || root != filepath.Join(base, "root") {
				t.Fatalf("setupRoot = %q, %v", root, err)
			}
			if want := "/proc /sys /dev /dev/pts /dev/shm /tmp /run /sys/kernel/debug /sys/kernel/tracing /sys/fs/cgroup /sys/fs/bpf"; strings.Join(system, " ") != want {
				t.Errorf("system mounts %q, want %s", system, want)
			}
		})
	}
}

// TestLookPathIn finds programs in the root's PATH, not the agent's.
func TestLookPathIn(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr", "bin", "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(root, "usr", "bin", "data"), nil, 0o644)
	for _, tt := range []struct{ name, want, err string }{
		{"tool", "/usr/bin/tool", ""},
		{"/abs/prog", "/abs/prog", ""},
		{"data", "", "not found in the root's PATH"},
		{"missing", "", "missing not found"},
	} {
		got, err := lookPathIn(root, tt.name)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("lookPathIn(%q) = %q, %v; want %q, %q", tt.name, got, err, tt.want, tt.err)
		}
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
	for _, d := range []string{"usr/bin", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main

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
`), 0o644)
	build := exec.Command("go", "build", "-o", filepath.Join(root, "usr", "bin", "probe"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	m := writeManifest(t, proto.Manifest{Root: &proto.Root{Tag: "t", Transport: proto.Transport9P}, Suites: []proto.Suite{
		{Name: "probe", Argv: []string{"probe"}, Timeout: proto.Duration(time.Minute)},
		{Name: "missing", Argv: []string{"no-such-program"}, Timeout: proto.Duration(time.Minute)},
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
	if !strings.Contains(got["missing end"], "no-such-program not found in the root's PATH") {
		t.Errorf("missing program: %q", got["missing end"])
	}
	evs = runAgent(t, m, nil, "-root-error", "the root file system could not be set up: boom")
	for _, ev := range evs {
		if ev.Kind == proto.KindSuiteEnd && (ev.Status != proto.StatusError || !strings.Contains(ev.Message, "boom")) {
			t.Errorf("suite %s ended %s %q, want the root's error", ev.Suite, ev.Status, ev.Message)
		}
		if ev.Kind == proto.KindOutput {
			t.Errorf("a suite ran although the root could not be built: %q", ev.Output)
		}
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
