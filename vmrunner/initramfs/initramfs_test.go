package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sample returns an archive with every kind of entry, added out of order.
func sample(t *testing.T) *Archive {
	t.Helper()
	host := filepath.Join(t.TempDir(), "host.bin")
	if err := os.WriteFile(host, []byte("from the host\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	var a Archive
	a.AddFile("/kvmtest/manifest.json", 0o644, []byte(`{"cell":"x"}`))
	a.AddFile("/init", 0o755, []byte("#!/bin/agent\n"))
	if err := a.AddHostFile("/kvmtest/bin/host.bin", host, 0); err != nil {
		t.Fatal(err)
	}
	a.AddDir("/tmp", 0o1777)
	a.AddSymlink("/bin/sh", "../kvmtest/bin/host.bin")
	a.AddFile("odd-sized", 0o600, []byte("12345"))
	a.AddFile("/empty", 0o644, nil)
	return &a
}

func write(t *testing.T, a *Archive) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := a.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// header is one parsed newc header.
type header struct {
	offset int
	fields [13]uint64 // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
	name   string
	data   []byte
}

// parse is a minimal, independent newc reader used to check header fields.
func parse(t *testing.T, b []byte) []header {
	t.Helper()
	var hs []header
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("header at offset %d is not 4-byte aligned", off)
		}
		if off+110 > len(b) {
			t.Fatalf("truncated archive at offset %d", off)
		}
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic %q at offset %d", b[off:off+6], off)
		}
		h := header{offset: off}
		for i := range h.fields {
			s := string(b[off+6+8*i : off+14+8*i])
			v, err := strconv.ParseUint(s, 16, 32)
			if err != nil {
				t.Fatalf("field %d at offset %d: %v", i, off, err)
			}
			h.fields[i] = v
		}
		nameStart := off + 110
		nameEnd := nameStart + int(h.fields[11])
		if b[nameEnd-1] != 0 {
			t.Fatalf("name at offset %d is not NUL-terminated", nameStart)
		}
		h.name = string(b[nameStart : nameEnd-1])
		dataStart := (nameEnd + 3) &^ 3
		for _, z := range b[nameEnd:dataStart] {
			if z != 0 {
				t.Fatalf("non-zero name padding after %q", h.name)
			}
		}
		dataEnd := dataStart + int(h.fields[6])
		h.data = b[dataStart:dataEnd]
		hs = append(hs, h)
		off = (dataEnd + 3) &^ 3
		if h.name == "TRAILER!!!" {
			for _, z := range b[dataEnd:] {
				if z != 0 {
					t.Fatal("non-zero bytes after the trailer")
				}
			}
			return hs
		}
	}
}

func TestHeaderFields(t *testing.T) {
	a := sample(t)
	a.AddCharDev("/dev/console", 0o600, 5, 1)
	hs := parse(t, write(t, a))
	want := []string{"bin", "bin/sh", "dev", "dev/console", "empty", "init", "kvmtest", "kvmtest/bin",
		"kvmtest/bin/host.bin", "kvmtest/manifest.json", "odd-sized", "tmp", "TRAILER!!!"}
	var got []string
	for _, h := range hs {
		got = append(got, h.name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("entries:\n got %v\nwant %v", got, want)
	}
	byName := map[string]header{}
	for i, h := range hs {
		byName[h.name] = h
		if h.fields[2] != 0 || h.fields[3] != 0 || h.fields[5] != 0 || h.fields[12] != 0 {
			t.Errorf("%s: uid/gid/mtime/check not zero: %v", h.name, h.fields)
		}
		if h.name != "TRAILER!!!" && h.fields[0] != uint64(i+1) {
			t.Errorf("%s: inode %d, want %d", h.name, h.fields[0], i+1)
		}
	}
	checks := []struct {
		name  string
		mode  uint64
		nlink uint64
		data  string
	}{
		{"bin", 0o040755, 2, ""},
		{"bin/sh", 0o120777, 1, "../kvmtest/bin/host.bin"},
		{"dev/console", 0o020600, 1, ""},
		{"init", 0o100755, 1, "#!/bin/agent\n"},
		{"kvmtest/bin/host.bin", 0o100640, 1, "from the host\n"},
		{"odd-sized", 0o100600, 1, "12345"},
		{"tmp", 0o041777, 2, ""},
		{"TRAILER!!!", 0, 1, ""},
	}
	for _, c := range checks {
		h := byName[c.name]
		if h.fields[1] != c.mode || h.fields[4] != c.nlink || string(h.data) != c.data {
			t.Errorf("%s: mode %o nlink %d data %q, want %o %d %q", c.name, h.fields[1], h.fields[4], h.data, c.mode, c.nlink, c.data)
		}
	}
	if h := byName["dev/console"]; h.fields[9] != 5 || h.fields[10] != 1 {
		t.Errorf("dev/console: rdev %d:%d, want 5:1", h.fields[9], h.fields[10])
	}
}

func TestTrailerAndAlignment(t *testing.T) {
	for _, a := range []*Archive{{}, sample(t)} {
		b := write(t, a)
		if len(b)%512 != 0 {
			t.Errorf("archive of %d bytes is not padded to 512", len(b))
		}
		hs := parse(t, b) // checks 4-byte alignment of every header
		last := hs[len(hs)-1]
		if last.name != "TRAILER!!!" || last.fields[6] != 0 {
			t.Errorf("last entry %q size %d, want an empty TRAILER!!!", last.name, last.fields[6])
		}
		if len(hs) != a.Len()+1 {
			t.Errorf("%d entries written, Len() = %d", len(hs), a.Len())
		}
		for _, h := range hs {
			dataStart := (h.offset + 110 + int(h.fields[11]) + 3) &^ 3
			if dataStart%4 != 0 {
				t.Errorf("%s: data not aligned", h.name)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := sample(t), sample(t)
	if !bytes.Equal(write(t, a), write(t, b)) {
		t.Fatal("same inputs gave different archives")
	}
	if a.Digest() != b.Digest() || len(a.Digest()) != 64 {
		t.Fatalf("digests %s and %s", a.Digest(), b.Digest())
	}
	// Insertion order does not matter.
	var c, d Archive
	c.AddFile("/a/b", 0o644, []byte("x"))
	c.AddFile("/a-c", 0o644, []byte("y"))
	d.AddFile("a-c", 0o644, []byte("y"))
	d.AddFile("a//b", 0o644, []byte("x"))
	if c.Digest() != d.Digest() {
		t.Fatal("insertion order or path spelling changed the archive")
	}
	// Content does matter.
	d.AddFile("/a/b", 0o644, []byte("z"))
	if c.Digest() == d.Digest() {
		t.Fatal("different content, same digest")
	}
}

func TestReplaceAndImplicitParents(t *testing.T) {
	var a Archive
	a.AddDir("/kvmtest", 0o700)
	a.AddFile("/kvmtest/x", 0o644, []byte("1"))
	a.AddFile("/kvmtest/x", 0o600, []byte("2"))
	hs := parse(t, write(t, &a))
	if len(hs) != 3 {
		t.Fatalf("got %d entries, want kvmtest, kvmtest/x and the trailer", len(hs))
	}
	if hs[0].fields[1] != 0o040700 {
		t.Errorf("explicit directory mode %o replaced by an implicit parent", hs[0].fields[1])
	}
	if string(hs[1].data) != "2" || hs[1].fields[1] != 0o100600 {
		t.Errorf("second AddFile did not replace the first: %q %o", hs[1].data, hs[1].fields[1])
	}
}

func TestRootPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("AddFile(\"/\") did not panic")
		}
	}()
	var a Archive
	a.AddFile("/", 0o644, nil)
}

func needCpio(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio(1) not installed")
	}
	return p
}

