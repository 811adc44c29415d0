package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/results"
)

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
