// Package e2e holds kvmtest's end-to-end tests: they build the real kernel
// from Debian's linux-source tarball (cached under the user cache, so a
// warm run skips the build), boot it in real QEMU and run the real guest
// suites. They run only with KVMTEST_E2E=1 (`make test-e2e`).
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/results"
)

func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("KVMTEST_E2E") != "1" {
		t.Skip("end-to-end test: set KVMTEST_E2E=1 (make test-e2e)")
	}
	for _, f := range []string{"/usr/src/linux-source-6.12.tar.xz"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s missing: run scripts/install-deps.sh", f)
		}
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 missing: run scripts/install-deps.sh")
	}
}

// kvmtestBinary builds the command once per test binary.
func kvmtestBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kvmtest")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kvmtest")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeTempMatrix writes a matrix test text as NAME in a temporary
// directory and returns its path.
func writeTempMatrix(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// runKvmtest runs the binary from a directory that is not the checkout (the
// default matrix is embedded) and returns its exit code and output.
func runKvmtest(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	t.Logf("kvmtest %s:\n%s", strings.Join(args, " "), out)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("running kvmtest: %v", err)
	}
	return 0, string(out)
}

// TestQuickMatrix runs the shipped `quick` matrix: one real 6.12 kernel,
// the vmsplice suite. On the unpatched kernel the buffer-stability test
// must fail (pages are shared), which the matrix declares as expected, so
// the run exits 0. A second run must build nothing.
func TestQuickMatrix(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	code, _ := runKvmtest(t, bin, "run", "quick", "--out", out)
	if code != 0 {
		t.Fatalf("kvmtest run exited %d, want 0", code)
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Cells) != 1 {
		t.Fatalf("got %d cells, want 1", len(run.Cells))
	}
	c := run.Cells[0]
	if c.ID != "6.12-base-minimal" || c.Status != results.StatusPassed {
		t.Fatalf("cell %s status %s (%s), want 6.12-base-minimal passed", c.ID, c.Status, c.Reason)
	}
	if !strings.HasPrefix(c.KernelRelease, "6.12.") {
		t.Errorf("kernel release %q, want 6.12.x", c.KernelRelease)
	}
	stable := findTest(t, c, "vmsplice", "TestVmspliceBufferIsStable")
	if stable.Status != results.Fail || !stable.AsExpected || stable.Expected != results.Fail {
		t.Errorf("TestVmspliceBufferIsStable: status %s expected %q as-expected %v; want an expected fail on unpatched 6.12", stable.Status, stable.Expected, stable.AsExpected)
	}
	if !strings.Contains(stable.Output, "B") {
		t.Errorf("TestVmspliceBufferIsStable output does not report the bytes read back:\n%s", stable.Output)
	}

	// events.jsonl holds the real test2json events from the guest.
	cellDir := filepath.Join(out, "cells", c.ID)
	evs := readEvents(t, filepath.Join(cellDir, "events.jsonl"))
	var hello, done, failEv bool
	for _, e := range evs {
		switch {
		case e.Kind == proto.KindHello:
			hello = strings.HasPrefix(e.Message, "6.12.")
		case e.Kind == proto.KindDone:
			done = true
		case e.Kind == proto.KindTest && e.Test.Test == "TestVmspliceBufferIsStable" && e.Test.Action == "fail":
			failEv = true
		}
	}
	if !hello || !done || !failEv {
		t.Errorf("events.jsonl: hello from 6.12 %v, done %v, fail event for TestVmspliceBufferIsStable %v; want all", hello, done, failEv)
	}
	// cells/ID/test2json.jsonl is plain test2json: the real gotestsum
	// reads it, and counts what run.json says. The run's own stream is
	// the cell's.
	checkGotestsum(t, filepath.Join(cellDir, results.Test2JSONFile), c)
	whole, err := os.ReadFile(filepath.Join(out, results.Test2JSONFile))
	if err != nil || !bytes.Equal(whole, results.Test2JSON(c)) {
		t.Errorf("%s: %v; want the cell's stream", results.Test2JSONFile, err)
	}
	for _, f := range []string{"build.log", "kernel.config", "console.log"} {
		if fi, err := os.Stat(filepath.Join(cellDir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("cells/%s/%s missing or empty", c.ID, f)
		}
	}
	console, _ := os.ReadFile(filepath.Join(cellDir, "console.log"))
	if !strings.Contains(string(console), "Linux version 6.12") {
		t.Errorf("console.log has no kernel banner")
	}

	// A second run of the same matrix builds nothing.
	out2 := filepath.Join(t.TempDir(), "results2")
	if code, _ := runKvmtest(t, bin, "run", "quick", "--out", out2); code != 0 {
		t.Fatalf("second run exited %d", code)
	}
	run2, err := results.Read(out2)
	if err != nil {
		t.Fatal(err)
	}
	if c2 := run2.Cells[0]; !c2.BuildCached || c2.ArtifactKey != c.ArtifactKey {
		t.Errorf("second run: build cached %v key %s; want cached with key %s", c2.BuildCached, c2.ArtifactKey, c.ArtifactKey)
	}
}

// gotestsumVersion is the gotestsum of go.mod (its testjson parser
// reads the streams in unit tests).
const gotestsumVersion = "v1.13.0"

// checkGotestsum runs the real gotestsum on the test2json stream at path
// and checks its count of tests, skips and failures against cell c of
// run.json: every test of every suite and every console finding is a
// test; a failure the matrix expects and a skip are skipped; a result
// not as expected and a finding are failures, and so is a suite that
// failed though none of its tests did.
func checkGotestsum(t *testing.T, path string, c *results.Cell) {
	t.Helper()
	bin := t.TempDir()
	install := exec.Command("go", "install", "gotest.tools/gotestsum@"+gotestsumVersion)
	install.Dir = t.TempDir()
	install.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install gotestsum: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(bin, "gotestsum"), "--format", "standard-verbose", "--raw-command", "--", "cat", path)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gotestsum on %s: %v\n%s", path, err, out)
	}
	m := regexp.MustCompile(`(?m)^DONE (\d+) tests?(?:, (\d+) skipped)?(?:, (\d+) failures?)?(?:, (\d+) errors?)? in `).FindSubmatch(out)
	if m == nil {
		t.Fatalf("gotestsum printed no DONE line:\n%s", out)
	}
	count := func(b []byte) int { n, _ := strconv.Atoi(string(b)); return n }
	tests, skipped, failed, errs := count(m[1]), count(m[2]), count(m[3]), count(m[4])
	wantTests, wantSkipped, wantFailed := len(c.Findings), 0, len(c.Findings)
	for _, s := range c.Suites {
		unexpected := 0
		for _, tt := range s.Tests {
			wantTests++
			switch {
			case !tt.AsExpected:
				unexpected++
			case tt.Status != results.Pass:
				wantSkipped++
			}
		}
		wantFailed += unexpected
		if !s.AsExpected && unexpected == 0 {
			wantFailed++
		}
	}
	if tests != wantTests || skipped != wantSkipped || failed != wantFailed || errs != 0 {
		t.Errorf("gotestsum counts %d tests, %d skipped, %d failed, %d errors; run.json has %d, %d, %d, 0\n%s",
			tests, skipped, failed, errs, wantTests, wantSkipped, wantFailed, out)
	}
	for _, s := range c.Suites {
		if pkg := results.Test2JSONPackage(c.ID, s.Name); !bytes.Contains(out, []byte(pkg)) {
			t.Errorf("gotestsum does not list %s:\n%s", pkg, out)
		}
	}
}

