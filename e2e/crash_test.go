package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const provokeProgram = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// provoke loads LKDTM (a module the builder built and installed; the
// initramfs's /sbin/modprobe is kvmtest's agent) and writes a crash type
// to its trigger file. The arguments after it are sysctls to set first,
// KEY=VALUE with KEY a path under /proc/sys, or --cpu=N: do the write on
// CPU N.
func main() {
	out, modErr := exec.Command("/sbin/modprobe", "-v", "lkdtm").CombinedOutput()
	fmt.Printf("modprobe lkdtm: %s (error: %v)\n", strings.TrimSpace(string(out)), modErr)
	if modErr != nil {
		os.Exit(2)
	}
	for _, a := range os.Args[2:] {
		if n, ok := strings.CutPrefix(a, "--cpu="); ok {
			cpu, _ := strconv.Atoi(n)
			runtime.LockOSThread()
			mask := uint64(1) << cpu
			_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
			fmt.Println("on CPU", cpu, "error:", errno)
			continue
		}
		k, v, _ := strings.Cut(a, "=")
		err := os.WriteFile("/proc/sys/"+k, []byte(v), 0)
		fmt.Println("sysctl", k, "=", v, "error:", err)
	}
	err := os.WriteFile("/sys/kernel/debug/provoke-crash/DIRECT", []byte(os.Args[1]), 0)
	fmt.Println("provoked", os.Args[1], "error:", err)
}
`

// crashMatrix is e2e/testdata/crash.yaml: the minimal config plus LKDTM,
// the watchdogs and pvpanic, one vCPU.
func crashMatrix(t *testing.T) string {
	return filepath.Join(repoRoot(t), "e2e", "testdata", "crash.yaml")
}

// smpCrashMatrix writes crash.yaml with two vCPUs (the same kernel: the
// matrix's fragments are the same files) and returns its path.
func smpCrashMatrix(t *testing.T) string {
	return smpMatrix(t, crashMatrix(t))
}

// smpMatrix writes the matrix of e2e/testdata at path with two vCPUs and
// its files named by absolute paths (the same kernels: the fragments are
// the same files) and returns the copy's path.
func smpMatrix(t *testing.T, path string) string {
	t.Helper()
	root := repoRoot(t)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := string(src)
	for _, r := range [][2]string{
		{"../../", root + "/"},
		{", configs/", ", " + filepath.Join(root, "e2e", "testdata", "configs") + "/"},
		{"\nvm:\n", "\nvm:\n  cpus: 2\n"},
	} {
		if strings.Count(m, r[0]) == 0 {
			t.Fatalf("%s has no %q any more: update smpMatrix", path, r[0])
		}
		m = strings.ReplaceAll(m, r[0], r[1])
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(path), ".yaml")+"-smp.yaml")
	if err := os.WriteFile(out, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// lkdtmLoaded is what provoke prints when the initramfs's modprobe (the
// agent) loaded LKDTM from the module tree the builder installed.
var lkdtmLoaded = regexp.MustCompile(`modprobe lkdtm: insmod /lib/modules/6\.12\.[0-9]+/kernel/drivers/misc/lkdtm/lkdtm\.ko\s+\(error: <nil>\)`)

var crashToGone = regexp.MustCompile(`crash seen on the console to QEMU gone: ([0-9.]+)s`)

// TestCrashDetection provokes real crashes with the kernel's LKDTM (a
// 6.12 kernel with CONFIG_LKDTM, e2e/testdata/crash.yaml) and checks the
// verdict, the one console finding (title and class) and that the kernel
// told QEMU it panicked (pvpanic, QMP GUEST_PANICKED). A panic, a BUG, a
// NULL dereference, a soft lockup, a hung task and a hard lockup end the
// VM as crashed (exit 1), the last three because crash.yaml's command
// line makes the watchdogs panic; a WARNING is recorded while the kernel
// goes on and the program finishes. The watchdog threshold is shortened
// through /proc/sys just before the lockup (soft lockup after 4 s, hard
// lockup after 2 s); the hung task is reported after lkdtm.config's 5 s.
// A hard lockup (interrupts off) is seen only by another CPU (the buddy
// detector; TCG has no PMU for the perf NMI one): that case boots two, and
// locks up CPU 1. CPU 0 keeps the time (a periodic tick, and the
// refined-jiffies clocksource: TCG's TSC is found unstable across two
// vCPUs), so with CPU 0 locked the clock of the whole guest stops and no
// watchdog ever fires.
func TestCrashDetection(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, provokeProgram)
	matrix := crashMatrix(t)
	const pvpanic = "; pvpanic: QEMU saw GUEST_PANICKED)"
	cases := []struct {
		kind    string
		sysctls []string
		cpus    int
		verdict string // the verdict line up to the accelerator
		finding string
		code    int
	}{
		{"PANIC", nil, 1, "kvmtest: crashed (kernel crashed: kernel panic: dumptest" + pvpanic, "kernel panic: dumptest (panic)", 1},
		{"BUG", nil, 1, "kvmtest: crashed (kernel crashed: kernel BUG in lkdtm_BUG" + pvpanic, "kernel BUG in lkdtm_BUG (bug)", 1},
		{"EXCEPTION", nil, 1, "kvmtest: crashed (kernel crashed: BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION" + pvpanic,
			"BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION (oops)", 1},
		{"WARNING", nil, 1, "kvmtest: done (the agent finished and the VM stopped)", "WARNING in lkdtm_WARNING (warning)", 0},
		// An oops that does not panic: the provoking task dies (a Go
		// program's other threads keep it from exiting), the kernel goes
		// on, and the runner stops it once the report is complete.
		{"BUG", []string{"kernel/panic_on_oops=0"}, 1, "kvmtest: crashed (kernel crashed: kernel BUG in lkdtm_BUG; the kernel went on after its report (no panic): stopped after ",
			"kernel BUG in lkdtm_BUG (bug)", 1},
		{"SOFTLOCKUP", []string{"kernel/watchdog_thresh=2"}, 1, "kvmtest: crashed (kernel crashed: BUG: soft lockup in lkdtm_SOFTLOCKUP" + pvpanic,
			"BUG: soft lockup in lkdtm_SOFTLOCKUP (soft-lockup)", 1},
		{"HUNG_TASK", nil, 1, "kvmtest: crashed (kernel crashed: INFO: task hung in lkdtm_HUNG_TASK" + pvpanic,
			"INFO: task hung in lkdtm_HUNG_TASK (hung-task)", 1},
		{"HARDLOCKUP", []string{"kernel/watchdog_thresh=2", "--cpu=1"}, 2, "kvmtest: crashed (kernel crashed: BUG: hard lockup in lkdtm_HARDLOCKUP" + pvpanic,
			"BUG: hard lockup in lkdtm_HARDLOCKUP (hard-lockup)", 1},
	}
	for _, c := range cases {
		name := c.kind
		if slices.Contains(c.sysctls, "kernel/panic_on_oops=0") {
			name += "-goes-on"
		}
		t.Run(name, func(t *testing.T) {
			m := matrix
			if c.cpus == 2 {
				m = smpCrashMatrix(t)
			}
			args := append([]string{"boot", "--matrix", m, "--cell", "6.12-base-lkdtm", "--", prog, c.kind}, c.sysctls...)
			code, out := runKvmtest(t, bin, args...)
			// A kernel that panics at once may take the program's last
			// lines with it: the one that goes on always tells.
			if c.code == 0 && !lkdtmLoaded.MatchString(out) {
				t.Errorf("%s: no line of the guest's modprobe loading lkdtm from the artifact's modules", c.kind)
			}
			findings := regexp.MustCompile(`(?m)^kvmtest: console: .*$`).FindAllString(out, -1)
			if code != c.code || !strings.Contains(out, c.verdict) || len(findings) != 1 || findings[0] != "kvmtest: console: "+c.finding {
				t.Errorf("%s: exit %d, findings %q; want exit %d with %q and the one finding %q", c.kind, code, findings, c.code, c.verdict, c.finding)
			}
			if (c.code == 0 || name != c.kind) && strings.Contains(out, "GUEST_PANICKED") {
				t.Errorf("%s: a kernel that did not panic reported a panic", c.kind)
			}
			if m := crashToGone.FindStringSubmatch(out); m != nil {
				t.Logf("%s: crash seen to QEMU gone %ss", c.kind, m[1])
			}
		})
	}
}

// TestModulesInHostRoot loads a module the builder built (LKDTM, from
// the lkdtm kernel) with the host's own kmod in a shared host root: the
// release's module tree the initramfs carries is bound at
// /lib/modules/RELEASE there, so the host's /sbin/modprobe finds it and
// its modules.dep.bin, and the module shows in /proc/modules.
func TestModulesInHostRoot(t *testing.T) {
	requireE2E(t)
	if _, err := os.Stat("/sbin/modprobe"); err != nil {
		t.Fatal("no /sbin/modprobe on the host: install kmod (scripts/install-deps.sh)")
	}
	bin := kvmtestBinary(t)
	code, out := runKvmtest(t, bin, "boot", "--matrix", crashMatrix(t), "--cell", "6.12-base-lkdtm", "--rootfs", "host", "--",
		"/bin/sh", "-c", "readlink -f /sbin/modprobe; modprobe -v lkdtm && grep -o '^lkdtm [0-9]* 0 - Live' /proc/modules")
	if code != 0 || !regexp.MustCompile(`(?m)^insmod /lib/modules/6\.12\.[0-9]+/kernel/drivers/misc/lkdtm/lkdtm\.ko`).MatchString(out) ||
		!strings.Contains(out, "lkdtm ") || !strings.Contains(out, " 0 - Live") {
		t.Errorf("exit %d; want 0, the host's kmod insmod-ing lkdtm.ko from /lib/modules/6.12.*, and lkdtm live in /proc/modules", code)
	}
}

// TestKernelHang: LKDTM's HARDLOCKUP spins with interrupts off on the
// only CPU, so nothing in the guest runs again and no watchdog can tell
// (the buddy detector needs a second CPU, the perf NMI one a PMU). The
// host's deadline ends it: the cell is timed out with no console finding,
// and QEMU's view of the machine (registers) is taken over QMP before
// QEMU is stopped.
func TestKernelHang(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, provokeProgram)
	code, out := runKvmtest(t, bin, "boot", "--matrix", crashMatrix(t), "--cell", "6.12-base-lkdtm", "--timeout", "5s", "--", prog, "HARDLOCKUP")
	if code != 1 || !strings.Contains(out, "kvmtest: timeout (the guest did not finish within the run timeout") ||
		!strings.Contains(out, "(qemu) info registers") || !strings.Contains(out, "RIP=") {
		t.Errorf("HARDLOCKUP on one CPU: exit %d, want 1 with a timeout verdict and QMP register diagnostics", code)
	}
	if strings.Contains(out, "kvmtest: console:") {
		t.Errorf("a finding for a lockup no watchdog can see")
	}
}

const floodProgram = `package main

