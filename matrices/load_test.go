package matrices

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// golden compares got with the golden file, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./matrices -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from what Load reports.\n--- got:\n%s--- want:\n%s", path, got, want)
	}
}

// TestBad loads every matrix of testdata/bad/ and compares the complete
// error list with the golden NAME.err next to it.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Errorf("only %d bad matrices in testdata/bad", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			m, err := loadCLI(f)
			if err == nil {
				t.Fatalf("Load(%s) succeeded: %+v", f, m)
			}
			if m != nil {
				t.Errorf("Load returned a matrix with an error")
			}
			el, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			checkErrorList(t, el)
			golden(t, strings.TrimSuffix(f, ".yaml")+".err", err.Error()+"\n")
		})
	}
}

// checkErrorList: sorted, each problem once, each in FILE:LINE:COL form.
func checkErrorList(t *testing.T, el ErrorList) {
	t.Helper()
	seen := map[string]bool{}
	for i, e := range el {
		if e.Line < 1 || e.Col < 1 || e.File == "" || e.Msg == "" {
			t.Errorf("malformed error %#v", e)
		}
		if seen[e.Error()] {
			t.Errorf("reported twice: %s", e)
		}
		seen[e.Error()] = true
		if i > 0 {
			p := el[i-1]
			if p.File > e.File || p.File == e.File && (p.Line > e.Line || p.Line == e.Line && p.Col > e.Col) {
				t.Errorf("not sorted: %s before %s", p, e)
			}
		}
	}
}

// TestGood loads every matrix of testdata/good/ and compares a dump of
// the resolved matrix and its cells with the golden NAME.golden.
func TestGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			m, err := loadCLI(f)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", f, err)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", dump(t, m))
		})
	}
}

