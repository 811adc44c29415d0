package matrices

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// goBuild builds a tiny Go program into dir with env added to the
// environment, skipping the test when it cannot be built here.
func goBuild(t *testing.T, dir, name, src string, env ...string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	srcDir := filepath.Join(dir, name+"-src")
	os.MkdirAll(srcDir, 0o755)
	os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module example.com/"+name+"\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(srcDir, "main.go"), []byte(src), 0o644)
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), append([]string{"GOOS=linux", "GOFLAGS="}, env...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build %s here: %v\n%s", name, err, b)
	}
	return out
}

// writeMatrix writes a matrix file into dir.
func writeMatrix(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// errLines returns the lines of a load error with the matrix path
// replaced by "m.yaml".
func errLines(err error, p string) []string {
	if err == nil {
		return nil
	}
	return strings.Split(strings.ReplaceAll(err.Error(), p, "m.yaml"), "\n")
}

const oneCell = `kernels: [{name: k, version: "6.12", source: {path: tree}}]
patchsets: [{name: base}]
configs: [{name: c, base: tinyconfig}]
`

// TestInputProgramsRunInGuest: a binary suite, and a command whose program
// a files entry copies, are refused when they are dynamically linked or
// for another architecture than that of a cell that runs the suite, at
// the line of the binary or of the command's program; a static one loads,
// and a dynamic one loads when the guest's rootfs hook has its loader.
func TestInputProgramsRunInGuest(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 12\n"), 0o644)
	const plain = "package main\n\nfunc main() {}\n"
	static := goBuild(t, dir, "static", plain, "CGO_ENABLED=0", "GOARCH=amd64")
	arm := goBuild(t, dir, "arm", plain, "CGO_ENABLED=0", "GOARCH=arm64")
	dynamic := ""
	if _, err := exec.LookPath("gcc"); err == nil {
		dynamic = goBuild(t, dir, "dynamic", "package main\n\n// int one(void) { return 1; }\nimport \"C\"\n\nfunc main() { _ = C.one() }\n", "CGO_ENABLED=1", "GOARCH=amd64")
	}
	const dynMsg = "is dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2); the guest's initramfs has no dynamic loader: build it static (CGO_ENABLED=0, -static)"
	tests := []struct {
		name   string
		suites string
		guest  *Guest
		want   []string
		needs  string // a program that must have been built
		vm     string // top-level fields after suites: (vm:, arch:), when not the defaults
	}{
		{"static binary", "  - {name: s, binary: static}\n", nil, nil, static, ""},
		{"dynamic binary", "  - {name: s, binary: dynamic}\n", nil,
			[]string{`m.yaml:5:23: binary "dynamic" ` + dynMsg}, dynamic, ""},
		{"dynamic in a rootfs with its loader", "  - {name: s, binary: dynamic}\n",
			&Guest{Rootfs: func(s *Suite, p string) bool { return s.Name == "s" && p == "/lib64/ld-linux-x86-64.so.2" }}, nil, dynamic, ""},
		{"arm64 binary", "  - {name: s, binary: arm}\n", nil,
			[]string{`m.yaml:5:23: binary "arm" is an ELF program for aarch64, but the guest is x86_64`}, arm, ""},
		{"arm64 binary in an arm64 matrix", "  - {name: s, binary: arm}\n", nil, nil, arm, "arch: [arm64]\n"},
		{"amd64 binary in arm64 cells", "  - {name: s, binary: static}\n", nil,
			[]string{`m.yaml:5:23: binary "static" is an ELF program for x86_64, but the suite runs in arm64 cells (give it requires: {arch: [x86_64]} to run it there only)`}, static, "arch: [x86_64, arm64]\n"},
		{"amd64 binary kept off arm64", "  - {name: s, binary: static, requires: {arch: [x86_64]}}\n", nil, nil, static, "arch: [x86_64, arm64]\n"},
		{"amd64 binary in arm64 cells only", "  - {name: s, binary: static, requires: {arch: [arm64]}}\n", nil,
			[]string{`m.yaml:5:23: binary "static" is an ELF program for x86_64, but the suite runs in arm64 cells`}, static, "arch: [x86_64, arm64]\n"},
		{"arm64 binary whose arm64 cells are excluded", "  - {name: s, binary: arm}\n", nil,
			[]string{`m.yaml:5:23: binary "arm" is an ELF program for arm64, but the suite runs in x86_64 cells`}, arm, "arch: [x86_64, arm64]\nexclude: [{arch: arm64}]\n"},
		{"dynamic binary on its own arch", "  - {name: s, binary: dynamic, requires: {arch: [x86_64]}}\n", nil,
			[]string{`m.yaml:5:23: binary "dynamic" ` + dynMsg}, dynamic, "arch: [x86_64, arm64]\n"},
		{"dynamic command program", "  - name: s\n    command: [/opt/dyn, -v]\n    files: [{src: dynamic, dst: /opt/dyn}]\n", nil,
			[]string{`m.yaml:6:15: program "/opt/dyn" of command (copied from "dynamic" by files:) ` + dynMsg}, dynamic, ""},
		{"command program of another suite's files", "  - {name: a, command: [/opt/bin/dynamic]}\n  - {name: b, command: [/bin/true], files: [{src: ., dst: /opt/bin}]}\n", nil,
			[]string{`m.yaml:5:25: program "/opt/bin/dynamic" of command (copied from "dynamic" by files:) ` + dynMsg}, dynamic, ""},
		{"static command program", "  - name: s\n    command: [/opt/st]\n    files: [{src: static, dst: /opt/st}]\n", nil, nil, static, ""},
		{"dynamic binary in the host's root", "  - {name: s, binary: dynamic}\n", nil, nil, dynamic, "vm: {rootfs: host}\n"},
		{"dynamic binary in a root without its loader", "  - {name: s, binary: dynamic}\n", nil,
			[]string{`m.yaml:5:23: binary "dynamic" ` + dynMsg}, dynamic, "vm: {rootfs: tree}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needs == "" {
				t.Skip("no C compiler: no dynamically linked program")
			}
			p := writeMatrix(t, dir, oneCell+"suites:\n"+tt.suites+tt.vm)
			_, err := LoadWith(p, LoadOptions{Guest: tt.guest})
			if got := errLines(err, p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// gitRepo makes a local repository with one commit tagged v6.12.
func gitRepo(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	for _, args := range [][]string{
		{"init", "-q", "repo"},
		{"-C", "repo", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", "one"},
		{"-C", "repo", "tag", "v6.12"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

// TestInputSources: with the command's source checks, a tarball that is
// not one, a directory that is not a git repository and a ref a local
// repository lacks are errors at their own lines, all at once, even when
// nothing needs the kernels' versions (before, only a version read
// looked into a tarball, and only an applies-to or requires.kernel
// asked for one).
func TestInputSources(t *testing.T) {
	dir := t.TempDir()
	gitRepo(t, dir)
	os.Mkdir(filepath.Join(dir, "plain"), 0o755)
	os.WriteFile(filepath.Join(dir, "notes.tar.xz"), []byte("notes\n"), 0o644)
	if _, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command("xz", "-c")
		cmd.Stdin = strings.NewReader(strings.Repeat("a kernel, honest\n", 4000))
		data, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "cut.tar.xz"), data[:len(data)/2], 0o644)
	}
	p := writeMatrix(t, dir, `kernels:
  - {name: notes, version: "6.12", source: {tarball: notes.tar.xz}}
  - {name: good, source: {git: {repo: repo, ref: v6.12}}}
  - name: bad-ref
    source:
      git: {repo: repo, ref: v6.99}
  - {name: not-repo, version: "6.12", source: {git: {repo: plain, ref: main}}}
patchsets: [{name: base}]
configs: [{name: c, base: tinyconfig}]
`)
	_, err := LoadWith(p, LoadOptions{ReadMakefile: cliReader, CheckSource: &cliSources})
	want := []string{
		`m.yaml:2:54: tarball "notes.tar.xz": not a tarball: neither a tar archive nor compressed with gzip, xz, bzip2, zstd, lz4, lzip (it is a text file starting "notes")`,
		`m.yaml:6:30: git ref "v6.99": no commit, branch or tag "v6.99" in repository "repo"`,
		`m.yaml:7:60: git repository "plain": not a git repository`,
	}
	if got := errLines(err, p); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, "cut.tar.xz")); err == nil {
		p := writeMatrix(t, dir, `kernels: [{name: cut, version: "6.12", source: {tarball: cut.tar.xz}}]
patchsets: [{name: base}]
configs: [{name: c, base: tinyconfig}]
`)
		_, err := LoadWith(p, LoadOptions{CheckSource: &cliSources})
		want := `m.yaml:1:58: tarball "cut.tar.xz": truncated: the xz stream has no end (an interrupted download or copy?)`
		if got := errLines(err, p); len(got) != 1 || got[0] != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestInputHostVM: vm.memory above the host's MemTotal is an error at its
// line; vm.cpus above its CPUs a warning; an unknown host checks nothing.
func TestInputHostVM(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	host := Host{MemTotalMiB: 24 << 10, CPUs: 2}
	tests := []struct {
		vm       string
		host     *Host
		errs     []string
		warnings []string
	}{
		{"vm: {memory: 100G}", &host, []string{"m.yaml:4:14: vm.memory 100G (102400 MiB) is more than this host's memory (MemTotal 24576 MiB): the host cannot give it; give at most 24576M"}, nil},
		{"vm: {memory: 24G}", &host, nil, nil},
		{"vm: {memory: 100G}", &Host{}, nil, nil},
		{"vm: {cpus: 64}", &host, nil, []string{"m.yaml:4:12: vm.cpus 64 is more than this host's 2 online CPUs: the vCPUs share them (allowed, but slower, and each VM runs alone)"}},
		{"vm: {cpus: 2}", &host, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.vm, func(t *testing.T) {
			p := writeMatrix(t, dir, strings.Replace(oneCell, "tinyconfig", "defconfig", 1)+tt.vm+"\n")
			m, err := LoadWith(p, LoadOptions{Host: tt.host})
			if got := errLines(err, p); !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.errs, "\n"))
			}
			if m == nil {
				return
			}
			var got []string
			if len(m.Warnings) > 0 {
				got = errLines(m.Warnings, p)
			}
			if !reflect.DeepEqual(got, tt.warnings) {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}
}

// TestCPUWarnings: the rule the engine applies to a built .config.
func TestCPUWarnings(t *testing.T) {
	tests := []struct {
		config string
		cpus   int
		want   []string
	}{
		{"CONFIG_SMP=y\n", 4, nil},
		{"# CONFIG_SMP is not set\n", 4, []string{"vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU"}},
		{"", 2, []string{"vm.cpus 2 but the kernel has no CONFIG_SMP: the guest runs on one CPU"}},
		{"# CONFIG_SMP is not set\n", 1, nil},
		{"CONFIG_SMP=y\nCONFIG_NR_CPUS=8\n", 16, []string{"vm.cpus 16 but the kernel has CONFIG_NR_CPUS=8: the guest uses 8 CPUs"}},
		{"CONFIG_SMP=y\nCONFIG_NR_CPUS=8\n", 8, nil},
	}
	for _, tt := range tests {
		if got := CPUWarnings(ParseKernelConfig([]byte(tt.config)), tt.cpus); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CPUWarnings(%q, %d) = %q, want %q", tt.config, tt.cpus, got, tt.want)
		}
	}
}

// TestInputSMPWarning: the load warns, at vm.cpus, of each config known
// to build a kernel without CONFIG_SMP (a tinyconfig or allnoconfig base
// that nothing turns it on in, a fragment or option that turns it off),
// and says nothing of one whose SMP depends on the kernel (defconfig).
func TestInputSMPWarning(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	os.WriteFile(filepath.Join(dir, "smp.config"), []byte("CONFIG_SMP=y\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "nosmp.config"), []byte("# no SMP here\n# CONFIG_SMP is not set\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "full.config"), []byte("CONFIG_X86=y\nCONFIG_SMP=y\n"), 0o644)
	p := writeMatrix(t, dir, `kernels: [{name: k, version: "6.12", source: {path: tree}}]
patchsets: [{name: base}]
configs:
  - {name: tiny, base: tinyconfig}
  - {name: tiny-smp, base: tinyconfig, fragments: [smp.config]}
  - {name: def, base: defconfig}
  - {name: def-nosmp, base: defconfig, fragments: [nosmp.config]}
  - {name: def-opt, base: defconfig, options: ["# CONFIG_SMP is not set"]}
  - {name: file, base: ./full.config}
  - {name: allno, base: allnoconfig, fragments: [smp.config], options: [CONFIG_SMP=n]}
vm: {cpus: 4}
`)
	m, err := LoadWith(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`m.yaml:11:12: config "tiny": vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU (CONFIG_SMP: tinyconfig leaves it unset)`,
		`m.yaml:11:12: config "def-nosmp": vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU (CONFIG_SMP: fragment nosmp.config sets it so)`,
		`m.yaml:11:12: config "def-opt": vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU (CONFIG_SMP: an option sets it so)`,
		`m.yaml:11:12: config "allno": vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU (CONFIG_SMP: an option sets it so)`,
	}
	var got []string
	if len(m.Warnings) > 0 {
		got = errLines(m.Warnings, p)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p = writeMatrix(t, dir, oneCell+"vm: {cpus: 1}\n")
	if m, err := LoadWith(p, LoadOptions{}); err != nil || len(m.Warnings) != 0 {
		t.Errorf("one vCPU: %v, warnings %v", err, m.Warnings)
	}
}

// TestRootfsWarnings: a shared root on a config known to leave both
// virtiofs and 9p unset is warned of at vm.rootfs; a config that sets
// either, one whose options depend on the kernel (defconfig), and the
// initramfs are not.
func TestRootfsWarnings(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	const suites = "suites: [{name: s, command: [/bin/true]}]\n"
	for _, tt := range []struct {
		name, config, vm string
		want             []string
	}{
		{"tinyconfig", "base: tinyconfig", "vm: {rootfs: host}", []string{`m.yaml:5:14: warning: config "c": vm.rootfs host needs CONFIG_VIRTIO_FS or CONFIG_9P_FS, which this config leaves unset (tinyconfig leaves it unset): add configs/rootfs.config to its fragments, or its cells are refused before they boot`}},
		{"virtiofs set", "base: tinyconfig, options: [CONFIG_VIRTIO_FS=y]", "vm: {rootfs: host}", nil},
		{"9p set", "base: tinyconfig, options: [CONFIG_9P_FS=y]", "vm: {rootfs: host}", nil},
		{"defconfig", "base: defconfig", "vm: {rootfs: host}", nil},
		{"initramfs", "base: tinyconfig", "vm: {rootfs: initramfs}", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := strings.Replace(oneCell, "base: tinyconfig", tt.config, 1) + suites + tt.vm + "\n"
			p := writeMatrix(t, dir, m)
			got, err := LoadWith(p, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, w := range got.Warnings {
				lines = append(lines, fmt.Sprintf("%s:%d:%d: warning: %s", filepath.Base(w.File), w.Line, w.Col, w.Msg))
			}
			if !reflect.DeepEqual(lines, tt.want) {
				t.Errorf("warnings %q, want %q", lines, tt.want)
			}
		})
	}
}

// TestSuiteRootfs: a suite's rootfs wins over vm.rootfs (SuiteRoot, with
// the meaning of VM.SharedRoot), the run's one shared root is the
// vm's or a suite's (SharedRoot), and a shared root asked for by a suite
// alone is warned of, at its line, on a config without virtiofs and 9p.
func TestSuiteRootfs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	os.MkdirAll(filepath.Join(dir, "root"), 0o755)
	root := filepath.Join(dir, "root")
	for _, tt := range []struct {
		name, suites, vm string
		roots            map[string]string // suite -> SuiteRoot
		shared           string
		warn             []string
	}{
		{"suite asks", "[{name: a, command: [/bin/true]}, {name: b, command: [/bin/true], rootfs: host}]", "",
			map[string]string{"a": "", "b": "/"}, "/",
			[]string{`m.yaml:4:83: warning: config "c": suite "b" rootfs host needs CONFIG_VIRTIO_FS or CONFIG_9P_FS, which this config leaves unset (tinyconfig leaves it unset): add configs/rootfs.config to its fragments, or its cells are refused before they boot`}},
		{"suite leaves the vm's", "[{name: a, command: [/bin/true]}, {name: b, command: [/bin/true], rootfs: initramfs}]", "vm: {rootfs: root}",
			map[string]string{"a": root, "b": ""}, root,
			[]string{`m.yaml:5:14: warning: config "c": vm.rootfs root needs CONFIG_VIRTIO_FS or CONFIG_9P_FS, which this config leaves unset (tinyconfig leaves it unset): add configs/rootfs.config to its fragments, or its cells are refused before they boot`}},
		{"same directory", "[{name: a, command: [/bin/true], rootfs: root}, {name: b, command: [/bin/true], rootfs: ./root/}]", "",
			map[string]string{"a": root, "b": root}, root, nil},
		{"host and /", "[{name: a, command: [/bin/true], rootfs: /}]", "vm: {rootfs: host}",
			map[string]string{"a": "/"}, "/", nil},
		{"initramfs", "[{name: a, command: [/bin/true]}]", "",
			map[string]string{"a": ""}, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := oneCell + "suites: " + tt.suites + "\n" + tt.vm + "\n"
			if len(tt.warn) == 0 {
				body = strings.Replace(body, "base: tinyconfig", "base: tinyconfig, options: [CONFIG_VIRTIO_FS=y]", 1)
			}
			p := writeMatrix(t, dir, body)
			m, err := LoadWith(p, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.roots {
				if got := m.SuiteRoot(m.Suite(name)); got != want {
					t.Errorf("SuiteRoot(%s) = %q, want %q", name, got, want)
				}
			}
			if got := m.SharedRoot(); got != tt.shared {
				t.Errorf("SharedRoot = %q, want %q", got, tt.shared)
			}
			var lines []string
			for _, w := range m.Warnings {
				lines = append(lines, fmt.Sprintf("%s:%d:%d: warning: %s", filepath.Base(w.File), w.Line, w.Col, w.Msg))
			}
			if !reflect.DeepEqual(lines, tt.warn) {
				t.Errorf("warnings %q, want %q", lines, tt.warn)
			}
		})
	}
}

// TestFilesSrc: a files: src is a readable regular file or a directory of
// regular files, directories and symbolic links (a dangling one too: it is
// copied as a link); anything else is refused at its line, naming the
// entry, before anything is built.
func TestFilesSrc(t *testing.T) {
	defer func(n int) { maxFilesEntries = n }(maxFilesEntries)
	maxFilesEntries = 5
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Join(p, "sub"), 0o755)
		os.WriteFile(filepath.Join(p, "sub", "a.txt"), []byte("a\n"), 0o644)
		return p
	}
	mk("good")
	os.Symlink("../nowhere", filepath.Join(dir, "good", "sub", "dangling"))
	if err := syscall.Mkfifo(filepath.Join(mk("fifo"), "sub", "pipe"), 0o644); err != nil {
		t.Skip(err)
	}
	big := mk("big")
	for i := range 5 {
		os.WriteFile(filepath.Join(big, fmt.Sprintf("f%d", i)), nil, 0o644)
	}
	syscall.Mkfifo(filepath.Join(dir, "toppipe"), 0o644)
	p := writeMatrix(t, dir, oneCell+`suites:
  - name: s
    command: [/bin/true]
    files:
      - {src: good, dst: /opt/good}
      - {src: good/sub/a.txt, dst: /opt/a.txt}
      - {src: fifo, dst: /opt/fifo}
      - {src: big, dst: /opt/big}
      - {src: toppipe, dst: /opt/pipe}
      - {src: nope, dst: /opt/nope}
`)
	_, err := LoadWith(p, LoadOptions{})
	want := []string{
		`m.yaml:10:15: file "fifo" holds sub/pipe, a named pipe: a files: directory may hold only regular files, directories and symbolic links`,
		`m.yaml:11:15: file "big" holds more than 5 entries: the guest's initramfs lives in its memory; copy less, or run the suite in a shared root (rootfs:)`,
		`m.yaml:12:15: file "toppipe" is a named pipe: give a regular file or a directory`,
		`m.yaml:13:15: file "nope" not found`,
	}
	if got := errLines(err, p); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestInputArchFragmentWarnings: a config with arch-fragments is judged
// per architecture, and its warnings name the one they are about.
func TestInputArchFragmentWarnings(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree"), 0o755)
	os.WriteFile(filepath.Join(dir, "smp.config"), []byte("CONFIG_SMP=y\n"), 0o644)
	p := writeMatrix(t, dir, `arch: [x86_64, arm64]
kernels: [{name: k, version: "6.12", source: {path: tree}}]
patchsets: [{name: base}]
configs:
  - {name: tiny, base: tinyconfig, arch-fragments: {arm64: [smp.config]}}
  - {name: tiny-riscv, base: tinyconfig, arch-fragments: {riscv64: [smp.config]}}
vm: {cpus: 4}
`)
	m, err := LoadWith(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`m.yaml:7:12: config "tiny" on x86_64: vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU (CONFIG_SMP: tinyconfig leaves it unset)`,
		`m.yaml:7:12: config "tiny-riscv": vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU (CONFIG_SMP: tinyconfig leaves it unset)`,
	}
	if got := errLines(m.Warnings, p); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
