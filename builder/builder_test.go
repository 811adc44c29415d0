package builder

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/internal/arch"
)

func TestFirstError(t *testing.T) {
	tests := []struct{ file, want string }{
		{"gcc-error.log", "fs/splice.c:1502:9: error: implicit declaration of function 'iter_to_pipe'; did you mean 'iter_file_splice_write'? [-Werror=implicit-function-declaration]"},
		{"ld-error.log", "fs/splice.c:1590: undefined reference to `vmsplice_to_user'"},
		{"make-only.log", "make[1]: *** [Makefile:224: __sub-make] Error 2"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := FirstError(b); got != tt.want {
				t.Errorf("FirstError = %q\nwant           %q", got, tt.want)
			}
		})
	}
	if got := FirstError([]byte("  CC foo.o\n  LD bar\n")); got != "" {
		t.Errorf("FirstError of a clean log = %q, want empty", got)
	}
}

func TestVerifyConfig(t *testing.T) {
	want, order := parseConfig([]byte("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_D=\"x\"\nCONFIG_E=n\nCONFIG_C=m\n"))
	final := []byte("CONFIG_A=y\nCONFIG_B=y\nCONFIG_D=\"y\"\n# CONFIG_E is not set\n")
	err := verifyConfig(want, order, final)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("verifyConfig = %v, want a *ConfigError", err)
	}
	got := []string{}
	for _, m := range ce.Missing {
		got = append(got, m.String())
	}
	wantMsgs := []string{
		"CONFIG_B: asked not set, got y",
		"CONFIG_C: asked m, got not set",
		`CONFIG_D: asked "x", got "y"`,
	}
	if strings.Join(got, "|") != strings.Join(wantMsgs, "|") {
		t.Errorf("missing options:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantMsgs, "\n"))
	}
	if err := verifyConfig(want, order, []byte("CONFIG_A=y\nCONFIG_C=m\nCONFIG_D=\"x\"\n")); err != nil {
		t.Errorf("all options present: %v", err)
	}
}

