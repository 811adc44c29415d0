package triage

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func fixtures(t testing.TB) []string {
	t.Helper()
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return logs
}

// TestFixtures compares the findings in each testdata/NAME.log with
// testdata/NAME.golden. Run with -update to rewrite the golden files after a
// deliberate change, and review the diff.
func TestFixtures(t *testing.T) {
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".log")
		t.Run(name, func(t *testing.T) {
			log, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(Scan(log), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(path, ".log") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("findings differ from %s:\n%s", golden, got)
			}
		})
	}
}

// TestHeadlines checks one header line per kind of report: its class,
// headline and whether it is fatal.
func TestHeadlines(t *testing.T) {
	tests := []struct {
		line     string
		class    Class
		headline string
		fatal    bool
	}{
		{"Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", ClassPanic, "kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)", true},
		{"Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", ClassPanic, "kernel panic: Attempted to kill init! exitcode=ADDR", true},
		{"Kernel panic - not syncing: sysrq triggered crash", ClassPanic, "kernel panic: sysrq triggered crash", true},
		{"BUG: unable to handle page fault for address: ffffc90000a1b000", ClassOops, "BUG: unable to handle kernel paging request", true},
		{"BUG: kernel NULL pointer dereference, address: 0000000000000008", ClassOops, "BUG: unable to handle kernel NULL pointer dereference", true},
		{"Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000", ClassOops, "BUG: unable to handle kernel NULL pointer dereference", true},
		{"Oops: general protection fault, probably for non-canonical address 0xdffffc0000000000: 0000 [#1] PREEMPT SMP KASAN NOPTI", ClassGPF, "general protection fault", true},
		{"Oops: divide error: 0000 [#1] PREEMPT SMP NOPTI", ClassOops, "divide error", true},
		{"Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", ClassOops, "invalid opcode", true},
		{"PANIC: double fault, error_code: 0x0", ClassOops, "PANIC: double fault", true},
		{"kernel BUG at fs/splice.c:1234!", ClassBug, "kernel BUG", true},
		{"kernel BUG at lib/list_debug.c:56!", ClassBug, "BUG: corrupted list", true},
		{"WARNING: CPU: 0 PID: 1 at fs/splice.c:99 splice_to_pipe+0x1c/0x40", ClassWarning, "WARNING", false},
		{"WARNING: fs/splice.c:99 at splice_to_pipe+0x1c/0x40, CPU#0: init/1", ClassWarning, "WARNING", false},
		{"WARNING: at fs/splice.c:99 splice_to_pipe()", ClassWarning, "WARNING", false},
		{"WARNING: CPU: 1 PID: 7 at lib/refcount.c:28 refcount_warn_saturate+0xba/0x110", ClassWarning, "WARNING: refcount bug", false},
		{"BUG: KASAN: slab-use-after-free in pipe_read+0x5a/0x600", ClassKASAN, "KASAN: slab-use-after-free", true},
		{"BUG: KASAN: double-free in kfree+0x10/0x20", ClassKASAN, "KASAN: invalid-free", true},
		{"BUG: KFENCE: out-of-bounds read in test_out_of_bounds_read+0x1/0x2", ClassKFENCE, "KFENCE: out-of-bounds read", true},
		{"BUG: KMSAN: uninit-value in pipe_write+0x1/0x2", ClassKMSAN, "KMSAN: uninit-value", false},
		{"BUG: KCSAN: data-race in pipe_read / pipe_write", ClassKCSAN, "KCSAN: data-race", false},
		{"UBSAN: array-index-out-of-bounds in fs/splice.c:42:7", ClassUBSAN, "UBSAN: array-index-out-of-bounds", false},
		{"UBSAN: shift-out-of-bounds in lib/foo.c:1:2", ClassUBSAN, "UBSAN: shift-out-of-bounds", false},
		{"WARNING: possible circular locking dependency detected", ClassLockdep, "WARNING: possible circular locking dependency detected", false},
		{"WARNING: inconsistent lock state", ClassLockdep, "inconsistent lock state", false},
		{"WARNING: suspicious RCU usage", ClassLockdep, "WARNING: suspicious RCU usage", false},
		{"rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", ClassRCUStall, "INFO: rcu detected stall", false},
		{"rcu: INFO: rcu_sched self-detected stall on CPU", ClassRCUStall, "INFO: rcu detected stall", false},
		{"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [init:1]", ClassSoftLockup, "BUG: soft lockup", false},
		{"watchdog: Watchdog detected hard LOCKUP on cpu 1", ClassHardLockup, "BUG: hard lockup", false},
		{"INFO: task init:1 blocked for more than 122 seconds.", ClassHungTask, "INFO: task hung", false},
		{"BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580", ClassBug, "BUG: sleeping function called from invalid context", false},
		{"BUG: scheduling while atomic: init/1/0x00000002", ClassBug, "BUG: scheduling while atomic", false},
		{"BUG: Bad page state in process init  pfn:1a2b3", ClassBug, "BUG: Bad page state", false},
		{"BUG kmalloc-64 (Not tainted): Object already free", ClassBug, "BUG: Object already free", true},
		{"kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)", ClassLeak, "memory leak", false},
		{"BUG: memory leak", ClassLeak, "memory leak", false},
		{"rust_kernel: panicked at rust/kernel/lib.rs:1:1:", ClassPanic, "rust_kernel: panicked", true},
		// kernel/panic.c __warn() since 6.19, and CONFIG_DEBUG_BUGVERBOSE_DETAILED's condition.
		{"WARNING: [ptr == NULL] kernel/foo.c:12 at foo_bar+0x1c/0x40, CPU#0: init/1", ClassWarning, "WARNING", false},
		{"WARNING: [a[0] && b] == 1] kernel/foo.c:12 at foo_bar+0x1c/0x40, CPU#0: a b [c]/1", ClassWarning, "WARNING", false},
		{"WARNING: CPU: 0 PID: 1 at [x > 1] kernel/foo.c:12 foo_bar+0x1c/0x40", ClassWarning, "WARNING", false},
		{"WARNING: [refcount_read(&r->refs) == 0] lib/refcount.c:28 at refcount_warn_saturate+0xba/0x110, CPU#1: x/2", ClassWarning, "WARNING: refcount bug", false},
		{"WARNING: at foo_bar+0x1c/0x40, CPU#1: kworker/u8:2/55", ClassWarning, "WARNING", false},
		{"WARNING: at 0xffffffffc0123456, CPU#1: insmod/55", ClassWarning, "WARNING", false},
		{"WARNING: at fs/foo.c:12", ClassWarning, "WARNING", false},
		{"WARNING: at ffffffff81234567 [verbose debug info unavailable]", ClassWarning, "WARNING", false},
		// arch/arm64/mm/fault.c and arch/riscv/mm/fault.c die_kernel_fault().
		{"Unable to handle kernel access to user memory outside uaccess routines at virtual address 0000000020000000", ClassOops, "BUG: unable to handle kernel access to user memory", true},
		{"Unable to handle kernel access to user memory without uaccess routines at virtual address 000000002749f0d0", ClassOops, "BUG: unable to handle kernel access to user memory", true},
		{"BUG: unable to handle kernel access to user memory", ClassOops, "BUG: unable to handle kernel access to user memory", true},
		{"Unable to handle kernel execution of user memory at virtual address 0000000020000000", ClassOops, "BUG: unable to handle kernel execution of user memory", true},
		{"Unable to handle kernel write to read-only memory at virtual address ffff800081234000", ClassOops, "BUG: unable to handle kernel write to read-only memory", true},
		{"Unable to handle kernel level 3 translation fault at virtual address ffff800081234000", ClassOops, "BUG: unable to handle kernel level NUM translation fault", true},
		// arm64 die() (arch/arm64/kernel/traps.c) and die_kernel_fault()
		// (arch/arm64/mm/fault.c); riscv die() (arch/riscv/kernel/traps.c).
		{"Unable to handle kernel paging request at virtual address ffff800081234000", ClassOops, "BUG: unable to handle kernel paging request", true},
		{"Internal error: Oops: 0000000096000005 [#1] PREEMPT SMP", ClassOops, "Internal error", true},
		{"Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP", ClassBug, "kernel BUG", true},
		{"Internal error: Oops - BUG: 00000000f2000800 [#1] SMP", ClassBug, "kernel BUG", true},
		{"Internal error: Oops - Undefined instruction: 0000000002000000 [#1] PREEMPT SMP", ClassOops, "invalid opcode", true},
		{"Internal error: synchronous external abort: 0000000096000010 [#1] PREEMPT SMP", ClassOops, "Internal error", true},
		{"Oops [#1]", ClassOops, "Oops", true},
		{"Kernel BUG [#1]", ClassBug, "kernel BUG", true},
		{"Oops - illegal instruction [#1]", ClassOops, "invalid opcode", true},
		{"Oops - load access fault [#2]", ClassOops, "Oops - load access fault", true},
		{"Oops - store (or AMO) address misaligned [#1]", ClassOops, "Oops - store (or AMO) address misaligned", true},
		// net/core/dev.c, fs/open.c.
		{"unregister_netdevice: waiting for lo to become free. Usage count = 2", ClassHungTask, "unregister_netdevice: waiting for DEV to become free", false},
		{"unregister_netdevice: waiting for veth0@if3 to become free. Usage count = 12", ClassHungTask, "unregister_netdevice: waiting for DEV to become free", false},
		{"VFS: Close: file count is 0", ClassBug, "VFS: Close: file count is 0", false},
		{"VFS: Close: file count is 0 (f_op=ext4_file_operations)", ClassBug, "VFS: Close: file count is 0", false},
		// kernel/hung_task.c with task names a task chose (prctl(PR_SET_NAME)).
		{"INFO: task  [weird]:45 blocked for more than 143 seconds.", ClassHungTask, "INFO: task hung", false},
		{"INFO: task a:b c:45 blocked for more than 143 seconds.", ClassHungTask, "INFO: task hung", false},
		{"INFO: task :45 blocked for more than 143 seconds.", ClassHungTask, "INFO: task hung", false},
		{"INFO: task \xff\x1b[0m\t:45 blocked for more than 143 seconds.", ClassHungTask, "INFO: task hung", false},
		{"INFO: task (sd-worker):45 blocked for more than 143 seconds.", ClassHungTask, "INFO: task hung", false},
		{"name:44 blocked for more than 122 seconds.", ClassHungTask, "INFO: task hung", false},
		{"INFO: task a b:7 can't die for more than 120 seconds.", ClassHungTask, "INFO: task can't die", false},
	}
	for _, tt := range tests {
		fs := Scan([]byte("[    1.000000] " + tt.line + "\n"))
		if len(fs) != 1 {
			t.Errorf("%q: %d findings, want 1", tt.line, len(fs))
			continue
		}
		f := fs[0]
		if f.Class != tt.class || f.Headline != tt.headline || f.Fatal != tt.fatal {
			t.Errorf("%q:\n got %s %q fatal=%v\nwant %s %q fatal=%v", tt.line, f.Class, f.Headline, f.Fatal, tt.class, tt.headline, tt.fatal)
		}
	}
}