import (
	"bytes"
	"fmt"
	"os"
)

// flood writes numbered lines to the console without end.
func main() {
	f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("open /dev/console:", err)
		os.Exit(2)
	}
	pad := bytes.Repeat([]byte("x"), 100)
	var b bytes.Buffer
	for i := 0; ; i++ {
		b.Reset()
		for j := 0; j < 256; j++ {
			fmt.Fprintf(&b, "flood %d.%d %s\n", i, j, pad)
		}
		if _, err := f.Write(b.Bytes()); err != nil {
			fmt.Println("write:", err)
			os.Exit(3)
		}
	}
}
`

// headTail is an io.Writer that counts what it is given and keeps its
// first and last max bytes.
type headTail struct {
	mu         sync.Mutex
	max        int
	n          int64
	head, tail []byte
}

func (h *headTail) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n += int64(len(p))
	if room := h.max - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(room, len(p))]...)
	}
	h.tail = append(h.tail, p...)
	if len(h.tail) > 2*h.max {
		h.tail = append([]byte(nil), h.tail[len(h.tail)-h.max:]...)
	}
	return len(p), nil
}

// TestConsoleFlood: a guest program writes to /dev/console without end
// (about 160 KB/s get through QEMU's emulated UART under TCG). The
// console kvmtest passes on is capped (--console-limit 1M here; 32 MiB by
// default), then one truncation marker; kvmtest's memory stays bounded
// while the guest goes on; the agent kills the program at its deadline
// (--timeout 40s, wall clock), the VM ends (done, exit 1: the program did
// not finish) and QEMU is gone.
func TestConsoleFlood(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	prog := buildGuestProgram(t, floodProgram)
	cmd := exec.Command(bin, "boot", "--cell", "6.12-base-minimal", "--console", "--console-limit", "1M", "--timeout", "40s", "--", prog)
	cmd.Dir = t.TempDir()
	var stdout bytes.Buffer
	stderr := &headTail{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Watch kvmtest's peak memory and its QEMU while it runs.
	var (
		peakKiB int64
		qemus   = map[int]bool{}
		stop    = make(chan struct{})
		watched = make(chan struct{})
	)
	go func() {
		defer close(watched)
		for {
			if kib := vmHWM(cmd.Process.Pid); kib > peakKiB {
				peakKiB = kib
			}
			for _, pid := range childrenNamed(cmd.Process.Pid, "qemu-system") {
				qemus[pid] = true
			}
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-watched
	wall := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	tail := string(stderr.tail)
	t.Logf("kvmtest boot (flood): exit %d after %s, stdout:\n%s\nstderr: %d bytes, ending:\n%s", code, wall.Round(time.Second), stdout.String(), stderr.n, lastLines(tail, 8))
	t.Logf("kvmtest's peak RSS %d MiB; QEMU pids %v", peakKiB>>10, qemus)

	const limit = 1 << 20
	marker := fmt.Sprintf("[kvmtest: console truncated after %d bytes]", limit)
	if stderr.n < limit || stderr.n > limit+int64(len(marker))+8<<10 || strings.Count(tail, marker) != 1 {
		t.Errorf("stderr: %d bytes, %d truncation markers at its end; want the 1 MiB console, one marker and kvmtest's own lines", stderr.n, strings.Count(tail, marker))
	}
	if !bytes.Contains(stderr.head, []byte("Linux version 6.12")) {
		t.Errorf("the console did not start with the kernel's banner")
	}
	if code != 1 || !strings.Contains(tail, "kvmtest: done (the agent finished and the VM stopped)") ||
		!strings.Contains(tail, "the program did not finish within --timeout 40s; the agent killed it") {
		t.Errorf("exit %d; want 1, the VM done and the program killed at its deadline", code)
	}
	if peakKiB == 0 || peakKiB > 128<<10 {
		t.Errorf("kvmtest's peak RSS %d KiB; want it measured and under 128 MiB", peakKiB)
	}
	if len(qemus) == 0 {
		t.Errorf("never saw kvmtest's QEMU")
	}
	for pid := range qemus {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(b), "qemu-system") {
			t.Errorf("QEMU %d still running after kvmtest exited", pid)
		}
	}
}

// vmHWM is the peak resident set size of a process in KiB (0 if unknown).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// childrenNamed returns the children of pid whose command name starts
// with prefix.
func childrenNamed(pid int, prefix string) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(string(b[close+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) || !strings.HasPrefix(string(b[open+1:close]), prefix) {
			continue
		}
		if child, err := strconv.Atoi(strings.TrimSpace(string(b[:open]))); err == nil {
			out = append(out, child)
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
