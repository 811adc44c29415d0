package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// program writes a /bin/sh script as dir/name (dir created) and returns
// its path.
func program(t *testing.T, dir, name, body string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return script(t, dir, name, body)
}

// runKselftest runs the kselftest runner in this process and returns its
// exit code and stdout, which it checks by parsing it.
func runKselftest(t *testing.T, args ...string) (int, string, *tapRecord) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := kselftestMain(args, &out, &errOut)
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	return code, out.String(), parseTAP(t, strings.TrimSuffix(out.String(), "\n"), false)
}

func TestKselftestRun(t *testing.T) {
	dir := t.TempDir()
	cow := program(t, filepath.Join(dir, "mm"), "cow", `echo 'TAP version 13'
echo '1..2'
echo '# [RUN] vmsplice() + unmap in child ... with base page'
echo 'ok 1 No leak from child into parent'
echo '# [RUN] Basic COW after fork() ... with hugetlb (2048 kB)'
echo 'ok 2 # SKIP need more free huge pages'
echo '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0'`)
	plain := program(t, filepath.Join(dir, "splice"), "plain.sh", `pwd
echo
echo 'on stderr' >&2
echo 'not ok is TAP here'`)
	skip := program(t, dir, "skipper", "echo 'not supported'; exit 4")
	fail := program(t, dir, "failer", "exit 3")
	segv := program(t, dir, "segv", "kill -SEGV $$")
	code, out, r := runKselftest(t, cow, plain, skip, fail, segv, filepath.Join(dir, "missing"))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := splitLines(out)
	for _, want := range []string{
		"KTAP version 1",
		"1..6",
		"  TAP version 13",
		"  # Subtest: cow",
		"  # [RUN] vmsplice() + unmap in child ... with base page",
		"ok 1 cow",
		"  # Subtest: plain.sh",
		"  # " + filepath.Join(dir, "splice"), // its directory
		"  #",
		"  # on stderr",
		"  not ok is TAP here",
		"ok 2 plain.sh",
		"ok 3 skipper # SKIP",
		"not ok 4 failer # exit=3",
		"not ok 5 segv # signal=SIGSEGV",
		"not ok 6 missing # error",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q", want)
		}
	}
	if lines[0] != "KTAP version 1" || lines[1] != "1..6" || lines[2] != "  TAP version 13" || lines[3] != "  # Subtest: cow" {
		t.Errorf("document starts %q, want the version, the plan, the program's version line, then its header", lines[:4])
	}
	want := []string{
		"cow/vmsplice() + unmap in child ... with base page=pass",
		"cow/Basic COW after fork() ... with hugetlb (2048 kB)=skip",
		"cow=pass",
		"plain.sh/is TAP here=fail", // a TAP line stays one
		"plain.sh=pass",
		"skipper=skip",
		"failer=fail",
		"segv=fail",
		"missing=fail",
	}
	if !slices.Equal(r.results(), want) {
		t.Errorf("parsed results\n %q\nwant\n %q", r.results(), want)
	}
	if o := r.output("skipper"); !slices.Contains(o, "  # not supported") {
		t.Errorf("skipper's output %q lacks its line", o)
	}
}

func TestKselftestRunPasses(t *testing.T) {
	dir := t.TempDir()
	ok := program(t, dir, "ok", "echo fine")
	skip := program(t, dir, "skip", "exit 4")
	code, _, r := runKselftest(t, ok, skip)
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if want := []string{"ok=pass", "skip=skip"}; !slices.Equal(r.results(), want) {
		t.Errorf("results %q, want %q", r.results(), want)
	}
	if r.p.Failures() != 0 {
		t.Errorf("%d failures", r.p.Failures())
	}
}

func TestKselftestRunYAML(t *testing.T) {
	dir := t.TempDir()
	prog := program(t, dir, "yaml", `echo 'TAP version 13'
echo '1..1'
echo 'not ok 1 broken'
echo '  ---'
echo '  message: boom'
echo '  ...'
echo 'plain after'
exit 1`)
	_, out, r := runKselftest(t, prog)
	for _, want := range []string{"    ---", "    message: boom", "    ...", "  # plain after"} {
		if !slices.Contains(splitLines(out), want) {
			t.Errorf("no line %q", want)
		}
	}
	if o := r.output("yaml/broken"); !slices.Contains(o, "    message: boom") {
		t.Errorf("output of yaml/broken %q lacks the YAML block", o)
	}
}

func TestKselftestRunTimeout(t *testing.T) {
	dir := t.TempDir()
	hang := program(t, dir, "hang", "sleep 60 &\necho child $!\nsleep 60")
	after := program(t, dir, "after", "exit 0")
	start := time.Now()
	code, out, r := runKselftest(t, "-timeout", "300ms", hang, after)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v with a 300ms timeout", took)
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if want := []string{"hang=fail", "after=pass"}; !slices.Equal(r.results(), want) {
		t.Errorf("results %q, want %q", r.results(), want)
	}
	if !slices.Contains(splitLines(out), "not ok 1 hang # TIMEOUT") {
		t.Error("no TIMEOUT result line")
	}
	pid := childPID(t, out)
	if !processGone(pid) {
		unix.Kill(pid, unix.SIGKILL)
		t.Errorf("the hung program's child %d survived", pid)
	}
}

