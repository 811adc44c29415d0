package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

// cpioModes reads a newc archive and returns each entry's st_mode.
func cpioModes(t *testing.T, path string) map[string]uint32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	field := func(off, i int) int {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("bad header at %d: %v", off, err)
		}
		return int(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	modes := map[string]uint32{}
	for off := 0; off+110 <= len(b); {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc magic at %d", off)
		}
		mode, size, nameSize := field(off, 1), field(off, 6), field(off, 11)
		name := string(b[off+110 : off+110+nameSize-1])
		if name == "TRAILER!!!" {
			break
		}
		modes[name] = uint32(mode)
		off = align(align(off+110+nameSize) + size)
	}
	return modes
}

// TestInitramfsKeepsHostModes: files: copies keep the host file's
// permission bits (a 0640 file is not made world-readable, an executable
// stays executable, the suite's program is executable), and the written
// initramfs is its owner's only.
func TestInitramfsKeepsHostModes(t *testing.T) {
	src := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode) // past the umask
		return p
	}
	shadow, tool, script, private := write("shadow", 0o640), write("tool", 0o755), write("run.sh", 0o644), write("key", 0o600)
	agent, t2j := write("agent", 0o755), write("test2json", 0o755)
	s := &matrices.Suite{Name: "s", Command: []string{"/kvmtest/bin/run.sh"}, Files: []matrices.File{
		{Src: shadow, Dst: "/etc/shadow"},
		{Src: tool, Dst: "/usr/bin/tool"},
		{Src: script, Dst: "/kvmtest/bin/run.sh"},
		{Src: private, Dst: "/root/key"},
	}}
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	os.WriteFile(out, []byte("an older, world-readable one"), 0o644)
	os.Chmod(out, 0o644)
	g := &guestSet{Agent: agent, Test2JSON: t2j, Suites: map[string]string{}}
	if _, err := writeInitramfs(out, g, nil, []*matrices.Suite{s}, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	modes := cpioModes(t, out)
	for name, want := range map[string]uint32{
		"etc/shadow":         0o100640,
		"usr/bin/tool":       0o100755,
		"kvmtest/bin/run.sh": 0o100744, // the program: executable by its owner
		"root/key":           0o100600,
		"init":               0o100755,
		"etc/passwd":         0o100644, // every initramfs has users, groups and localhost
		"etc/group":          0o100644,
		"etc/hosts":          0o100644,
	} {
		if got, ok := modes[name]; !ok || got != want {
			t.Errorf("%s: mode %o (present %v), want %o", name, got, ok, want)
		}
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != initramfsMode {
		t.Errorf("initramfs.cpio is %o, want %o", got, initramfsMode)
	}
}

// TestInitramfsCarriesModules: the kernel's module tree is in the
// initramfs at /lib/modules/RELEASE (its links left out), /sbin/modprobe
// is the agent, and busybox's own modprobe is not linked.
func TestInitramfsCarriesModules(t *testing.T) {
	src := t.TempDir()
	agent, t2j := filepath.Join(src, "agent"), filepath.Join(src, "test2json")
	for _, p := range []string{agent, t2j} {
		os.WriteFile(p, []byte("x"), 0o755)
	}
	mods := filepath.Join(src, "modules", "6.12.118")
	os.MkdirAll(filepath.Join(mods, "kernel", "drivers", "misc", "lkdtm"), 0o755)
	os.WriteFile(filepath.Join(mods, "modules.dep"), []byte("kernel/drivers/misc/lkdtm/lkdtm.ko:\n"), 0o644)
	os.WriteFile(filepath.Join(mods, "kernel", "drivers", "misc", "lkdtm", "lkdtm.ko"), []byte("\x7fELF"), 0o644)
	os.Symlink("/usr/src/linux", filepath.Join(mods, "build"))
	cg := &cellGuest{Modules: mods}
	if bb, err := StaticBusybox(""); err == nil {
		cg.Busybox = bb
	}
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	g := &guestSet{Agent: agent, Test2JSON: t2j, Suites: map[string]string{}}
	if _, err := writeInitramfs(out, g, cg, nil, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	modes := cpioModes(t, out)
	for name, want := range map[string]uint32{
		"lib/modules/6.12.118/modules.dep":                        0o100644,
		"lib/modules/6.12.118/kernel/drivers/misc/lkdtm/lkdtm.ko": 0o100644,
		"sbin/modprobe": 0o120777,
	} {
		if got, ok := modes[name]; !ok || got != want {
			t.Errorf("%s: mode %o (present %v), want %o", name, got, ok, want)
		}
	}
	if _, ok := modes["lib/modules/6.12.118/build"]; ok {
		t.Error("the build link is in the initramfs")
	}
	if cg.Busybox != "" {
		if _, ok := modes["bin/sh"]; !ok {
			t.Error("no /bin/sh from busybox")
		}
		if _, ok := modes["bin/modprobe"]; ok {
			t.Error("busybox's modprobe is linked: it would come first in PATH")
		}
	}
}

// TestInitramfsCopiesDirectories: a files: entry whose src is a
// directory is copied whole, its files, subdirectories and links.
func TestInitramfsCopiesDirectories(t *testing.T) {
	src := t.TempDir()
	agent, t2j := filepath.Join(src, "agent"), filepath.Join(src, "test2json")
	for _, p := range []string{agent, t2j} {
		os.WriteFile(p, []byte("x"), 0o755)
	}
	tree := filepath.Join(src, "tree")
	os.MkdirAll(filepath.Join(tree, "lib", "empty"), 0o750)
	os.WriteFile(filepath.Join(tree, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(tree, "lib", "data"), []byte("d"), 0o640)
	os.Symlink("lib/data", filepath.Join(tree, "link"))
	s := &matrices.Suite{Name: "s", Command: []string{"/opt/t/run.sh"}, Files: []matrices.File{{Src: tree, Dst: "/opt/t"}}}
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	g := &guestSet{Agent: agent, Test2JSON: t2j, Suites: map[string]string{}}
	if _, err := writeInitramfs(out, g, nil, []*matrices.Suite{s}, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	modes := cpioModes(t, out)
	for name, want := range map[string]uint32{
		"opt/t/run.sh":    0o100755,
		"opt/t/lib/data":  0o100640,
		"opt/t/lib/empty": 0o040750,
		"opt/t/link":      0o120777,
	} {
		if got, ok := modes[name]; !ok || got != want {
			t.Errorf("%s: mode %o (present %v), want %o", name, got, ok, want)
		}
	}
}