// testBuilder pins the toolchain so key tests do not depend on gcc.
func testBuilder(t *testing.T) *Builder {
	t.Helper()
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Cache: c}
	b.tools = map[string]toolsID{}
	for _, a := range arch.Names() {
		b.tools[a] = toolsID{desc: a + "-gcc 12.2.0\nld 2.40\nmake 4.3"}
	}
	return b
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInputKey(t *testing.T) {
	dir := t.TempDir()
	frag := writeFile(t, dir, "a.config", "CONFIG_A=y\n")
	frag2 := writeFile(t, dir, "b.config", "CONFIG_A=y\n") // same content, other name
	fragB := writeFile(t, dir, "c.config", "CONFIG_B=y\n")
	patch := writeFile(t, dir, "1.patch", "--- a\n+++ b\n")
	patchB := writeFile(t, dir, "2.patch", "--- a\n+++ c\n")
	base := Request{Config: ConfigSpec{Base: "tinyconfig", Fragments: []string{frag}}}
	b := testBuilder(t)
	key := func(r Request, src string) string {
		k, err := b.inputKey(r, src)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key(base, "src1")
	changes := map[string]struct {
		r   Request
		src string
	}{
		"source":   {base, "src2"},
		"base":     {Request{Config: ConfigSpec{Base: "defconfig", Fragments: []string{frag}}}, "src1"},
		"fragment": {Request{Config: ConfigSpec{Base: "tinyconfig", Fragments: []string{fragB}}}, "src1"},
		"option":   {Request{Config: ConfigSpec{Base: "tinyconfig", Fragments: []string{frag}, Options: []string{"CONFIG_X=y"}}}, "src1"},
		"patch":    {Request{Config: base.Config, Patches: []string{patch}}, "src1"},
		"arch":     {Request{Config: base.Config, Arch: "riscv64"}, "src1"},
	}
	for name, c := range changes {
		if key(c.r, c.src) == k0 {
			t.Errorf("changing the %s does not change the key", name)
		}
	}
	if key(Request{Config: base.Config, Patches: []string{patch}}, "src1") == key(Request{Config: base.Config, Patches: []string{patchB}}, "src1") {
		t.Error("different patch contents give the same key")
	}
	// Irrelevant: the fragment's file name, the kernel's display name, the log writer.
	same := []Request{
		{Config: ConfigSpec{Base: "tinyconfig", Fragments: []string{frag2}}},
		{Kernel: "other name", Config: base.Config, Log: os.Stderr},
	}
	for i, r := range same {
		if key(r, "src1") != k0 {
			t.Errorf("irrelevant change %d changed the key", i)
		}
	}
	// The toolchain is part of the key.
	b2 := testBuilder(t)
	b2.tools["x86_64"] = toolsID{desc: "gcc 13.1.0\nld 2.41\nmake 4.3"}
	if k, _ := b2.inputKey(base, "src1"); k == k0 {
		t.Error("a different compiler gives the same key")
	}
	// So is the architecture, and a foreign one's cross toolchain.
	arm := base
	arm.Arch = "arm64"
	ka := key(arm, "src1")
	if ka == k0 {
		t.Error("arm64 gives the x86_64 key")
	}
	b2.tools["arm64"] = toolsID{desc: "aarch64-linux-gnu-gcc 13.1.0\nld 2.41\nmake 4.3"}
	if k, _ := b2.inputKey(arm, "src1"); k == ka {
		t.Error("another cross compiler gives the same arm64 key")
	}
	bad := base
	bad.Arch = "mips"
	if _, err := b.inputKey(bad, "src1"); err == nil || !strings.Contains(err.Error(), `unknown architecture "mips"`) {
		t.Errorf("unknown arch: %v", err)
	}
}

func TestArtifactKeyIgnoresConfigHeader(t *testing.T) {
	b := testBuilder(t)
	c1 := []byte("#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.12.1 Kernel Configuration\n#\nCONFIG_A=y\n# CONFIG_B is not set\n")
	c2 := []byte("#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.12.1 Kernel Configuration, edited\n#\nCONFIG_A=y\n# CONFIG_B is not set\n")
	c3 := []byte("CONFIG_A=y\nCONFIG_B=y\n")
	if b.artifactKey(Request{}, "s", nil, c1) != b.artifactKey(Request{}, "s", nil, c2) {
		t.Error("comment lines change the artifact key")
	}
	if b.artifactKey(Request{}, "s", nil, c1) == b.artifactKey(Request{}, "s", nil, c3) {
		t.Error("a different resolved config gives the same artifact key")
	}
	if b.artifactKey(Request{}, "s", nil, c1) == b.artifactKey(Request{}, "s", []string{"p"}, c1) {
		t.Error("patches do not change the artifact key")
	}
}

func storeTestArtifact(t *testing.T, c *Cache, key string) *Artifact {
	t.Helper()
	dir := t.TempDir()
	a, err := c.StoreArtifact(Meta{Key: key, Kernel: "6.12", BuiltAt: time.Now()}, map[string]string{
		"bzImage":   writeFile(t, dir, "bzImage", "kernel image bytes"),
		"config":    writeFile(t, dir, "config", "CONFIG_A=y\n"),
		"build.log": writeFile(t, dir, "build.log", "log\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestArtifactCorruptionDetected(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := storeTestArtifact(t, c, "k1")
	if _, err := c.LoadArtifact("k1"); err != nil {
		t.Fatalf("fresh artifact: %v", err)
	}
	tests := map[string]func(){
		"truncated bzImage": func() { os.Truncate(a.Kernel, 3) },
		"edited config":     func() { os.WriteFile(a.Config, []byte("CONFIG_A=n\n"), 0o644) },
		"missing bzImage":   func() { os.Remove(a.Kernel) },
		"garbage meta":      func() { os.WriteFile(filepath.Join(a.Dir, "meta.json"), []byte("{"), 0o644) },
	}
	for name, damage := range tests {
		t.Run(name, func(t *testing.T) {
			a = storeTestArtifact(t, c, "k1")
			damage()
			_, err := c.LoadArtifact("k1")
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("LoadArtifact after %s = %v, want ErrCorrupt", name, err)
			}
		})
	}
	if _, err := c.LoadArtifact("absent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadArtifact(absent) = %v, want ErrNotExist", err)
	}
}

func TestLookupRebuildsCorruptEntry(t *testing.T) {
	b := testBuilder(t)
	a := storeTestArtifact(t, b.Cache, "k2")
	writeFileAtomic(b.Cache.Path("index", "input1"), []byte("k2\n"))
	if got := b.lookup("input1"); got == nil || !got.Cached {
		t.Fatalf("lookup of an intact entry = %v", got)
	}
	os.Truncate(a.Kernel, 1)
	if got := b.lookup("input1"); got != nil {
		t.Errorf("lookup returned a corrupt artifact")
	}
}

func TestLockExcludes(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// flock is per open file description, so two opens in one process
	// exclude each other just as two processes do.
	var inside, maxInside int32
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := c.Lock("k")
			if err != nil {
				t.Error(err)
				return
			}
			n := atomic.AddInt32(&inside, 1)
			for {
				m := atomic.LoadInt32(&maxInside)
				if n <= m || atomic.CompareAndSwapInt32(&maxInside, m, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			atomic.AddInt32(&inside, -1)
			unlock()
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Errorf("%d holders inside the lock at once, want 1", maxInside)
	}
}

func TestGCKeepsNewest(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, k := range []string{"old", "mid", "new"} {
		_, err := c.StoreArtifact(Meta{Key: k, BuiltAt: time.Now().Add(time.Duration(i) * time.Hour)}, map[string]string{
			"bzImage": writeFile(t, dir, "bz"+k, k), "config": writeFile(t, dir, "cf"+k, k),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	removed, err := c.GC(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "old" {
		t.Errorf("GC removed %v, want [old]", removed)
	}
	list, _ := c.List()
	if len(list) != 2 || list[0].Key != "new" {
		t.Errorf("after GC: %+v", list)
	}
}

func TestSeriesFiles(t *testing.T) {
	dir := t.TempDir()
	fp := filepath.Join(dir, "fp")
	os.Mkdir(fp, 0o755)
	writeFile(t, fp, "0002-b.patch", "")
	writeFile(t, fp, "0001-a.patch", "")
	writeFile(t, fp, "cover-letter.txt", "")
	quilt := filepath.Join(dir, "quilt")
	os.Mkdir(quilt, 0o755)
	writeFile(t, quilt, "z.diff", "")
	writeFile(t, quilt, "a.diff", "")
	writeFile(t, quilt, "series", "# comment\nz.diff -p1\n\na.diff\n")
	mbox := writeFile(t, dir, "v2.mbx", "From x\n")
	tests := []struct {
		in   string
		want []string
	}{
		{fp, []string{"0001-a.patch", "0002-b.patch"}},
		{quilt, []string{"z.diff", "a.diff"}},
		{filepath.Join(quilt, "series"), []string{"z.diff", "a.diff"}},
		{mbox, []string{"v2.mbx"}},
	}
	for _, tt := range tests {
		got, err := SeriesFiles(tt.in)
		if err != nil {
			t.Errorf("SeriesFiles(%s): %v", tt.in, err)
			continue
		}
		var names []string
		for _, g := range got {
			names = append(names, filepath.Base(g))
		}
		if strings.Join(names, ",") != strings.Join(tt.want, ",") {
			t.Errorf("SeriesFiles(%s) = %v, want %v", tt.in, names, tt.want)
		}
	}
	writeFile(t, quilt, "series", "missing.diff\n")
	if _, err := SeriesFiles(quilt); err == nil || !strings.Contains(err.Error(), "series:1") {
		t.Errorf("missing quilt patch: err = %v, want one naming series:1", err)
	}
}

func TestGCDropsIdleGuestPrograms(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(c.Path("guest"), 0o755)
	old := writeFile(t, c.Path("guest"), "old", "x")
	fresh := writeFile(t, c.Path("guest"), "fresh", "y")
	long := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(old, long, long)
	oldSet := c.Path("kselftest", "oldset")
	os.MkdirAll(oldSet, 0o755)
	os.MkdirAll(c.Path("kselftest", "newset"), 0o755)
	os.Chtimes(oldSet, long, long)
	removed, err := c.GC(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "guest/old,kselftest/oldset" {
		t.Errorf("removed %v, want [guest/old kselftest/oldset]", removed)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a recently used program was removed")
	}
}

func TestGCDropsIdleSourcesAndSlots(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-30 * 24 * time.Hour)
	mk := func(rel string, stamp *time.Time) string {
		dir := c.Path(rel)
		if err := os.MkdirAll(filepath.Join(dir, "tree"), 0o755); err != nil {
			t.Fatal(err)
		}
		if stamp != nil {
			markUsed(dir)
			os.Chtimes(filepath.Join(dir, usedStamp), *stamp, *stamp)
		}
		return dir
	}
	mk("src/git-old", &long)    // a worktree a bisection visited a month ago
	fresh := mk("src/abc", nil) // no stamp, directory just made: kept
	mk("work/slot-old", &long)  // an idle slot
	used := mk("work/slot-new", &long)
	markUsed(used)         // used again now
	mk("work/logs", &long) // not a slot: kept
	os.MkdirAll(c.Path("src", "half.tmp"), 0o755)
	os.Chtimes(c.Path("src", "half.tmp"), long, long) // an extraction under way elsewhere

	removed, err := c.GC(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(removed, ","), "src/git-old,work/slot-old"; got != want {
		t.Errorf("removed %s, want %s", got, want)
	}
	for _, p := range []string{fresh, used, c.Path("work", "logs"), c.Path("src", "half.tmp")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	// --older-than shorter than a week trims what is idle that long.
	if removed, _ = c.GC(10, time.Nanosecond); strings.Join(removed, ",") != "src/abc,work/slot-new" {
		t.Errorf("GC(older-than 1ns) removed %v, want [src/abc work/slot-new]", removed)
	}
}