// plusV renders a struct as %+v does, leaving out the fields of the
// architecture axis (Arch...) when they are empty: the goldens of
// matrices without arch: stay as they were before the axis.
func plusV(v any) string {
	rv := reflect.ValueOf(v)
	var parts []string
	for i := range rv.NumField() {
		name := rv.Type().Field(i).Name
		if strings.HasPrefix(name, "Arch") && rv.Field(i).IsZero() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%+v", name, rv.Field(i).Interface()))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// dump renders a matrix with testdata's absolute path replaced by $TD.
func dump(t *testing.T, m *Matrix) string {
	td, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("name %s", m.Name)
	if m.Description != "" {
		p("description %q", m.Description)
	}
	p("file %s", m.File)
	for _, f := range m.Files[1:] {
		p("included %s", f)
	}
	if !reflect.DeepEqual(m.arches(), []string{"x86_64"}) {
		p("arch %v", m.Arches)
	}
	if len(m.Digest) != 64 {
		t.Errorf("digest %q", m.Digest)
	}
	for _, k := range m.Kernels {
		src := k.Source.Tarball + k.Source.Path
		if k.Source.Git != nil {
			src = k.Source.Git.Repo + " " + k.Source.Git.Ref
		}
		if pb := k.Source.Prebuilt; pb != nil {
			src = fmt.Sprintf("%+v", *pb)
		}
		arches := ""
		if k.Arches != nil && !reflect.DeepEqual(k.Arches, m.Arches) {
			arches = fmt.Sprintf(" arch=%v", k.Arches)
		}
		p("kernel %s version=%q %s=%s%s at %s", k.Name, k.Version, k.Source.Kind(), src, arches, k.Pos)
	}
	for _, ps := range m.Patchsets {
		p("patchset %s series=%s (%s) applies-to=%q line %d", ps.Name, ps.Series, ps.SeriesFormat, ps.AppliesTo, ps.Line)
	}
	for _, c := range m.Configs {
		p("config %s base=%s fragments=%v options=%q", c.Name, c.Base, c.Fragments, c.Options)
		for _, a := range m.Arches {
			if fr := c.ArchFragments[a]; fr != nil {
				p("  %s: fragments=%v", a, c.FragmentsFor(a))
			}
		}
		for _, a := range slices.Sorted(maps.Keys(c.ArchFragments)) {
			if !contains(m.Arches, a) {
				p("  %s (not built): fragments=%v", a, c.FragmentsFor(a))
			}
		}
	}
	for _, s := range m.Suites {
		p("suite %s %s go-test=%s binary=%s command=%q args=%q timeout=%s format=%s requires=%+v files=%+v",
			s.Name, s.Kind(), s.GoTest, s.Binary, s.Command, s.Args, s.Timeout, s.Format, plusV(s.Requires), s.Files)
		if len(s.Modules) > 0 || s.Rootfs != "" || s.Workdir != "" {
			p("  modules=%q rootfs=%s workdir=%s (guest workdir %s)", s.Modules, s.Rootfs, s.Workdir, s.GuestWorkdir())
		}
		if s.Kselftest != nil {
			p("  kselftest %+v", *s.Kselftest)
		}
	}
	p("vm %+v", m.VM)
	for _, r := range m.Include {
		p("include-rule %s", plusV(r))
	}
	for _, r := range m.Exclude {
		p("exclude %s", plusV(r))
	}
	for _, e := range m.Expect {
		p("expect %s", plusV(*e))
	}
	p("baseline %s", plusV(m.Baseline))
	for _, w := range m.Warnings {
		p("warning %s", w)
	}
	for _, c := range m.AllCells() {
		line := "cell " + c.ID
		if c.Excluded != "" {
			line += " EXCLUDED: " + c.Excluded
		}
		if c.Skip != "" {
			line += " SKIP: " + c.Skip
		}
		if bc, ok := m.BaselineOf(c); ok && c.Excluded == "" {
			line += " (baseline " + bc.ID + ")"
		}
		p("%s", line)
	}
	return strings.ReplaceAll(b.String(), td, "$TD")
}

// TestUnknownFieldInMergedMap is the case yaml.v3's KnownFields misses:
// a key that arrives through a merge key (<<: *anchor).
func TestUnknownFieldInMergedMap(t *testing.T) {
	_, err := Load("testdata/bad/unknown-in-merged-map.yaml")
	want := `testdata/bad/unknown-in-merged-map.yaml:5:3: unknown field "fragmets" in config; did you mean "fragments"?`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant (once, though merged twice):\n%s", err, want)
	}
}

func TestDefaultMatrix(t *testing.T) {
	if ms, _ := filepath.Glob("../guest/tests/vmsplice/*_test.go"); len(ms) == 0 {
		t.Skip("../guest/tests/vmsplice has no Go test files (yet)")
	}
	for _, f := range []string{"/usr/src/linux-source-6.12.tar.xz", "/usr/src/linux-source-6.1.tar.xz"} {
		if _, err := os.Stat(f); err != nil {
			t.Skip(err)
		}
	}
	m, err := Load("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells := m.Cells()
	var ids []string
	for _, c := range cells {
		id := c.ID
		if c.Skip != "" {
			id += " (skip)"
		}
		ids = append(ids, id)
	}
	want := "6.12-base-minimal 6.12-vmsplice-v1-minimal 6.12-vmsplice-v2-minimal 6.1-base-minimal 6.1-vmsplice-v1-minimal (skip) 6.1-vmsplice-v2-minimal (skip)"
	if strings.Join(ids, " ") != want {
		t.Fatalf("cells: %s\nwant:  %s", strings.Join(ids, " "), want)
	}
	if m.Name != "default" || m.VM.MemoryMiB != 512 || m.VM.BootTimeout != 30*time.Second || m.Suites[0].Timeout != time.Minute {
		t.Errorf("matrix: %+v", m)
	}
	if st, ok := m.Expected(cells[0], "vmsplice", "TestVmspliceBufferIsStable"); !ok || st != "fail" {
		t.Errorf("Expected = %q, %v", st, ok)
	}
}

// TestEmbedded checks the embedded files without loading them from disk:
// names, and that default.yaml is strictly well-formed as far as it can be
// without the files it names.
func TestEmbedded(t *testing.T) {
	if got := Builtin(); !contains(got, "default") || !IsBuiltin("default") || IsBuiltin("nope") {
		t.Errorf("Builtin() = %q", got)
	}
	// DESIGN's `kvmtest run vmsplice`: every alias names a shipped matrix.
	if Canonical("vmsplice") != "default" || Canonical("quick") != "quick" {
		t.Errorf("Canonical(vmsplice) = %q, Canonical(quick) = %q", Canonical("vmsplice"), Canonical("quick"))
	}
	for _, a := range Aliases() {
		if !IsBuiltin(a[1]) || IsBuiltin(a[0]) {
			t.Errorf("alias %s -> %s: the target must be shipped and the alias not", a[0], a[1])
		}
	}
	if _, err := FS.ReadFile("configs/qemu-minimal.config"); err != nil {
		t.Error(err)
	}
	dir := t.TempDir()
	m, err := LoadBuiltin("default", filepath.Join(dir, "matrices"))
	if m != nil {
		t.Fatalf("loaded with no guest dir: %+v", m)
	}
	// Only the files that live outside matrices/ may be missing.
	for _, e := range err.(ErrorList) {
		if !strings.Contains(e.Msg, "guest/tests/vmsplice") && !strings.Contains(e.Msg, "guest/tests/stressng") && !strings.Contains(e.Msg, "linux-source-6.1") {
			t.Errorf("unexpected problem in the embedded default matrix: %v", e)
		}
	}
	// With the guest suites beside it, it loads.
	for _, name := range []string{"vmsplice", "stressng"} {
		suite := filepath.Join(dir, "guest/tests", name)
		os.MkdirAll(suite, 0o755)
		os.WriteFile(filepath.Join(suite, "x_test.go"), []byte("package "+name+"\n"), 0o644)
	}
	for _, f := range []string{"/usr/src/linux-source-6.12.tar.xz", "/usr/src/linux-source-6.1.tar.xz"} {
		if _, err := os.Stat(f); err != nil {
			t.Skip(err)
		}
	}
	m, err = LoadBuiltin("default", filepath.Join(dir, "matrices"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Configs[0].Fragments[0] != filepath.Join(dir, "matrices/configs/qemu-minimal.config") {
		t.Errorf("fragment %q", m.Configs[0].Fragments)
	}
	if _, err := LoadBuiltin("nope", dir); err == nil {
		t.Error("LoadBuiltin(nope) succeeded")
	}
}

// TestShippedFragment: every line of the shipped config fragment is a
// kconfig line, and the options the guest depends on are there.
func TestShippedFragment(t *testing.T) {
	data, err := FS.ReadFile("configs/qemu-minimal.config")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		if msg := checkKconfigLine(line, true); msg != "" {
			t.Errorf("line %d: %s", i+1, msg)
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			set[k] = v
		}
	}
	for _, o := range []string{"64BIT", "PRINTK", "BLK_DEV_INITRD", "BINFMT_ELF", "TTY", "SERIAL_8250", "SERIAL_8250_CONSOLE",
		"PROC_FS", "SYSFS", "DEVTMPFS", "DEVTMPFS_MOUNT", "TMPFS", "FUTEX", "EPOLL", "UNIX", "INET"} {
		if set["CONFIG_"+o] != "y" {
			t.Errorf("CONFIG_%s=y missing", o)
		}
	}
	if set["CONFIG_SERIAL_8250_RUNTIME_UARTS"] < "2" || set["CONFIG_SERIAL_8250_NR_UARTS"] < "2" {
		t.Errorf("fewer than 2 UARTs: %v %v", set["CONFIG_SERIAL_8250_NR_UARTS"], set["CONFIG_SERIAL_8250_RUNTIME_UARTS"])
	}
}

// TestHugeFile: a file over the size limit is refused without parsing.
func TestHugeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.yaml")
	data := []byte("kernels:\n" + strings.Repeat("  - {name: x}\n", maxMatrixSize/13+1))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	want := fmt.Sprintf("%s:1:1: file is too large (%d bytes; a matrix file may have at most %d)", p, maxMatrixSize+1, maxMatrixSize)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestMissingMatrix(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	if err == nil || err.Error() != "testdata/nope.yaml:1:1: cannot read matrix: no such file or directory" {
		t.Errorf("got %v", err)
	}
	_, err = Load("testdata")
	if err == nil || err.Error() != "testdata:1:1: cannot read matrix: testdata is a directory" {
		t.Errorf("got %v", err)
	}
}

func TestLoadFiles(t *testing.T) {
	ms, err := LoadFiles("testdata/good/minimal.yaml", "testdata/bad/empty.yaml", "testdata/good/anchors.yaml", "testdata/bad/unknown-config-field.yaml")
	if len(ms) != 2 || ms[0].Name != "minimal" || ms[1].Name != "anchors" {
		t.Errorf("matrices: %v", ms)
	}
	want := `testdata/bad/empty.yaml:1:1: empty matrix file: a matrix needs at least kernels, patchsets and configs
testdata/bad/unknown-config-field.yaml:10:5: unknown field "fragmets" in config; did you mean "fragments"?`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	if ms, err := LoadFiles("testdata/good/minimal.yaml"); err != nil || len(ms) != 1 {
		t.Errorf("LoadFiles(good) = %v, %v", ms, err)
	}
}

func TestPathsAreAbsolute(t *testing.T) {
	m, err := loadCLI("testdata/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs := func(what, p string) {
		if p != "" && !filepath.IsAbs(p) {
			t.Errorf("%s %q is not absolute", what, p)
		}
	}
	abs("file", m.File)
	for _, k := range m.Kernels {
		abs("tarball", k.Source.Tarball)
		abs("path", k.Source.Path)
	}
	for _, p := range m.Patchsets {
		abs("series", p.Series)
	}
	for _, c := range m.Configs {
		if !c.IsTarget() {
			abs("base", c.Base)
		}
		for _, f := range c.Fragments {
			abs("fragment", f)
		}
	}
	for _, s := range m.Suites {
		abs("go-test", s.GoTest)
		abs("binary", s.Binary)
		for _, f := range s.Files {
			abs("src", f.Src)
		}
	}
}

// TestDigest: the digest covers the matrix and its included files.
func TestDigest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("k.yaml", "kernels: [{name: a, version: '6.1', source: {tarball: t.tar}}]\n")
	write("t.tar", "")
	write("m.yaml", "include: [k.yaml]\npatchsets: [{name: base}]\nconfigs: [{name: c, base: tinyconfig}]\n")
	m1, err := Load(filepath.Join(dir, "m.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m1.Files) != 2 {
		t.Errorf("files %q", m1.Files)
	}
	write("k.yaml", "kernels: [{name: a, version: '6.2', source: {tarball: t.tar}}]\n")
	m2, err := Load(filepath.Join(dir, "m.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m1.Digest == m2.Digest {
		t.Error("digest does not change with an included file")
	}
	m3, _ := Load(filepath.Join(dir, "m.yaml"))
	if m3.Digest != m2.Digest {
		t.Error("digest is not stable")
	}
}

// TestGitSource reads the version of a git kernel source from REF:Makefile
// (with the builder's reader, as the command does).
func TestGitSource(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "linux")
	run := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(repo, 0o755)
	run("init", "-q")
	os.WriteFile(filepath.Join(repo, "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 11\nSUBLEVEL = 0\nEXTRAVERSION = -rc7\n"), 0o644)
	run("add", "Makefile")
	run("commit", "-q", "-m", "v6.11-rc7")
	run("tag", "v6.11-rc7")
	os.WriteFile(filepath.Join(repo, "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 11\nSUBLEVEL = 0\nEXTRAVERSION =\n"), 0o644)
	run("commit", "-q", "-a", "-m", "v6.11")
	mx := filepath.Join(dir, "m.yaml")
	os.WriteFile(mx, []byte(`kernels:
  - {name: rc7, source: {git: {repo: linux, ref: v6.11-rc7}}}
  - {name: head, source: {git: {repo: linux, ref: HEAD}}}
  - {name: remote, version: "6.12", source: {git: {repo: "https://example.org/linux.git", ref: v6.12}}}
patchsets:
  - {name: base}
  - {name: release-only, applies-to: ">= 6.11"}
configs: [{name: c, base: tinyconfig}]
`), 0o644)
	m, err := loadCLI(mx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kernels[0].Version != "6.11.0-rc7" || m.Kernels[1].Version != "6.11.0" {
		t.Errorf("versions %q %q", m.Kernels[0].Version, m.Kernels[1].Version)
	}
	if g := m.Kernels[0].Source.Git; g == nil || g.Repo != repo || g.Ref != "v6.11-rc7" {
		t.Errorf("git source %+v", g)
	}
	if g := m.Kernels[2].Source.Git; g == nil || g.Repo != "https://example.org/linux.git" {
		t.Errorf("remote git source %+v", g)
	}
	var skipped []string
	for _, c := range m.Cells() {
		if c.Skip != "" {
			skipped = append(skipped, c.ID)
		}
	}
	if !reflect.DeepEqual(skipped, []string{"rc7-release-only-c"}) {
		t.Errorf("skipped %q", skipped)
	}
	// A remote repository without version: cannot be read.
	os.WriteFile(mx, []byte(`kernels:
  - {name: remote, source: {git: {repo: "https://example.org/linux.git", ref: v6.12}}}
patchsets: [{name: base, applies-to: ">= 6.1"}]
configs: [{name: c, base: tinyconfig}]
`), 0o644)
	_, err = loadCLI(mx)
	want := mx + `:2:28: cannot read the version of kernel "remote" (needed by applies-to of patchset "base"): cannot read the Makefile of remote repository https://example.org/linux.git without fetching it; add version:`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestTarballVersionOnlyWhenNeeded: a tarball is not opened when nothing
// needs its version.
func TestTarballVersionOnlyWhenNeeded(t *testing.T) {
	calls := 0
	read := func(src Source) ([]byte, error) { calls++; return cliReader(src) }
	m, err := LoadWith("testdata/good/minimal.yaml", LoadOptions{ReadMakefile: read})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kernels[0].Version != "" || calls != 0 {
		t.Errorf("version read though nothing needs it: %q (%d reads)", m.Kernels[0].Version, calls)
	}
	v, err := m.Kernels[0].ResolveVersion(read)
	if err != nil || v != "6.10.3" || m.Kernels[0].Version != "6.10.3" || calls != 1 {
		t.Errorf("ResolveVersion = %q, %v (%d reads)", v, err, calls)
	}
}

// TestWorkBudget: a load that visits too many nodes stops with one error.
func TestWorkBudget(t *testing.T) {
	defer func(n int) { maxWork = n }(maxWork)
	maxWork = 50
	_, err := Load("testdata/good/full.yaml")
	want := "testdata/good/full.yaml:1:1: the document expands too much through aliases and merge keys (more than 50 nodes)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v", err)
	}
}

// TestDocExample loads the complete example of docs/matrix.md: the only
// problems allowed are the files it names that do not exist here.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/matrix.md")
	if err != nil {
		t.Skip(err)
	}
	s := string(doc)
	i := strings.Index(s, "## A complete example")
	if i < 0 {
		t.Fatal("no complete example in docs/matrix.md")
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n") + len("```yaml\n")
	end := strings.Index(s[start:], "```")
	p := filepath.Join(t.TempDir(), "vmsplice.yaml")
	os.WriteFile(p, []byte(s[start:start+end]), 0o644)
	_, err = loadCLI(p)
	if err == nil {
		return
	}
	for _, e := range err.(ErrorList) {
		if !strings.Contains(e.Msg, "not found") && !strings.Contains(e.Msg, "cannot include") {
			t.Errorf("the documented example has a problem: %v", e)
		}
	}
}