// TestKeysAreSound: the literal prefilter never hides a line from a rule
// whose header matches it.
func TestKeysAreSound(t *testing.T) {
	var lines []string
	for _, path := range fixtures(t) {
		log, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(string(log), "\n")...)
	}
	for _, path := range []string{"triage_test.go"} { // the example lines above
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(string(src), "\n")...)
	}
	for _, line := range lines {
		msg, _ := strip(line)
		msg = strings.TrimLeft(msg, " \t")
		present := findKeys(msg)
		for _, x := range rules {
			if x.header.MatchString(msg) && !x.anyKey && !x.keys.intersects(present) {
				t.Errorf("%q matches %s but has none of its literals", msg, x.header)
			}
		}
	}
}

// TestNotFindings lists lines that look like reports and are not.
func TestNotFindings(t *testing.T) {
	for _, line := range []string{
		"Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!",
		"WARNING: The mand mount option has been deprecated and",
		"WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
		"INFO: lockdep is turned off.",
		"INFO: NMI handler (perf_event_nmi_handler) took too long to run: 2.277 msecs",
		"    splice_test.go:42: BUG: buffer changed after vmsplice",
		"panic: runtime error: index out of range [recovered]",
		"DEBUG:     #15 pc 000000000045c4a0  /system/lib64/libart.so",
		"ODEBUG: Out of memory. ODEBUG disabled",
		// A test's words, and the first words of reports without the rest.
		"WARNING: this is fine",
		"WARNING: at least one CPU has mitigations off",
		"WARNING: [cond] is not a file",
		"    warn_test.go:12: WARNING: CPU: 0 PID: 1 at fs/splice.c:99 splice_to_pipe+0x1c/0x40",
		"    fault_test.go:7: BUG: kernel NULL pointer dereference, address: 0000000000000008",
		"panic: boom",
		"fatal error: concurrent map writes",
		"runtime: out of memory: cannot allocate 4194304-byte block (3997696 in use)",
		"SIGSEGV: segmentation violation",
		"goroutine 1 [running]:",
		"cc1: fatal error: linux/pipe_fs_i.h: No such file or directory",
		"ALSA: seq fatal error: cannot create timer (-22)",
		"Unable to handle kernel parameters, ignoring",
		"VFS: Closed the file",
		"INFO: task list follows",
		"a name that is far too long to be a comm:44 blocked for more than 122 seconds.",
		// arm64 and riscv register dumps, trace lines and panic notes
		// (arch/*/kernel/process.c __show_regs, traps.c, stacktrace.c).
		"pstate: 60000005 (nZCv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
		"pc : lkdtm_EXCEPTION+0x8/0x14",
		"lr : lkdtm_do_action+0x24/0x48",
		"sp : ffff8000800e3c90",
		"x29: ffff8000800e3c90 x28: ffff0000c0a61a80 x27: 0000000000000000",
		"x8 : 0000000000000000 x7 : 0000000000000000 x6 : 0000000000000000",
		"Mem abort info:",
		"  ESR = 0x0000000096000046",
		"  EC = 0x25: DABT (current EL), IL = 32 bits",
		"  FSC = 0x06: level 2 translation fault",
		"Data abort info:",
		"[0000000000000000] pgd=0800000041b34003, p4d=0800000041b34003, pud=0800000041b35003, pmd=0000000000000000",
		"Code: d503233f d50323bf 52800000 d2800001 (b900003f) ",
		"Call trace:",
		" lkdtm_EXCEPTION+0x8/0x14 (P)",
		" show_stack+0x18/0x24 (C)",
		"Kernel Offset: disabled",
		"CPU features: 0x00,00000000,00000000,0200400b",
		"Memory Limit: none",
		"SMP: stopping secondary CPUs",
		"prog[83]: unhandled exception: DABT (lower EL), ESR 0x0000000092000006, level 2 translation fault in prog[400000+2000]",
		"epc : lkdtm_EXCEPTION+0x6/0xe",
		" ra : lkdtm_do_action+0x12/0x1e",
		"epc : ffffffff80708a7a ra : ffffffff8070862a sp : ff2000000012bd40",
		" gp : ffffffff81a58e90 tp : ff600000024c2400 t0 : 0000000000000000",
		" s8 : 0000000000000000 s9 : 0000000000000000 s10: 0000000000000000",
		"status: 0000000200000120 badaddr: 0000000000000000 cause: 000000000000000f",
		"[<ffffffff80708a7a>] lkdtm_EXCEPTION+0x6/0xe",
		"prog[83]: unhandled signal 11 code 0x1 at 0x0000000000000000 in prog[10000+1000]",
		"Code: 0513 e565 b7e9 0000 4501 8082 1141 e422 0800 0001 (2023) 0000",
	} {
		if fs := Scan([]byte("[    1.000000] " + line + "\n")); len(fs) != 0 {
			t.Errorf("%q: found %q", line, fs[0].Title)
		}
	}
}