func findTest(t *testing.T, c *results.Cell, suite, test string) *results.Test {
	t.Helper()
	for _, s := range c.Suites {
		if s.Name != suite {
			continue
		}
		for _, tt := range s.Tests {
			if tt.Name == test {
				return tt
			}
		}
	}
	t.Fatalf("no result for %s/%s in cell %s", suite, test, c.ID)
	return nil
}

func readEvents(t *testing.T, path string) []proto.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []proto.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, proto.MaxLineBytes)
	for sc.Scan() {
		var e proto.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		if e.Kind == proto.KindTest && e.Test == nil {
			t.Fatalf("%s: test event without test: %q", path, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

const guestProgram = `package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

func main() {
	b, _ := os.ReadFile("/proc/version")
	fmt.Print("guest says: ", string(b))
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "crash":
			os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
		case "hang":
			for {
				time.Sleep(time.Hour)
			}
		case "poweroff": // the VM stops under the agent's feet
			syscall.Sync()
			syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
		}
	}
	os.Exit(3)
}
`

// TestBootProgramAndCrash boots the default matrix's kernel with
// `kvmtest boot`: a program's output and exit status come back, and a
// kernel crash (sysrq c) is detected from the console and ends the VM at
// once with exit status 1.
func TestBootProgramAndCrash(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, guestProgram)

	code, out := runKvmtest(t, bin, "boot", "--cell", "6.12-base-minimal", "--", prog)
	if code != 3 || !strings.Contains(out, "guest says: Linux version 6.12") {
		t.Errorf("boot: exit %d, want the program's 3 and its output", code)
	}
	code, out = runKvmtest(t, bin, "boot", "--cell", "6.12-base-minimal", "--", prog, "crash")
	if code != 1 || !strings.Contains(out, "kvmtest: crashed") || !strings.Contains(out, "sysrq triggered crash") ||
		!strings.Contains(out, "crash seen on the console to QEMU gone") {
		t.Errorf("boot crash: exit %d, want 1 with a crash verdict naming the sysrq panic", code)
	}
	// A program that hangs is killed by the agent at its deadline; the VM
	// still ends cleanly.
	code, out = runKvmtest(t, bin, "boot", "--cell", "6.12-base-minimal", "--timeout", "3s", "--", prog, "hang")
	if code != 1 || !strings.Contains(out, "did not finish within --timeout 3s") || !strings.Contains(out, "kvmtest: done") {
		t.Errorf("boot hang: exit %d, want 1 with the program killed at its timeout and the VM done", code)
	}
	// A guest that stops before the agent reports is not a result.
	code, out = runKvmtest(t, bin, "boot", "--cell", "6.12-base-minimal", "--", prog, "poweroff")
	if code != 3 || !strings.Contains(out, "the VM stopped before the guest agent finished") {
		t.Errorf("boot poweroff: exit %d, want 3 (no result) naming the early stop", code)
	}
}

// TestInfrastructureFailures: QEMU killed from outside in the middle of a
// run is an infrastructure failure (exit 3, cell boot-failed), never a
// test failure.
func TestInfrastructureFailures(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	cmd := startRun(t, bin, out)
	exec.Command("pkill", "-9", "-f", "qemu-system.*"+out).Run()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("QEMU killed mid-run: %v, want exit status 3", err)
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := run.Cells[0]; c.Status != results.StatusBootFailed || !strings.Contains(c.Reason, "QEMU failed: signal: killed") {
		t.Errorf("cell after QEMU was killed: %s (%s), want boot-failed naming the signal", c.Status, c.Reason)
	}
	// A file that is not a kernel never reaches QEMU now: it is bad
	// input, refused before the boot (TestBootChecks).
}

// buildGuestProgram compiles a one-file Go program as a static binary for
// the guest and returns its path.
func buildGuestProgram(t *testing.T, source string) string {
	t.Helper()
	return buildGuestProgramFor(t, source, "")
}

// buildGuestProgramFor is buildGuestProgram for GOARCH goarch ("": the
// host's).
func buildGuestProgramFor(t *testing.T, source, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(source), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module guestprog\ngo 1.26\n"), 0o644)
	build := exec.Command("go", "build", "-o", "prog", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goarch != "" {
		build.Env = append(build.Env, "GOARCH="+goarch)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the guest program: %v\n%s", err, out)
	}
	return filepath.Join(dir, "prog")
}

// startRun starts `kvmtest run quick --out out` and returns once the guest
// runs its suite; the caller signals it and collects it with Wait.
func startRun(t *testing.T, bin, out string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "run", "quick", "--out", out)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "suite vmsplice") {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd
		}
	}
	cmd.Wait()
	t.Fatal("the run never reached the suite")
	return nil
}