// childPID finds the pid a program printed as "child PID".
func childPID(t *testing.T, out string) int {
	t.Helper()
	for _, l := range splitLines(out) {
		if s, ok := strings.CutPrefix(l, "  # child "); ok {
			pid, err := strconv.Atoi(s)
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no child pid in %q", out)
	return 0
}

// TestKselftestRunKilled runs the runner as a process and stops it while
// a program runs: the program's process group must go with it, whether
// the runner is asked to stop (SIGTERM) or killed outright (SIGKILL, as
// the agent kills a suite's process group at its deadline).
func TestKselftestRunKilled(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			dir := t.TempDir()
			hang := program(t, dir, "hang", "sleep 60 &\necho child $!\nsleep 60")
			never := program(t, dir, "never", "echo ran")
			cmd := exec.Command(self, kselftestCommand, hang, never)
			// Its own group, so that SIGKILL to its group is what the
			// agent does; the programs' groups are others.
			cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var seen bytes.Buffer
			sc := bufio.NewScanner(io.TeeReader(stdout, &seen))
			pid := 0
			for pid == 0 && sc.Scan() {
				if s, ok := strings.CutPrefix(sc.Text(), "  # child "); ok {
					pid, _ = strconv.Atoi(s)
				}
			}
			if pid == 0 {
				t.Fatalf("no child pid in %q", seen.String())
			}
			if sig == unix.SIGKILL {
				err = unix.Kill(-cmd.Process.Pid, sig)
			} else {
				err = cmd.Process.Signal(sig)
			}
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stdout)
			seen.Write(rest)
			werr := cmd.Wait()
			t.Logf("runner: %v; output:\n%s", werr, seen.String())
			if !processGone(pid) {
				unix.Kill(pid, unix.SIGKILL)
				t.Fatalf("the program's child %d survived the runner's %s", pid, unix.SignalName(sig))
			}
			if sig == unix.SIGTERM {
				if cmd.ProcessState.ExitCode() != 1 {
					t.Errorf("exit code %d, want 1", cmd.ProcessState.ExitCode())
				}
				out := seen.String()
				if !strings.Contains(out, "\nnot ok 1 hang # interrupted by SIGTERM\n") || strings.Contains(out, "never") {
					t.Errorf("output %q: want hang interrupted and never not run", out)
				}
				r := parseTAP(t, strings.TrimSuffix(out, "\n"), false)
				if want := []string{"hang=fail", "test 2=fail"}; !slices.Equal(r.results(), want) {
					t.Errorf("results %q, want %q", r.results(), want)
				}
			}
		})
	}
}

// TestKselftestSuite runs the runner as the agent runs a kselftest suite
// (argv /init kselftest-run PROG..., format ktap) and checks the cases the
// host receives.
func TestKselftestSuite(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, c, dir := newRunner(t)
	cow := program(t, filepath.Join(dir, "mm"), "cow", `echo 'TAP version 13'
echo '1..3'
echo '# [RUN] vmsplice() + unmap in child ... with base page'
echo 'ok 1 No leak from child into parent'
echo '# [RUN] vmsplice() + unmap in child ... with base page'
echo 'not ok 2 Leak from child into parent'
exit 1`)
	gup := program(t, filepath.Join(dir, "mm"), "gup_longterm", "echo '1..0 # SKIP no gup_test'; exit 4")
	status := r.run(context.Background(), proto.Suite{Name: "mm", Argv: []string{self, kselftestCommand, cow, gup},
		Format: proto.FormatKTAP, Timeout: proto.Duration(time.Minute)})
	if status != proto.StatusFail {
		t.Errorf("status %s, want fail", status)
	}
	got := map[string]string{}
	for _, ev := range c.kinds(proto.KindTest) {
		switch a := ev.Test.Action; a {
		case "pass", "fail", "skip":
			got[ev.Test.Test] = a
		}
	}
	const first = "cow/vmsplice() + unmap in child ... with base page"
	want := map[string]string{first: "pass", first + " #2": "fail", "cow/test 3": "fail", "cow": "fail", "gup_longterm": "skip"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cases %v, want %v", got, want)
	}
	if out := c.outputs(); !slices.Equal(out, []string{"KTAP version 1", "1..2"}) {
		t.Errorf("suite output %q", out)
	}
}

func TestKselftestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-timeout", "1s"},
		{"relative/prog"},
		{"-timeout", "-1s", "/bin/true"},
		{"-nope", "/bin/true"},
	} {
		var out, errOut bytes.Buffer
		if code := kselftestMain(args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing, a message", args, code, out.String(), errOut.String())
		}
	}
}

func TestKselftestName(t *testing.T) {
	for prog, want := range map[string]string{
		"/kvmtest/kselftest/mm/cow":            "cow",
		"/x/default_file_splice_read.sh":       "default_file_splice_read.sh",
		"/x/odd#name\n":                        "odd_name_",
		"/kvmtest/kselftest/mm/run_vmtests.sh": "run_vmtests.sh",
	} {
		if got := ksftName(prog); got != want {
			t.Errorf("ksftName(%q) = %q, want %q", prog, got, want)
		}
	}
}