func TestStrip(t *testing.T) {
	tests := []struct{ in, msg, ctx string }{
		{"[  772.918915] BUG: x", "BUG: x", ""},
		{"[  584.319520][   T31] INFO: t", "INFO: t", "T31"},
		{"[   44.381969][    C4]  BUG: KCSAN", " BUG: KCSAN", "C4"},
		{"[    0.000000] [    T1] Linux", "Linux", "T1"},
		{"<6>[   85.501187] WARNING: foo\r", "WARNING: foo", ""},
		{"<4>oops", "oops", ""},
		{"** 5 printk messages dropped ** [   96.0] INFO: Freed", "INFO: Freed", ""},
		{"syzkaller login: [   10.1] BUG: y", "BUG: y", ""},
		{"plain line", "plain line", ""},
	}
	for _, tt := range tests {
		msg, ctx := strip(tt.in)
		if string(msg) != tt.msg || ctx != tt.ctx {
			t.Errorf("strip(%q) = %q, %q; want %q, %q", tt.in, msg, ctx, tt.msg, tt.ctx)
		}
	}
}

// TestStreaming feeds every fixture in chunks of many sizes: the findings
// are those of Scan, whatever the chunking.
func TestStreaming(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, path := range fixtures(t) {
		log, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := Scan(log)
		for _, size := range []int{1, 2, 7, 64, 4096, -1} {
			s := NewScanner()
			for p := log; len(p) > 0; {
				n := size
				if n < 0 {
					n = 1 + rng.Intn(200)
				}
				n = min(n, len(p))
				if k, err := s.Write(p[:n]); k != n || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
				p = p[n:]
			}
			s.Flush()
			if got := s.Findings(); !reflect.DeepEqual(got, want) {
				t.Errorf("%s in chunks of %d: findings differ from Scan:\n got %+v\nwant %+v", path, size, got, want)
			}
		}
	}
}