// TestCpioExtract reads the archive back with GNU cpio and compares what
// it extracted: contents, permission bits and symlink targets.
func TestCpioExtract(t *testing.T) {
	cpio := needCpio(t)
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(write(t, sample(t)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	files := map[string]struct {
		perm os.FileMode
		data string
	}{
		"init":                  {0o755, "#!/bin/agent\n"},
		"kvmtest/manifest.json": {0o644, `{"cell":"x"}`},
		"kvmtest/bin/host.bin":  {0o640, "from the host\n"},
		"odd-sized":             {0o600, "12345"},
		"empty":                 {0o644, ""},
	}
	for name, want := range files {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != want.perm || string(data) != want.data {
			t.Errorf("%s: mode %v content %q, want %v %q", name, fi.Mode(), data, want.perm, want.data)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "../kvmtest/bin/host.bin" {
		t.Errorf("bin/sh: readlink = %q, %v", target, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "bin/sh")); err != nil || string(data) != "from the host\n" {
		t.Errorf("bin/sh does not resolve to host.bin: %q, %v", data, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "tmp"))
	if err != nil || !fi.IsDir() || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp: %v, %v; want a sticky directory", fi, err)
	}
}

// TestCpioList checks the verbose listing of GNU cpio, which also covers
// device nodes without needing to create them.
func TestCpioList(t *testing.T) {
	cpio := needCpio(t)
	a := sample(t)
	a.AddCharDev("/dev/ttyS1", 0o660, 4, 65)
	cmd := exec.Command(cpio, "-t", "-v", "--quiet")
	cmd.Stdin = bytes.NewReader(write(t, a))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != a.Len() {
		t.Fatalf("cpio listed %d entries, archive has %d:\n%s", len(lines), a.Len(), out)
	}
	want := map[string][]string{ // name -> fields that must appear on its line
		"dev/ttyS1":            {"crw-rw----", "4,", "65"},
		"bin/sh":               {"lrwxrwxrwx", "-> ../kvmtest/bin/host.bin"},
		"tmp":                  {"drwxrwxrwt"},
		"init":                 {"-rwxr-xr-x", "13"},
		"kvmtest/bin/host.bin": {"-rw-r-----", "14"},
	}
	for _, line := range lines {
		f := strings.Fields(line)
		name := f[len(f)-1]
		if i := strings.Index(line, " -> "); i >= 0 {
			g := strings.Fields(line[:i])
			name = g[len(g)-1]
		}
		for _, w := range want[name] {
			if !strings.Contains(line, w) {
				t.Errorf("%s: listing %q lacks %q", name, line, w)
			}
		}
		delete(want, name)
		if !strings.Contains(line, "root") {
			t.Errorf("%s: not owned by root: %q", name, line)
		}
	}
	for name := range want {
		t.Errorf("%s: not listed by cpio", name)
	}
}