// TestBootShell: `kvmtest boot` with no program gives busybox's shell on
// the guest's console; a script piped in runs there, its output comes
// back, and the shell's exit status is kvmtest's.
func TestBootShell(t *testing.T) {
	requireE2E(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("/bin/busybox missing: run scripts/install-deps.sh (busybox-static)")
	}
	bin := kvmtestBinary(t)
	cmd := exec.Command(bin, "boot", "--cell", "6.12-base-minimal")
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader("echo hello-$((6*7)) from $(uname -r); exit 3\n")
	out, err := cmd.CombinedOutput()
	t.Logf("kvmtest boot (shell):\n%s", out)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 || !strings.Contains(string(out), "hello-42 from 6.12.") {
		t.Errorf("shell: %v, want exit status 3 and the script's output from the guest", err)
	}
}

// quickKernel builds (or finds cached) the quick matrix's kernel and
// returns its artifact directory (bzImage, config).
func quickKernel(t *testing.T, bin string) string {
	t.Helper()
	code, out := runKvmtest(t, bin, "build", "quick")
	f := strings.Fields(out)
	if code != 0 || len(f) < 3 {
		t.Fatalf("kvmtest build quick: exit %d", code)
	}
	for _, w := range f {
		if fi, err := os.Stat(filepath.Join(w, "bzImage")); err == nil && fi.Mode().IsRegular() {
			return w
		}
	}
	t.Fatalf("kvmtest build quick printed no artifact directory")
	return ""
}