// TestFatalAtHeadline: the host can stop the VM as soon as the headline of
// a fatal report is on the console, before its trace.
func TestFatalAtHeadline(t *testing.T) {
	log, err := os.ReadFile("testdata/lkdtm-bug.log")
	if err != nil {
		t.Fatal(err)
	}
	head, tail, _ := bytes.Cut(log, []byte("bugs.c:108!\n"))
	s := NewScanner()
	s.Write(head)
	if s.Fatal() || len(s.Findings()) != 0 {
		t.Fatalf("fatal before the headline: %v %+v", s.Fatal(), s.Findings())
	}
	s.Write([]byte("bugs.c:108!\n"))
	if !s.Fatal() {
		t.Fatal("not fatal after the headline")
	}
	fs := s.Findings()
	if len(fs) != 1 || fs[0].Headline != "kernel BUG" || fs[0].Panicked || strings.Count(fs[0].Excerpt, "\n") != 1 {
		t.Fatalf("after the headline: %+v", fs)
	}
	s.Write(tail)
	fs = s.Findings()
	if len(fs) != 1 || fs[0].Title != "kernel BUG in lkdtm_BUG" || !fs[0].Panicked || strings.Count(fs[0].Excerpt, "\n") < 20 {
		t.Fatalf("after the report: %+v", fs)
	}
}

func TestWarningIsNotFatal(t *testing.T) {
	s := NewScanner()
	log, err := os.ReadFile("testdata/lkdtm-warning.log")
	if err != nil {
		t.Fatal(err)
	}
	s.Write(log)
	if s.Fatal() {
		t.Error("a WARNING made the scanner fatal")
	}
	if fs := s.Findings(); len(fs) != 1 || fs[0].Class != ClassWarning {
		t.Errorf("findings: %+v", fs)
	}
}

// TestEndlessLine: a guest that prints without a newline costs at most
// MaxLineBytes, and a header at the start of such a line is still seen.
func TestEndlessLine(t *testing.T) {
	s := NewScanner()
	s.Write([]byte("[ 1.000000] Kernel panic - not syncing: "))
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for range 160 { // 10 MiB
		s.Write(chunk)
		if len(s.buf) > MaxLineBytes || cap(s.buf) > 2*MaxLineBytes {
			t.Fatalf("line buffer grew to %d (cap %d)", len(s.buf), cap(s.buf))
		}
	}
	if !s.Fatal() {
		t.Error("the panic at the start of a long line was not seen")
	}
	s.Write([]byte("\n[ 2.000000] Oops: next line\n"))
	fs := s.Findings()
	if len(fs) != 1 || len(fs[0].Excerpt) > MaxExcerptBytes || len(fs[0].Title) > MaxLineBytes+100 {
		t.Fatalf("findings: %d, excerpt %d bytes", len(fs), len(fs[0].Excerpt))
	}
	if !strings.Contains(fs[0].Excerpt, "Oops: next line") {
		t.Error("the line after the long one was not processed")
	}
}

// TestFlood: a kernel that warns without end keeps MaxFindings findings of
// bounded size and counts the rest.
func TestFlood(t *testing.T) {
	s := NewScanner()
	var b bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&b, "[ %d.000000] WARNING: CPU: 0 PID: 1 at fs/splice.c:%d f+0x1/0x2\n", i, i)
		for j := range 300 {
			fmt.Fprintf(&b, "[ %d.000001]  frame%d+0x1/0x2\n", i, j)
		}
	}
	s.Write(b.Bytes())
	fs := s.Findings()
	if len(fs) != MaxFindings || s.Dropped() != 1000-MaxFindings {
		t.Fatalf("%d findings, %d dropped", len(fs), s.Dropped())
	}
	for _, f := range fs {
		if n := strings.Count(f.Excerpt, "\n"); n > MaxExcerptLines || len(f.Excerpt) > MaxExcerptBytes {
			t.Fatalf("excerpt of %d lines, %d bytes", n, len(f.Excerpt))
		}
	}
}

