package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/results"
)

// TestMain makes the test binary kvmtest itself when KVMTEST_TEST_MAIN=1,
// for the tests that run it as a program (the completion scripts').
func TestMain(m *testing.M) {
	if os.Getenv("KVMTEST_TEST_MAIN") == "1" {
		os.Exit(mainExit(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// outputOf runs mainExit(args) and returns its exit status and what it
// wrote to stdout and to stderr.
func outputOf(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	files := [2]*os.File{}
	for i, name := range []string{"stdout", "stderr"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	savedOut, savedErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = files[0], files[1]
	code = mainExit(args)
	os.Stdout, os.Stderr = savedOut, savedErr
	o, _ := os.ReadFile(files[0].Name())
	e, _ := os.ReadFile(files[1].Name())
	return code, string(o), string(e)
}

// TestHelp: asked-for help (help COMMAND, COMMAND --help, COMMAND -h)
// goes to stdout, the same text, with status 0; an unknown help topic or
// command is status 2 with the error on stderr, as go's; a flag error
// prints the flag package's message and a pointer to the help on stderr.
func TestHelp(t *testing.T) {
	_, want, _ := outputOf(t, "help", "run")
	if !strings.HasPrefix(want, "usage: kvmtest run ") || !strings.Contains(want, "--progress") {
		t.Fatalf("help run:\n%s", want)
	}
	for _, args := range [][]string{{"run", "--help"}, {"run", "-h"}, {"run", "vmsplice", "--help"}} {
		code, out, errOut := outputOf(t, args...)
		if code != results.ExitOK || out != want || errOut != "" {
			t.Errorf("%q: exit %d, stdout the same as help run: %v, stderr %q", args, code, out == want, errOut)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := outputOf(t, args...)
		if code != results.ExitOK || !strings.Contains(out, "\trun ") || strings.Contains(out, "__complete") || errOut != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "nosuch"}, "kvmtest help nosuch: unknown help topic. Run 'kvmtest help'.\n"},
		{[]string{"help", "__complete"}, "kvmtest help __complete: unknown help topic. Run 'kvmtest help'.\n"},
		{[]string{"help", "run", "build"}, "Too many arguments given."},
		{[]string{"nosuch"}, "kvmtest nosuch: unknown command\nRun 'kvmtest help' for usage.\n"},
		{[]string{"run", "--nosuch"}, "flag provided but not defined: -nosuch\nusage: kvmtest run [MATRIX|NAME]"},
		{[]string{"run", "--progress=fancy"}, `invalid value "fancy" for flag -progress: want auto, plain or tty`},
	} {
		code, out, errOut := outputOf(t, tc.args...)
		if code != results.ExitBadInput || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d (want 2), stdout %q, stderr %q (want %q)", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestVersion: kvmtest version and kvmtest --version print the version,
// the Go version and what the build information says of the revision.
func TestVersion(t *testing.T) {
	code, a, _ := outputOf(t, "version")
	_, b, _ := outputOf(t, "--version")
	if code != results.ExitOK || a != b {
		t.Errorf("version: exit %d; --version the same: %v\n%s", code, a == b, a)
	}
	for _, want := range []string{"kvmtest version " + engine.Version + "\n", runtime.GOOS + "/" + runtime.GOARCH, "revision: "} {
		if !strings.Contains(a, want) {
			t.Errorf("version lacks %q:\n%s", want, a)
		}
	}
	if code, _, _ := outputOf(t, "version", "extra"); code != results.ExitBadInput {
		t.Errorf("version extra: exit %d, want 2", code)
	}

	saved := readBuildInfo
	defer func() { readBuildInfo = saved }()
	readBuildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "github.com/kvmtest/kvmtest", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
				{Key: "vcs.time", Value: "2026-12-01T02:03:04Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	_, out, _ := outputOf(t, "--version")
	want := "kvmtest version " + engine.Version + "\ngo: go1.99.1 " + runtime.GOOS + "/" + runtime.GOARCH +
		"\nmodule: github.com/kvmtest/kvmtest v1.2.3\nrevision: 0123456789abcdef0123456789abcdef01234567 (2026-12-01T02:03:04Z), with uncommitted changes\n"
	if out != want {
		t.Errorf("--version with VCS information:\n got %q\nwant %q", out, want)
	}
	readBuildInfo = func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true }
	if _, out, _ := outputOf(t, "version"); !strings.Contains(out, "revision: unknown (built without VCS information") || strings.Contains(out, "module:") {
		t.Errorf("version without VCS information:\n%s", out)
	}
}

// completionMatrix writes a matrix of two cells (6.12-base-minimal,
// 6.12-fix-minimal) into a new directory, with the cache there too, and
// returns the directory.
func completionMatrix(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("KVMTEST_CACHE", filepath.Join(dir, "cache"))
	if err := os.Mkdir(filepath.Join(dir, "linux"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := `kernels: [{name: "6.12", version: "6.12", source: {path: linux}}]
patchsets: [{name: base}, {name: fix}]
configs: [{name: minimal, base: tinyconfig}]
`
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestComplete: what __complete offers for a command line: commands,
// flags, enumerated flag values (from the usage lines), the cell ids of
// the matrix on the line, the shipped matrices and file names.
func TestComplete(t *testing.T) {
	dir := completionMatrix(t)
	m := filepath.Join(dir, "m.yaml")
	for _, tc := range []struct {
		line  []string
		want  string
		files bool
	}{
		{[]string{""}, "--help --version bisect boot build cache compare completion doctor help merge plan report run triage validate version", false},
		{[]string{"r"}, "report run", false},
		{[]string{"help", "ve"}, "version", false},
		{[]string{"run", "--pro"}, "--progress", false},
		{[]string{"run", "--progress", ""}, "auto plain tty", false},
		{[]string{"build", "--progress=t"}, "--progress=tty", false},
		{[]string{"run", "--accel", "k"}, "kvm", false},
		{[]string{"boot", "--accel", ""}, "auto kvm tcg", false},
		{[]string{"plan", "--format", ""}, "github json text", false},
		{[]string{"report", "--format="}, "--format=html --format=json --format=junit --format=md", false},
		{[]string{"cache", ""}, "gc ls path", false},
		{[]string{"completion", ""}, "bash fish zsh", false},
		{[]string{"run", ""}, "default quick vmsplice vmsplice-arch", true},
		{[]string{"run", "q"}, "quick", true},
		{[]string{"run", m, ""}, "", false},
		{[]string{"validate", m, ""}, "default quick vmsplice vmsplice-arch", true},
		{[]string{"run", m, "--cell", ""}, "6.12-base-minimal 6.12-fix-minimal", false},
		{[]string{"run", "--quiet", m, "--cell", "6.12-f"}, "6.12-fix-minimal", false},
		{[]string{"build", m, "--cell=6.12-b"}, "--cell=6.12-base-minimal", false},
		{[]string{"boot", "--matrix", m, "--cell", ""}, "6.12-base-minimal 6.12-fix-minimal", false},
		{[]string{"run", "--out", ""}, "", true},
		{[]string{"compare", "a", ""}, "", true},
		{[]string{"compare", "a", "b", ""}, "", false},
		{[]string{"boot", "--cell", "x", "--", ""}, "", true},
		{[]string{"doctor", ""}, "", false},
		{[]string{"nosuch", ""}, "", false},
		{[]string{"__complete", ""}, "", false},
	} {
		got, files := complete(tc.line)
		if strings.Join(got, " ") != tc.want || files != tc.files {
			t.Errorf("complete(%q) = %q, files %v; want %q, files %v", tc.line, got, files, tc.want, tc.files)
		}
	}
	code, out, _ := outputOf(t, "__complete", "run", "--progress", "")
	if code != results.ExitOK || out != "auto\nplain\ntty\n" {
		t.Errorf("__complete run --progress '': exit %d, %q", code, out)
	}
	if _, out, _ := outputOf(t, "__complete", "run", "q"); out != "quick\n:files\n" {
		t.Errorf("__complete run q: %q", out)
	}
}

// TestCompletionScripts: kvmtest completion prints each shell's script
// (each parses in its shell when that shell is installed), refuses
// another shell, and bash's script, driven as bash drives it (COMP_LINE,
// COMP_POINT, COMP_WORDS split at "="), completes from this kvmtest.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := outputOf(t, "completion", sh)
		if code != results.ExitOK || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: exit %d\n%s", sh, code, out)
			continue
		}
		bin, err := exec.LookPath(sh)
		if err != nil {
			t.Logf("no %s here: its script is not parsed", sh)
			continue
		}
		cmd := exec.Command(bin, "-n")
		if sh == "fish" {
			cmd = exec.Command(bin, "--no-execute")
		}
		cmd.Stdin = strings.NewReader(out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, msg)
		}
	}
	if code, _, errOut := outputOf(t, "completion", "tcsh"); code != results.ExitBadInput || !strings.Contains(errOut, "bash, zsh, fish") {
		t.Errorf("completion tcsh: exit %d, %q", code, errOut)
	}

	dir := completionMatrix(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nKVMTEST_TEST_MAIN=1 exec '" + exe + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "kvmtest"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `source <(kvmtest completion bash) || exit 1
# comp LINE WORDS...: complete at the end of LINE, bash having split it into WORDS.
comp() {
	COMP_LINE=$1 COMP_POINT=${#1}
	shift
	COMP_WORDS=("$@") COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_kvmtest
	echo "[${COMPREPLY[*]}]"
}
comp 'kvmtest ru' kvmtest ru
comp 'kvmtest run --progress ' kvmtest run --progress ''
comp 'kvmtest run m.yaml --cell ' kvmtest run m.yaml --cell ''
comp 'kvmtest run m.yaml --cell=6.12-f' kvmtest run m.yaml --cell = 6.12-f
comp 'kvmtest run m.y' kvmtest run m.y
comp 'kvmtest report --out=li' kvmtest report --out = li
`
	shell(t, dir, "bash", []string{"--norc", "--noprofile", "-c", script},
		"[run]\n[auto plain tty]\n[6.12-base-minimal 6.12-fix-minimal]\n[6.12-fix-minimal]\n[m.yaml]\n[linux]\n")

	// zsh's completion functions stand in for compadd and _files.
	script = `compdef() { :; }
source <(kvmtest completion zsh) || exit 1
compadd() { [[ $1 == -- ]] && shift; print -r -- "[$*]"; }
_files() { print -r -- "[files]"; }
comp() { words=("$@"); CURRENT=$#; _kvmtest; }
comp kvmtest ru
comp kvmtest run --progress ''
comp kvmtest run m.yaml --cell ''
comp kvmtest run m.yaml --cell=6.12-f
comp kvmtest run m.
`
	shell(t, dir, "zsh", []string{"-f", "-c", script},
		"[run]\n[auto plain tty]\n[6.12-base-minimal 6.12-fix-minimal]\n[--cell=6.12-fix-minimal]\n[files]\n")

	script = `kvmtest completion fish | source; or exit 1
for line in "kvmtest ru" "kvmtest run --progress " "kvmtest run m.yaml --cell " "kvmtest run m.yaml --cell=6.12-f" "kvmtest run m." "kvmtest report --out li"
	echo "["(complete -C "$line")"]"
end
`
	shell(t, dir, "fish", []string{"--no-config", "-c", script},
		"[run]\n[auto] [plain] [tty]\n[6.12-base-minimal] [6.12-fix-minimal]\n[--cell=6.12-fix-minimal]\n[m.yaml]\n[linux/]\n")
}

// shell runs the shell sh (skipping when it is not installed) with args
// in dir, the kvmtest wrapper in dir first on PATH, and checks its output.
func shell(t *testing.T, dir, sh string, args []string, want string) {
	t.Helper()
	bin, err := exec.LookPath(sh)
	if err != nil {
		t.Logf("no %s here: its completion is not tested", sh)
		return
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v\n%s", sh, err, out)
		return
	}
	if string(out) != want {
		t.Errorf("%s completion:\n got %q\nwant %q", sh, out, want)
	}
}