// TestBootChecks: what `kvmtest boot --kernel` checks before QEMU starts.
// A file that is not a kernel image and modules of another release are
// bad input (exit 2); a kernel without a known config boots anyway and
// says so; a config that lacks what a shared root needs is refused,
// naming it (exit 3), and nothing boots.
func TestBootChecks(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	art := quickKernel(t, bin)
	image := filepath.Join(art, "bzImage")
	mods := filepath.Join(t.TempDir(), "9.9.9")
	os.MkdirAll(mods, 0o755)
	cfg, err := os.ReadFile(filepath.Join(art, "config"))
	if err != nil {
		t.Fatal(err)
	}
	var stripped []string
	for _, l := range strings.Split(string(cfg), "\n") {
		if !strings.HasPrefix(l, "CONFIG_VIRTIO_FS=") && !strings.HasPrefix(l, "CONFIG_9P_FS=") {
			stripped = append(stripped, l)
		}
	}
	noShare := filepath.Join(t.TempDir(), "config")
	os.WriteFile(noShare, []byte(strings.Join(stripped, "\n")), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not a kernel", []string{"--kernel", "/etc/passwd", "--", "/bin/true"}, 2, "is not a kernel image"},
		{"modules of another release", []string{"--kernel", image, "--modules", mods, "--", "/bin/true"}, 2, "are for 9.9.9, the image is 6.12."},
		{"no config", []string{"--kernel", image, "--", "/bin/busybox", "true"}, 0, "no config found for the kernel: its requirements are not checked, booting anyway"},
		{"no share in the config", []string{"--kernel", image, "--config", noShare, "--rootfs", "host", "--", "/bin/true"}, 3,
			"rootfs / needs CONFIG_VIRTIO_FS or CONFIG_9P_FS with CONFIG_NET_9P_VIRTIO (neither is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runKvmtest(t, bin, append([]string{"boot"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q", code, tc.code, tc.want)
			}
			if tc.code != 0 && strings.Contains(out, "Linux version") {
				t.Errorf("the kernel booted")
			}
		})
	}
}