// FuzzScanner: no input makes the scanner fail, and streaming in two pieces
// finds what Scan finds.
func FuzzScanner(f *testing.F) {
	for _, path := range fixtures(f) {
		log, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(log, len(log)/2)
	}
	f.Fuzz(func(t *testing.T, log []byte, cut int) {
		want := Scan(log)
		if cut < 0 || cut > len(log) {
			cut = len(log) / 2
		}
		s := NewScanner()
		s.Write(log[:cut])
		s.Write(log[cut:])
		s.Flush()
		if got := s.Findings(); !reflect.DeepEqual(got, want) {
			t.Errorf("split at %d: %+v, want %+v", cut, got, want)
		}
	})
}

func BenchmarkScanCorpus(b *testing.B) {
	entries, _ := filepath.Glob(filepath.Join(corpusDir, "*.log"))
	if len(entries) == 0 {
		b.Skip("corpus not available")
	}
	var logs [][]byte
	var n int64
	for _, e := range entries {
		data, _ := os.ReadFile(e)
		logs = append(logs, data)
		n += int64(len(data))
	}
	b.SetBytes(n)
	for b.Loop() {
		for _, l := range logs {
			Scan(l)
		}
	}
}

// BenchmarkScanQuiet measures a console with no report: the common case.
func BenchmarkScanQuiet(b *testing.B) {
	line, err := os.ReadFile("testdata/clean-boot.log")
	if err != nil {
		b.Fatal(err)
	}
	log := bytes.Repeat(line, (1<<20)/len(line))
	b.SetBytes(int64(len(log)))
	for b.Loop() {
		Scan(log)
	}
}

// TestUnreliableFrames: a kernel with the guessing unwinder (tinyconfig's)
// marks every frame "? ". A hung task is then titled from those frames, a
// stall from its RIP; reliable frames, when there are any, still win; and
// other reports do not read "? " frames at all.
func TestUnreliableFrames(t *testing.T) {
	hung := "INFO: task prog:39 blocked for more than 2 seconds.\n" +
		"task:prog state:D stack:0 pid:39 tgid:37 ppid:33 flags:0x00000000\nCall Trace:\n <TASK>\n"
	soft := "watchdog: BUG: soft lockup - CPU#0 stuck for 6s! [prog:37]\nRIP: 0010:lkdtm_SOFTLOCKUP+0x2/0x4\nCall Trace:\n <TASK>\n"
	tests := []struct {
		name, log, title string
	}{
		{"hung task, guessed frames", hung + " ? __schedule+0x434/0x46e\n ? schedule+0x23/0x34\n ? lkdtm_HUNG_TASK+0x15/0x17\n ? vfs_write+0x8b/0x13f\n </TASK>\n",
			"INFO: task hung in lkdtm_HUNG_TASK"},
		{"hung task, reliable frames win", hung + " __schedule+0x434/0x46e\n ? stale_junk+0x1/0x2\n pipe_read+0x15/0x17\n vfs_read+0x8b/0x13f\n </TASK>\n",
			"INFO: task hung in pipe_read"},
		{"soft lockup, guessed frames: RIP", soft + " ? lkdtm_do_action+0x18/0x1b\n ? full_proxy_poll+0x42/0x42\n ? vfs_write+0x8b/0x13f\n </TASK>\n",
			"BUG: soft lockup in lkdtm_SOFTLOCKUP"},
		{"soft lockup, reliable frames: the anchor's callee", soft + " lkdtm_SOFTLOCKUP+0x2/0x4\n direct_entry+0xa5/0xc4\n vfs_write+0x8b/0x13f\n </TASK>\n",
			"BUG: soft lockup in direct_entry"},
		{"panic, guessed frames ignored", "Kernel panic - not syncing: dumptest\nCall Trace:\n <TASK>\n ? panic+0xf3/0x278\n ? lkdtm_PANIC+0xc/0xc\n </TASK>\n",
			"kernel panic: dumptest"},
	}
	for _, tt := range tests {
		fs := Scan([]byte(tt.log))
		if len(fs) != 1 || fs[0].Title != tt.title {
			t.Errorf("%s: %+v, want one finding titled %q", tt.name, fs, tt.title)
		}
	}
}

// TestVerdicts states the verdict expected of each synthesised fixture,
// independently of its golden file: where each report starts, its class,
// headline and whether it is fatal or panicked.
func TestVerdicts(t *testing.T) {
	type want struct {
		line            int
		class           Class
		headline        string
		fatal, panicked bool
	}
	tests := []struct {
		fixture string
		want    []want
	}{
		{"warn-formats", []want{
			{3, ClassWarning, "WARNING", false, false},
			{16, ClassWarning, "WARNING", false, false},
			{28, ClassWarning, "WARNING", false, false},
			{33, ClassWarning, "WARNING", false, false},
			{37, ClassWarning, "WARNING: refcount bug", false, false},
			{44, ClassWarning, "WARNING", false, false},
			{46, ClassWarning, "WARNING", false, false},
		}},
		{"user-access-fault", []want{
			{2, ClassOops, "BUG: unable to handle kernel access to user memory", true, true},
			{21, ClassOops, "BUG: unable to handle kernel access to user memory", true, false},
			{31, ClassOops, "BUG: unable to handle kernel write to read-only memory", true, false},
		}},
		// The wait amid the hung task's trace is a finding of its own and
		// leaves the hung task's report collecting its trace.
		{"netdev-wait", []want{
			{2, ClassHungTask, "unregister_netdevice: waiting for DEV to become free", false, false},
			{8, ClassHungTask, "unregister_netdevice: waiting for DEV to become free", false, false},
			{9, ClassHungTask, "INFO: task hung", false, false},
			{16, ClassHungTask, "unregister_netdevice: waiting for DEV to become free", false, false},
		}},
		{"hung-task-names", []want{
			{2, ClassHungTask, "INFO: task hung", false, false},
			{13, ClassHungTask, "INFO: task hung", false, false},
			{19, ClassHungTask, "INFO: task hung", false, false},
			{26, ClassHungTask, "INFO: task hung", false, false},
		}},
		// The WARNING (or kernel BUG) at fs/open.c after the message is
		// part of its report; the BUG makes it fatal.
		{"vfs-close", []want{
			{3, ClassBug, "VFS: Close: file count is 0", false, false},
			{15, ClassBug, "VFS: Close: file count is 0", false, false},
			{16, ClassBug, "VFS: Close: file count is 0", true, true},
		}},
		// Go crashes are never fatal; the kernel panic after init's is.
		{"go-runtime", []want{
			{3, ClassGoRuntime, "Go panic: runtime error: index out of range [NUM] with length NUM", false, false},
			{11, ClassGoRuntime, "Go panic: boom", false, false},
			{19, ClassGoRuntime, "Go fatal error: concurrent map writes", false, false},
			{26, ClassGoRuntime, "Go fatal error: stack overflow", false, false},
			{33, ClassGoRuntime, "Go fatal error: all goroutines are asleep - deadlock!", false, false},
			{38, ClassGoRuntime, "Go SIGABRT: abort", false, false},
			{44, ClassGoRuntime, "Go panic: runtime error: invalid memory address or nil pointer dereference", false, false},
			{50, ClassPanic, "kernel panic: Attempted to kill init! exitcode=ADDR", true, true},
		}},
		{"not-crashes", nil},
		// The same LKDTM crashes on arm64 and riscv64: the same titles
		// (TestArchTitles). A second die() banner ("[#2]") is an oops of
		// its own even right after the first. A hard lockup seen without
		// NMIs has no function: the only trace is the detecting CPU's.
		{"synth-arm64-null-deref", []want{{9, ClassOops, "BUG: unable to handle kernel NULL pointer dereference", true, true}}},
		{"synth-riscv64-null-deref", []want{{7, ClassOops, "BUG: unable to handle kernel NULL pointer dereference", true, true}}},
		{"synth-arm64-bug", []want{{8, ClassBug, "kernel BUG", true, true}}},
		{"synth-riscv64-bug", []want{{8, ClassBug, "kernel BUG", true, true}}},
		{"synth-arm64-warning", []want{
			{4, ClassWarning, "WARNING", false, false},
			{37, ClassWarning, "WARNING", false, false},
			{59, ClassBug, "BUG: sleeping function called from invalid context", false, false},
		}},
		{"synth-riscv64-warning", []want{
			{4, ClassWarning, "WARNING", false, false},
			{32, ClassWarning, "WARNING", false, false},
		}},
		{"synth-arm64-panic", []want{{6, ClassPanic, "kernel panic: dumptest", true, true}}},
		{"synth-riscv64-panic", []want{{7, ClassPanic, "kernel panic: dumptest", true, true}}},
		{"synth-arm64-hangs", []want{
			{6, ClassSoftLockup, "BUG: soft lockup", true, true},
			{69, ClassHungTask, "INFO: task hung", true, true},
			{108, ClassHardLockup, "BUG: hard lockup", true, true},
		}},
		{"synth-riscv64-hangs", []want{
			{7, ClassSoftLockup, "BUG: soft lockup", true, true},
			{57, ClassHungTask, "INFO: task hung", true, true},
			{90, ClassHardLockup, "BUG: hard lockup", true, true},
		}},
		{"synth-arm64-faults", []want{
			{2, ClassOops, "BUG: unable to handle kernel paging request", true, false},
			{34, ClassOops, "invalid opcode", true, false},
			{56, ClassOops, "BUG: unable to handle kernel paging request", true, false},
		}},
		{"synth-riscv64-faults", []want{
			{2, ClassOops, "invalid opcode", true, false},
			{27, ClassOops, "BUG: unable to handle kernel paging request", true, false},
			{59, ClassOops, "Oops - load access fault", true, false},
		}},
		{"synth-arm64-user-fault", nil},
		{"synth-riscv64-user-fault", nil},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			log, err := os.ReadFile(filepath.Join("testdata", tt.fixture+".log"))
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, f := range Scan(log) {
				got = append(got, want{f.Line, f.Class, f.Headline, f.Fatal, f.Panicked})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdicts:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestGoCrashIsNotFatal: a Go program's crash is a finding the moment its
// trace starts, never makes the scanner fatal, and a kernel panic after it
// is a report of its own, not a continuation of the program's.
func TestGoCrashIsNotFatal(t *testing.T) {
	s := NewScanner()
	s.Write([]byte("panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f0b6]\n\n"))
	if fs := s.Findings(); len(fs) != 0 {
		t.Fatalf("a finding before the goroutine trace: %+v", fs)
	}
	s.Write([]byte("goroutine 1 [running]:\nmain.main()\n\t/src/main.go:9 +0x2d\n"))
	fs := s.Findings()
	if len(fs) != 1 || fs[0].Class != ClassGoRuntime || fs[0].Fatal || s.Fatal() || fs[0].Line != 1 || !strings.Contains(fs[0].Excerpt, "main.main()") {
		t.Fatalf("after the trace: fatal=%v %+v", s.Fatal(), fs)
	}
	s.Write([]byte("[ 9.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200\n"))
	fs = s.Findings()
	if len(fs) != 2 || fs[0].Panicked || fs[0].Fatal || fs[1].Class != ClassPanic || !fs[1].Fatal || !s.Fatal() {
		t.Fatalf("after the kernel panic: %+v", fs)
	}
}

// TestGoConfirmWindow: the goroutine trace confirms a Go crash within
// confirmLines of its header, not later; a kernel report in between does
// not end the wait, and the wait does not end the kernel report; the other
// crash lines before the trace belong to the first.
func TestGoConfirmWindow(t *testing.T) {
	filler := func(n int) string {
		return strings.Repeat("[ 3.000000] virtio_net virtio0: unrelated\n", n)
	}
	trace := "goroutine 1 [running]:\nmain.main()\n"
	warn := "[ 3.1] WARNING: CPU: 0 PID: 9 at fs/splice.c:99 splice_to_pipe+0x1c/0x40\n[ 3.2] Call Trace:\n[ 3.3]  pipe_write+0x1/0x2\n"
	tests := []struct {
		name      string
		log       string
		headlines []string
		check     func(fs []Finding) bool
	}{
		{"at the window's end", "panic: x\n" + filler(confirmLines-1) + trace, []string{"Go panic: x"}, nil},
		{"past the window", "panic: x\n" + filler(confirmLines) + trace, nil, nil},
		{"a kernel report in between", "panic: x\n" + warn + trace, []string{"WARNING", "Go panic: x"},
			func(fs []Finding) bool { return strings.Contains(fs[0].Excerpt, "pipe_write") && fs[1].Line == 1 }},
		{"the lines before the trace are one crash", "panic: x\n\tfatal error: y\n\n" + trace, []string{"Go panic: x"},
			func(fs []Finding) bool { return strings.Contains(fs[0].Excerpt, "fatal error: y") }},
		{"runtime: lines are titled by the fatal error", "runtime: sp=0xc0200e1390\nfatal error: stack overflow\n\nruntime stack:\n",
			[]string{"Go fatal error: stack overflow"}, nil},
		{"runtime: lines alone keep their words", "runtime: pointer 0xc000100000 to unused region of span\n\ngoroutine 1 gp=0xc000002380 m=0 mp=0x5a4800 [running]:\n",
			[]string{"Go runtime: pointer ADDR to unused region of span"}, nil},
	}
	for _, tt := range tests {
		var got []string
		fs := Scan([]byte(tt.log))
		for _, f := range fs {
			got = append(got, f.Headline)
		}
		if !reflect.DeepEqual(got, tt.headlines) || tt.check != nil && !tt.check(fs) {
			t.Errorf("%s: %+v, want %q", tt.name, fs, tt.headlines)
		}
	}
}

// TestArchTitles: the same LKDTM crash on arm64 and riscv64 has the same
// title, the function of the faulting pc (epc) or of the first frame that
// does more than report, as x86's RIP gives it.
func TestArchTitles(t *testing.T) {
	for crash, title := range map[string]string{
		"null-deref": "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION",
		"bug":        "kernel BUG in lkdtm_BUG",
		"warning":    "WARNING in lkdtm_WARNING",
		"panic":      "kernel panic: dumptest in lkdtm_do_action",
		"hangs":      "BUG: soft lockup in direct_entry",
	} {
		for _, arch := range []string{"arm64", "riscv64"} {
			log, err := os.ReadFile(filepath.Join("testdata", "synth-"+arch+"-"+crash+".log"))
			if err != nil {
				t.Fatal(err)
			}
			if fs := Scan(log); len(fs) == 0 || fs[0].Title != title {
				t.Errorf("%s %s: %+v, want %q first", arch, crash, fs, title)
			}
		}
	}
}

// TestInterruptedCode: a stall's trace dumped from the timer interrupt is
// titled after the interrupted code, past the interrupt's last frame
// (arm64 el1h_64_irq, riscv do_irq, as x86's </IRQ>), and an arm64 or
// riscv system call is named as x86's is, without its wrapper prefix.
func TestInterruptedCode(t *testing.T) {
	const head = "rcu: INFO: rcu_sched self-detected stall on CPU\n" +
		"rcu: RCU grace-period kthread stack dump:\n" +
		"task:rcu_sched       state:I stack:0     pid:13    tgid:13    ppid:2      flags:0x00000008\n"
	tests := []struct{ name, log, title string }{
		{"arm64", head + "Call trace:\n __switch_to+0xe4/0x15c\n __schedule+0x2a8/0x6d0\n schedule+0x3c/0x100\n" +
			" schedule_timeout+0x98/0x160\n rcu_gp_fqs_loop+0x120/0x4a8\n rcu_gp_kthread+0x134/0x160\n kthread+0x114/0x118\n" +
			" ret_from_fork+0x10/0x20\nTask dump for CPU 0:\ntask:prog state:R  running task\nCall trace:\n" +
			" show_stack+0x18/0x24\n sched_show_task+0x150/0x174\n dump_cpu_task+0x44/0x9c\n rcu_dump_cpu_stacks+0xec/0x158\n" +
			" rcu_sched_clock_irq+0x7b0/0x9d8\n update_process_times+0x98/0xe0\n tick_nohz_handler+0xa8/0x178\n" +
			" __hrtimer_run_queues+0x168/0x2c4\n hrtimer_interrupt+0xe8/0x244\n arch_timer_handler_virt+0x2c/0x44\n" +
			" handle_percpu_devid_irq+0x88/0x148\n generic_handle_domain_irq+0x2c/0x44\n gic_handle_irq+0x4c/0x110\n" +
			" call_on_irq_stack+0x24/0x4c\n do_interrupt_handler+0x80/0x84\n el1_interrupt+0x34/0x68\n" +
			" el1h_64_irq_handler+0x18/0x24\n el1h_64_irq+0x64/0x68\n _raw_spin_lock+0x5c/0x70\n sk_msg_recvmsg+0x64/0x3a0\n" +
			" inet_recvmsg+0x50/0x180\n ____sys_recvmsg+0x98/0x208\n do_recvmmsg+0xe0/0x2e0\n __arm64_sys_recvmmsg+0x9c/0x100\n" +
			" invoke_syscall+0x48/0x110\n el0_svc_common.constprop.0+0x40/0xe0\n do_el0_svc+0x1c/0x28\n el0_svc+0x30/0xcc\n" +
			" el0t_64_sync_handler+0x120/0x12c\n el0t_64_sync+0x190/0x194\n",
			"INFO: rcu detected stall in sys_recvmmsg"},
		{"riscv64", head + "Call Trace:\n[<ffffffff80a6c1f2>] __schedule+0x2f8/0x7ac\n[<ffffffff80a6c6d4>] schedule+0x32/0xa8\n" +
			"[<ffffffff80a71d8e>] schedule_timeout+0x80/0x12a\n[<ffffffff8008a6e2>] rcu_gp_fqs_loop+0x12e/0x4b0\n" +
			"[<ffffffff8008ce4c>] rcu_gp_kthread+0x122/0x154\n[<ffffffff8003b0b6>] kthread+0xc4/0xe2\n" +
			"[<ffffffff80a78c9a>] ret_from_fork+0xe/0x1c\nTask dump for CPU 0:\ntask:prog state:R  running task\nCall Trace:\n" +
			"[<ffffffff80006c1a>] dump_backtrace+0x1c/0x24\n[<ffffffff80a5f7b4>] show_stack+0x2c/0x38\n" +
			"[<ffffffff8004c0c2>] sched_show_task+0x13e/0x162\n[<ffffffff80a5b57a>] dump_cpu_task+0x40/0x4a\n" +
			"[<ffffffff80a5e5f8>] rcu_dump_cpu_stacks+0xa6/0xe6\n[<ffffffff8008d3a8>] rcu_sched_clock_irq+0x6f8/0x8b8\n" +
			"[<ffffffff80094b0c>] update_process_times+0x6c/0x9e\n[<ffffffff800a4e32>] tick_nohz_handler+0x9a/0x134\n" +
			"[<ffffffff80095902>] __hrtimer_run_queues+0x19c/0x2f0\n[<ffffffff800963d6>] hrtimer_interrupt+0xe0/0x1fa\n" +
			"[<ffffffff8083e6c2>] riscv_timer_interrupt+0x32/0x3c\n[<ffffffff80080f6c>] handle_percpu_devid_irq+0x8a/0x1ba\n" +
			"[<ffffffff8007b0d4>] generic_handle_domain_irq+0x28/0x36\n[<ffffffff8053a73e>] riscv_intc_irq+0x36/0x4e\n" +
			"[<ffffffff80a6b5b0>] handle_riscv_irq+0x40/0x4c\n[<ffffffff80a6b6f6>] do_irq+0x6a/0x8c\n" +
			"[<ffffffff80a78b92>] _new_vmalloc_restore_context_a0+0xc2/0xce\n[<ffffffff80a72ca6>] _raw_spin_lock+0x2e/0x3c\n" +
			"[<ffffffff80918a2a>] sk_msg_recvmsg+0x5c/0x35a\n[<ffffffff809a7f16>] inet_recvmsg+0x4a/0x15c\n" +
			"[<ffffffff808f2bd8>] ____sys_recvmsg+0x8a/0x1f0\n[<ffffffff808f5bc6>] do_recvmmsg+0xd4/0x2d0\n" +
			"[<ffffffff808f5e5a>] __riscv_sys_recvmmsg+0x90/0xf4\n[<ffffffff80a6b3c0>] do_trap_ecall_u+0x1a4/0x1f8\n" +
			"[<ffffffff80a78b92>] _new_vmalloc_restore_context_a0+0xc2/0xce\n",
			"INFO: rcu detected stall in sys_recvmmsg"},
	}
	for _, tt := range tests {
		if fs := Scan([]byte(tt.log)); len(fs) != 1 || fs[0].Title != tt.title {
			t.Errorf("%s: %+v, want one finding titled %q", tt.name, fs, tt.title)
		}
	}
}
