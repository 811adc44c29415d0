package triage

import (
	"regexp"
	"strings"
)

// Class is the kind of problem a Finding reports.
type Class string

// The classes of the rule table. A class groups reports that a reader treats
// alike; the Title says precisely what the kernel printed.
const (
	ClassPanic      Class = "panic"       // Kernel panic - not syncing, Rust panics
	ClassOops       Class = "oops"        // page faults, divide error, double fault, invalid opcode
	ClassGPF        Class = "gpf"         // general protection fault
	ClassBug        Class = "bug"         // kernel BUG at, BUG: (debug checks), SLUB, list corruption
	ClassWarning    Class = "warning"     // WARN() splats and the kernel's own stack sanity warnings
	ClassKASAN      Class = "kasan"       // Kernel Address Sanitizer
	ClassKMSAN      Class = "kmsan"       // Kernel Memory Sanitizer (uninitialised values)
	ClassKCSAN      Class = "kcsan"       // Kernel Concurrency Sanitizer (data races)
	ClassKFENCE     Class = "kfence"      // sampling memory-safety detector
	ClassUBSAN      Class = "ubsan"       // undefined behaviour
	ClassLockdep    Class = "lockdep"     // lock validator and RCU usage checks
	ClassRCUStall   Class = "rcu-stall"   // RCU CPU stall detector
	ClassSoftLockup Class = "soft-lockup" // soft lockup and workqueue lockup watchdogs
	ClassHardLockup Class = "hard-lockup" // hard lockup (NMI) watchdog, spinlock lockups
	ClassHungTask   Class = "hung-task"   // hung task detector, unregister_netdevice waiting for a device
	ClassLeak       Class = "leak"        // kmemleak
	ClassExecutor   Class = "executor"    // syzkaller's executor gave up (SYZFAIL/SYZFATAL)
	// ClassGoRuntime is a Go program in the guest that died (panic, fatal
	// error, fatal signal): a user-space failure, never fatal, never
	// continued by kernel lines.
	ClassGoRuntime Class = "go-runtime"
)

// A rule is one row of the table: a header that starts a report, the class
// and title it gets, and how the rest of the report refines the title.
type rule struct {
	class Class
	// fatal: the kernel is not healthy after this report (it has oopsed,
	// panicked or found memory corrupted), as opposed to a report after which
	// it carries on normally.
	fatal bool
	// header is searched in each console line (prefixes stripped). Named
	// groups feed the title template; the group "func" names the function
	// the report is about.
	header *regexp.Regexp
	// title is the template of the headline: {name} is replaced by the named
	// group of header or more, its numbers normalised.
	title string
	// more, when set, is searched in the lines that follow the header (up to
	// moreLines of them); its named groups complete the title.
	more *regexp.Regexp
	// fallback, when set, is the title until more has matched: a report
	// cut short keeps the kernel's own words ({header} is the header text).
	fallback string
	// cont: when a report is open (or has just ended), this line belongs to
	// it (the "Kernel panic" after an oops, "invalid opcode" after "kernel
	// BUG at") instead of starting a new one.
	cont bool
	// panics: the line says the kernel panicked.
	panics bool
	// skip lists more frames that only report the problem: name prefixes,
	// or substrings when they start with "*".
	skip []string
	// prefer maps frame prefixes to the function to title a report with
	// when the trace has such a frame (the lock everyone waits on).
	prefer [][2]string
	// from, when set, restarts the collection of trace frames at each line
	// it matches (the interrupted code after an interrupt's frames).
	from *regexp.Regexp
	// stop, when set, ends the collection of trace frames at the first
	// line it matches: what follows is another context's trace (the CPU
	// that detected a hard lockup, dumping its own stack as it panics).
	stop *regexp.Regexp
	// at: the function is the one of the first lockdep "at:" line (after
	// more has matched, if set).
	at bool
	// stall: the function is found with anchorFrames (stalls, lockups).
	stall bool
	// ripFirst: the function of the title is the one in the RIP/PC line (the
	// faulting instruction) rather than the top of the call trace.
	ripFirst bool
	// guess: when the trace has no reliable frame, the function is read
	// from the frames the unwinder marked unreliable ("? foo+0x1/0x2").
	guess bool
	// confirm, when set, makes the report pending: it is a finding only
	// once a line within confirmLines of the header matches confirm (a Go
	// panic is one when its goroutine trace follows); otherwise it is
	// dropped. A pending report does not interrupt the open one.
	confirm *regexp.Regexp
	// program: the report is a guest program's, not the kernel's. Kernel
	// continuation lines (a panic after an oops) never attach to it.
	program bool
	// joins, when set, names header lines that belong to this report
	// while it is pending, or open and within moreLines of its header,
	// instead of starting their own (the WARNING that a WARN(1, msg)
	// prints after msg). A joined line's fatal and panics still count.
	joins *regexp.Regexp
	// aside: the line is printed by another context, often amid another
	// report's lines. When a report is open it stays open (the line is a
	// finding of its own, one line long); otherwise it opens as usual.
	aside bool
	// keys are literals one of which is in every line header matches
	// (computed from header, see keys.go); anyKey when there are none.
	keys   keySet
	anyKey bool
}

// interrupted marks the end of an interrupt's frames in a trace: what
// follows is the code that was interrupted. x86 closes the frames of the
// interrupt stack with </IRQ> (apic_timer_interrupt before 4.x); arm64's
// last frame of an interrupt taken in the kernel is its vector, el1h_64_irq
// (el1_irq in older kernels, arch/arm64/kernel/entry.S); riscv's is do_irq
// (arch/riscv/kernel/traps.c), called by handle_exception.
const interrupted = `apic_timer_interrupt|</IRQ>|\bel1h_64_irq\+|\bel1_irq\+|\bdo_irq\+`

// moreLines bounds how far after the header rule.more is looked for.
const moreLines = 8

// confirmLines bounds how far after the header rule.confirm is looked for:
// a Go crash prints its "goroutine 1 [running]:" after a few lines of
// messages, or after a register dump of about twenty (GOTRACEBACK=crash).
const confirmLines = 40

// Shorthands keep the table one row per rule.
const (
	fatal    = true
	nonFatal = false
)

func r(class Class, fatal bool, header, title string) *rule {
	return &rule{class: class, fatal: fatal, header: regexp.MustCompile(header), title: title}
}

func (x *rule) withMore(re string) *rule { x.more = regexp.MustCompile(re); return x }
func (x *rule) until(t string) *rule     { x.fallback = t; return x }
func (x *rule) continues() *rule         { x.cont = true; return x }
func (x *rule) panic() *rule             { x.panics = true; x.cont = true; return x }
func (x *rule) rip() *rule               { x.ripFirst = true; return x }
func (x *rule) atLine() *rule            { x.at = true; return x }
func (x *rule) stalled() *rule           { x.stall = true; return x }
func (x *rule) guessing() *rule          { x.guess = true; return x }
func (x *rule) after(re string) *rule    { x.from = regexp.MustCompile(re); return x }
func (x *rule) stopsAt(re string) *rule  { x.stop = regexp.MustCompile(re); return x }
func (x *rule) preferring(pairs ...string) *rule {
	for i := 0; i+1 < len(pairs); i += 2 {
		x.prefer = append(x.prefer, [2]string{pairs[i], pairs[i+1]})
	}
	return x
}
func (x *rule) joining(re string) *rule { x.joins = regexp.MustCompile(re); return x }
func (x *rule) printedAside() *rule     { x.aside = true; return x }
func (x *rule) confirmedBy(re string) *rule {
	x.confirm = regexp.MustCompile(re)
	return x
}

// goProgram marks a rule of the Go runtime's crash output: a report of a
// guest program, confirmed by the goroutine trace, that absorbs the other
// crash lines printed before the trace.
func (x *rule) goProgram() *rule {
	x.program = true
	return x.confirmedBy(goTrace).joining(goHeader)
}

func (x *rule) skipping(s ...string) *rule {
	x.skip = append(x.skip, s...)
	return x
}

// warnAt is the start of a WARN() splat up to the file (kernel/panic.c,
// __warn): "WARNING: CPU: 0 PID: 1 at FILE:LINE FUNC+0x1/0x2" through 6.18,
// "WARNING: FILE:LINE at FUNC+0x1/0x2, CPU#0: comm/1" since 6.19. With
// CONFIG_DEBUG_BUGVERBOSE_DETAILED (6.16+) the file is prefixed with the
// condition that failed, "[cond] " (WARN_CONDITION_STR, include/asm-generic/
// bug.h): any C expression, brackets and spaces included.
const warnAt = `WARNING: (?:CPU: \d+ PID: \d+ )?(?:at )?(?:\[.*\] )?`

// goHeader matches the first line of each part of a Go program's crash
// output (runtime/panic.go: printpanics, throw, fatal; runtime/
// signal_unix.go: the signal's name), nested panics indented by a tab.
const goHeader = `^\s*(?:panic: |fatal error: |runtime: |SIG[A-Z0-9]+: )`

// goTrace is the line that makes it a Go crash: the header of the first
// goroutine of the traceback (runtime/traceback.go: goroutineheader, with
// gp= and m= for runtime crashes), or the system stack of a fatal error.
const goTrace = `^(?:goroutine \d+ (?:gp=0x[0-9a-f]+ m=(?:\d+ mp=0x[0-9a-f]+|nil) )?\[.*\]:|runtime stack:)$`

// fn matches a kernel symbol with its offset ("foo+0x1c/0x40"), capturing
// the name in the group "func".
const fn = `(?P<func>[A-Za-z_.$][\w.$]*)(?:\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?)?`

// rules is the oops table, most specific first: the first rule whose header
// matches a line decides its class and title.
var rules = []*rule{
	// Sanitizers: "BUG: KASAN: use-after-free in f+0x1/0x2" then "Read of size 8".
	r(ClassKASAN, fatal, `BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in `+fn, "KASAN: invalid-free").
		skipping("kmem_", "slab_", "kfree", "vunmap", "vfree"),
	r(ClassKASAN, fatal, `BUG: KASAN: (?P<kind>[a-z-]+) (?:in `+fn+`|on address)`, "KASAN: {kind} {access}").
		withMore(`^(?P<access>Read|Write) (?:of size|at addr)`),
	r(ClassKASAN, fatal, `BUG: KASAN: (?P<kind>[a-z-]+)`, "KASAN: {kind}"),
	r(ClassKMSAN, nonFatal, `BUG: KMSAN: (?P<kind>[a-z-]+)(?: in `+fn+`)?`, "KMSAN: {kind}"),
	r(ClassKCSAN, nonFatal, `BUG: KCSAN: (?P<kind>.+?)(?: in `+fn+`.*)?$`, "KCSAN: {kind}"),
	r(ClassKFENCE, fatal, `BUG: KFENCE: (?P<kind>.+?)(?: in `+fn+`.*)?$`, "KFENCE: {kind}"),
	r(ClassUBSAN, nonFatal, `UBSAN: Undefined behaviour in`, "UBSAN: undefined-behaviour"),
	r(ClassUBSAN, nonFatal, `UBSAN: (?P<kind>[a-z-]+) in`, "UBSAN: {kind}"),

	// Faults.
	r(ClassOops, fatal, `BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)`,
		"BUG: unable to handle kernel NULL pointer dereference").rip(),
	r(ClassOops, fatal, `BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)`,
		"BUG: unable to handle kernel paging request").rip(),
	// arm64 and riscv (arch/*/mm/fault.c, die_kernel_fault): "Unable to
	// handle kernel access to user memory outside uaccess routines at
	// virtual address ADDR" (SMAP/PAN/SUM: the kernel touched user memory
	// outside copy_from_user), "... without uaccess routines ..." on riscv.
	r(ClassOops, fatal, `(?:BUG: u|U)nable to handle kernel (?P<what>access to user memory|execution of user memory)`,
		"BUG: unable to handle kernel {what}").rip(),
	r(ClassOops, fatal, `BUG: (?:unable|Unable) to handle kernel`, "BUG: unable to handle kernel").rip(),
	r(ClassOops, fatal, `Unable to handle kernel (?P<what>NULL pointer dereference|paging request)`, "BUG: unable to handle kernel {what}").rip(),
	// The other kinds arm64 names: write to read-only memory, a fault_info
	// name ("level 3 translation fault", "synchronous external abort").
	r(ClassOops, fatal, `Unable to handle kernel (?P<what>\S.*?) at virtual address`, "BUG: unable to handle kernel {what}").rip(),
	r(ClassGPF, fatal, `general protection fault`, "general protection fault").rip(),
	r(ClassOops, fatal, `stack segment: `, "stack segment fault").rip(),
	r(ClassOops, fatal, `divide(?: |_)error: `, "divide error").rip(),
	r(ClassOops, fatal, `PANIC: double fault`, "PANIC: double fault").rip().continues(),
	r(ClassOops, fatal, `BUG: (?:\w+ )?stack guard page was hit at`, "BUG: stack guard page was hit").rip(),
	r(ClassOops, fatal, `invalid opcode: `, "invalid opcode").rip().continues(),
	r(ClassOops, fatal, `^Oops: `, "Oops").rip().continues(),
	// arm64 die() (arch/arm64/kernel/traps.c, __die): "Internal error: STR:
	// ESR [#N] PREEMPT SMP", STR "Oops" after a fault, "Oops - BUG" for
	// BUG() (a brk, after "kernel BUG at" unless it was lost), "Oops -
	// Undefined instruction" for what x86 calls an invalid opcode.
	r(ClassBug, fatal, `^Internal error: Oops - BUG: `, "kernel BUG").rip().continues(),
	r(ClassOops, fatal, `^Internal error: Oops - Undefined instruction: `, "invalid opcode").rip().continues(),
	r(ClassOops, fatal, `^Internal error: `, "Internal error").rip().continues(),
	// riscv die() (arch/riscv/kernel/traps.c): "STR [#N]", STR "Oops"
	// after a page fault, "Kernel BUG" for BUG() (an ebreak), "Oops - "
	// and the trap's name for the other exceptions.
	r(ClassBug, fatal, `^Kernel BUG \[#\d+\]`, "kernel BUG").rip().continues(),
	r(ClassOops, fatal, `^Oops - illegal instruction \[#\d+\]`, "invalid opcode").rip().continues(),
	r(ClassOops, fatal, `^Oops - (?P<what>\S.*?) \[#\d+\]`, "Oops - {what}").rip().continues(),
	r(ClassOops, fatal, `^Oops \[#\d+\]`, "Oops").rip().continues(),
	r(ClassOops, fatal, `^Unhandled fault: `, "Unhandled fault").rip(),
	r(ClassOops, fatal, `^Alignment trap: `, "Alignment trap").rip(),

	// kernel BUG at FILE:LINE!, with the files whose BUG() has a better name.
	r(ClassBug, fatal, `kernel BUG at mm/usercopy\.c`, "BUG: bad usercopy"),
	r(ClassBug, fatal, `kernel BUG at lib/list_debug\.c`, "BUG: corrupted list"),
	r(ClassBug, fatal, `(?:kernel|Kernel) BUG at `, "kernel BUG").rip(),

	// WARN(): "WARNING: CPU: 0 PID: 1 at FILE:LINE FUNC+0x1/0x2", the files
	// whose WARN()s have a better name first.
	r(ClassWarning, nonFatal, warnAt+`lib/debugobjects\.c`, "WARNING: ODEBUG bug").rip().
		skipping("debug_", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree", "free_", "kobject_"),
	r(ClassWarning, nonFatal, warnAt+`mm/usercopy\.c`, "WARNING: bad usercopy").rip(),
	r(ClassWarning, nonFatal, warnAt+`lib/kobject\.c`, "WARNING: kobject bug").rip().skipping("kobject_"),
	r(ClassWarning, nonFatal, warnAt+`fs/proc/generic\.c:\d+ (?:at )?proc_register`, "WARNING: proc registration bug").rip().skipping("proc_"),
	r(ClassWarning, nonFatal, warnAt+`lib/refcount\.c`, "WARNING: refcount bug").rip().skipping("kobject_"),
	r(ClassWarning, nonFatal, warnAt+`kernel/locking/lockdep\.c`, "WARNING: locking bug").rip().skipping("lock_sock", "release_sock"),
	r(ClassWarning, nonFatal, warnAt+`mm/vmalloc\.c:\d+ (?:at )?__vmalloc_node_range`, "WARNING: zero-size vmalloc").rip(),
	r(ClassWarning, nonFatal, warnAt+`mm/\S+\.c:\d+ (?:at )?(?:__)?k?.?malloc`, "WARNING: kmalloc bug").rip().skipping("kcalloc", "kzalloc", "krealloc", "vmalloc", "kvmalloc", "kvfree"),
	r(ClassWarning, nonFatal, warnAt+`\S+\.(?:c|h|S|rs):\d+ (?:at )?(?:`+fn+`|0x[0-9a-f]+)`, "WARNING").rip(),
	r(ClassWarning, nonFatal, `WARNING: CPU: \d+ PID: \d+ at `+fn, "WARNING").rip(),
	// No file (CONFIG_DEBUG_BUGVERBOSE=n) in the 6.19 format, "WARNING: at
	// FUNC+0x1/0x2, CPU#0: comm/1", and the file alone of lib/bug.c before
	// __warn existed ("WARNING: at FILE:LINE").
	r(ClassWarning, nonFatal, `WARNING: at (?:`+fn+`|0x[0-9a-f]+), CPU#\d+: `, "WARNING").rip(),
	r(ClassWarning, nonFatal, `WARNING: at \S+\.(?:c|h|S|rs):\d+$`, "WARNING").rip(),
	r(ClassWarning, nonFatal, `WARNING: at (?:0x)?[0-9a-f]+ \[verbose debug info unavailable\]`, "WARNING").rip(),
	r(ClassWarning, nonFatal, `WARNING: kernel stack regs at [0-9a-f]+ in \S+ has bad '(?P<reg>[^']+)' value`,
		"WARNING: kernel stack regs has bad '{reg}' value"),
	r(ClassWarning, nonFatal, `WARNING: kernel stack frame pointer at [0-9a-f]+ in \S+ has bad value`,
		"WARNING: kernel stack frame pointer has bad value"),
	// With hashed pointers, syzkaller titles both alike.
	r(ClassWarning, nonFatal, `WARNING: kernel stack (?:regs|frame pointer) at +\(ptrval\) in \S+ has bad`,
		"WARNING: kernel stack regs has bad value"),

	// Lock validator.
	r(ClassLockdep, nonFatal, `(?:WARNING|INFO): (?:possible circular locking dependency|possible recursive locking|possible irq lock inversion dependency|(?:SOFT|HARD)IRQ-safe -> (?:SOFT|HARD)IRQ-unsafe lock order) detected`,
		"possible deadlock").withMore(`(?:is trying to acquire|just changed the state of lock)`).
		until("{header}").atLine(),
	r(ClassLockdep, nonFatal, `\[ BUG: Invalid wait context \]`, "WARNING: locking bug").withMore(`is trying to lock:`).atLine(),
	r(ClassLockdep, nonFatal, `(?:WARNING|INFO): inconsistent lock state`, "inconsistent lock state").withMore(` takes:`).atLine(),
	r(ClassLockdep, nonFatal, `(?P<k>WARNING|INFO|BUG): suspicious RCU usage`, "{k}: suspicious RCU usage"),
	r(ClassLockdep, nonFatal, `(?P<k>WARNING|BUG): bad unlock balance detected!`, "{k}: bad unlock balance").withMore(`is trying to release lock`).atLine(),
	r(ClassLockdep, nonFatal, `(?P<k>WARNING|BUG): held lock freed!`, "{k}: held lock freed").atLine(),
	r(ClassLockdep, nonFatal, `(?P<k>WARNING|BUG): \S+ still has locks held!`, "{k}: still has locks held").atLine(),
	r(ClassLockdep, nonFatal, `(?P<k>WARNING|BUG): lock held when returning to user space!`, "{k}: lock held when returning to user space").
		withMore(`leaving the kernel with locks still held`).atLine(),
	r(ClassLockdep, nonFatal, `INFO: trying to register non-static key`, "INFO: trying to register non-static key").
		skipping("*stack", "*lock", "*IRQ"),

	// Stalls, lockups and hangs.
	r(ClassRCUStall, nonFatal, `INFO: rcu_\w+ (?:self-)?detected(?: expedited)? stall`, "INFO: rcu detected stall").stalled().after(interrupted),
	r(ClassSoftLockup, nonFatal, `BUG: soft lockup - CPU#\d+ stuck`, "BUG: soft lockup").stalled().after(interrupted),
	r(ClassSoftLockup, nonFatal, `BUG: workqueue lockup`, "BUG: workqueue lockup"),
	// kernel/watchdog.c, watchdog_hardlockup_check: the locked CPU's
	// registers come from an NMI (x86; arm64 with pseudo-NMIs). Without
	// NMIs (arm64 and riscv under QEMU) nothing of the locked CPU is
	// printed, and hardlockup_panic's trace is the detecting CPU's, in its
	// timer interrupt: no frame of it is the lockup's.
	r(ClassHardLockup, nonFatal, `Watchdog detected hard LOCKUP on cpu`, "BUG: hard lockup").rip().
		stopsAt(`\bwatchdog_hardlockup_check\+`),
	r(ClassHardLockup, nonFatal, `BUG: spinlock lockup suspected`, "BUG: spinlock lockup suspected").skipping("spin_"),
	// kernel/hung_task.c: "INFO: task %s:%d blocked for more than %ld
	// seconds." The task's name (comm, 15 bytes) is whatever the task set
	// with prctl(PR_SET_NAME): spaces, brackets, colons, bytes that are not
	// UTF-8. A newline in it makes two console lines, the second
	// "REST:PID blocked for ..." (the next rule).
	r(ClassHungTask, nonFatal, `INFO: task .*:\d+ blocked .*for more than \d+ seconds`, "INFO: task hung").guessing().
		preferring("rtnl_lock", "rtnl_lock", "synchronize_rcu", "synchronize_rcu", "synchronize_srcu", "synchronize_rcu",
			"synchronize_net", "synchronize_rcu", "synchronize_sched", "synchronize_rcu").
		skipping("*sched", "*_lock", "*_slowlock", "*down", "*completion", "*wait", "*synchronize", "*cancel_delayed_work"),
	r(ClassHungTask, nonFatal, `^.{0,15}:\d+ blocked for more than \d+ seconds\.`, "INFO: task hung").guessing().
		preferring("rtnl_lock", "rtnl_lock", "synchronize_rcu", "synchronize_rcu", "synchronize_srcu", "synchronize_rcu",
			"synchronize_net", "synchronize_rcu", "synchronize_sched", "synchronize_rcu").
		skipping("*sched", "*_lock", "*_slowlock", "*down", "*completion", "*wait", "*synchronize", "*cancel_delayed_work"),
	r(ClassHungTask, nonFatal, `INFO: task .*:\d+ can't die for more than \d+ seconds`, "INFO: task can't die"),
	// net/core/dev.c, netdev_wait_allrefs_any: a device's references leaked
	// and the task unregistering it waits for ever, saying so every 10 s
	// from its own context, often amid another report.
	r(ClassHungTask, nonFatal, `unregister_netdevice: waiting for \S+ to become free`,
		"unregister_netdevice: waiting for DEV to become free").printedAside(),

	// Debug checks that print "BUG: ..." and carry on.
	r(ClassBug, nonFatal, `BUG: spinlock (?P<what>already unlocked|recursion|bad magic|wrong owner|wrong CPU)`, "BUG: spinlock {what}").skipping("spin_"),
	r(ClassBug, nonFatal, `BUG: sleeping function called from invalid context`, "BUG: sleeping function called from invalid context"),
	r(ClassBug, nonFatal, `BUG: scheduling while atomic`, "BUG: scheduling while atomic"),
	r(ClassBug, nonFatal, `BUG: using (?P<what>smp_processor_id\(\)|__this_cpu_\w+\(\)) in preemptible`, "BUG: using {what} in preemptible code").skipping("*preempt", "debug_smp_processor_id"),
	r(ClassBug, nonFatal, `BUG: workqueue leaked lock or atomic`, "BUG: workqueue leaked lock or atomic"),
	r(ClassBug, nonFatal, `BUG: Dentry .* still in use \(\d+\) \[unmount of (?P<fs>[^\]]+)\]`, "BUG: Dentry still in use [unmount of {fs}]"),
	r(ClassBug, nonFatal, `BUG: Bad (?P<what>page state|page map|rss-counter state)`, "BUG: Bad {what}"),
	r(ClassLeak, nonFatal, `BUG: memory leak`, "memory leak").withMore(`^unreferenced object`).
		skipping("*kmemleak", "*kmalloc", "*kcalloc", "*kzalloc", "*vmalloc", "*mmap", "*alloc", "*kmem", "*slab",
			"create_object", "idr_get", "list_lru_init", "kasprintf", "kvasprintf", "pcpu_create", "*strdup",
			"*strndup", "*memdup"),
	r(ClassLeak, nonFatal, `kmemleak: \d+ new suspected memory leaks`, "memory leak"),
	r(ClassBug, fatal, `^BUG [\w-]+ \([^)]*\): (?P<msg>[^,]+)`, "BUG: {msg}"), // SLUB debugging
	r(ClassBug, fatal, `^INFO: (?P<what>Allocated|Freed) in `+fn, "INFO: {what}").continues(),
	r(ClassBug, nonFatal, `^VFS: Busy inodes after unmount`, "VFS: Busy inodes after unmount (use-after-free)"),
	// fs/open.c, filp_close: a struct file closed once too often. Since
	// 4.x it is CHECK_DATA_CORRUPTION: the WARNING (or, with
	// BUG_ON_DATA_CORRUPTION, the kernel BUG) at fs/open.c that follows is
	// part of this report; older kernels print the line alone.
	r(ClassBug, nonFatal, `^VFS: Close: file count is 0`, "VFS: Close: file count is 0").rip().
		joining(`(?:WARNING: |kernel BUG at ).*\bfs/\S+\.c:\d+`),
	// Any other "BUG: ...", at the start of a message only: test programs
	// print "BUG:" too.
	r(ClassBug, nonFatal, `^(?:\[ )?(?:[\w-]+: )?BUG: (?P<msg>[^:,!]+[!]?)`, "BUG: {msg}"),

	// Panics, specific messages first. Within or just after another report
	// (the oops that caused it) a panic marks that report Panicked instead
	// of starting its own.
	r(ClassPanic, fatal, `Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: (?:`+fn+`)?`, "kernel panic: stack is corrupted").panic().skipping("stack_chk"),
	r(ClassPanic, fatal, `Kernel panic - not syncing: corrupted stack end`, "kernel panic: corrupted stack end").panic().stalled(),
	r(ClassPanic, fatal, `Kernel panic - not syncing: Couldn't open N_TTY ldisc`, "kernel panic: Couldn't open N_TTY ldisc").panic(),
	r(ClassPanic, fatal, `Kernel panic - not syncing: (?P<msg>.*?)\s*$`, "kernel panic: {msg}").panic(),
	r(ClassPanic, fatal, `rust_kernel: panicked at`, "{msg}").withMore(`^(?P<msg>\S.*)`).until("rust_kernel: panicked"),
	r(ClassPanic, fatal, `trusty: panic .*ASSERT FAILED at \([^)]*\):\s*(?P<msg>.*)`, "trusty: ASSERT FAILED: {msg}"),

	// Go programs in the guest (the agent, a console suite) that die: a
	// user-space failure, reported but never fatal. A line alone is not
	// enough (a test may print "panic: ..."): the traceback must follow.
	r(ClassGoRuntime, nonFatal, `^panic: (?P<msg>.*?)(?: \[recovered(?:, repanicked)?\])?$`, "Go panic: {msg}").goProgram(),
	r(ClassGoRuntime, nonFatal, `^fatal error: (?P<msg>.+)`, "Go fatal error: {msg}").goProgram(),
	r(ClassGoRuntime, nonFatal, `^(?P<sig>SIG[A-Z0-9]+: [a-z][a-z ]*)$`, "Go {sig}").goProgram(),
	// "runtime: ..." lines come first; the fatal error after them titles
	// the report.
	r(ClassGoRuntime, nonFatal, `^runtime: (?P<rt>.+)`, "Go {kind}: {msg}").goProgram().
		withMore(`^(?P<kind>fatal error|panic): (?P<msg>.+)`).until("Go runtime: {rt}"),

	// syzkaller's executor giving up, so that syzbot logs triage too.
	r(ClassExecutor, nonFatal, `\bSYZFAIL: (?P<msg>.*)`, "SYZFAIL: {msg}"),
	r(ClassExecutor, nonFatal, `\bSYZFATAL: (?P<msg>.*)`, "SYZFATAL: {msg}"),
}

// suppressions are lines that look like a header of the table but are not a
// kernel problem.
var suppressions = regexp.MustCompile(strings.Join([]string{
	`BUG: no syscalls can create resource`,           // syzkaller's own output
	`^BUG \S+ \([^)]*\): kasan: bad access detected`, // old KASAN, inside its report
}, "|"))

// testLine is a Go test's own log line (t.Log, t.Error: "    name_test.go:12:
// ..."): what follows is the test's words, not the kernel's. It is a
// suppression, kept apart from the alternation above so that it is
// anchored.
var testLine = regexp.MustCompile(`^[\w.-]+_test\.go:\d+: `)

// anchorFrames are entry points into the kernel (system calls, work items,
// timers, softirqs): a stall is titled after the frame they called.
var anchorFrames = []string{
	"process_one_work", "do_syscall_", "do_fast_syscall_", "entry_SYSCALL", "sysenter_dispatch",
	"netif_receive_skb", "do_softirq", "call_timer_fn", "_run_timers", "run_timer_softirq",
	"run_ksoftirqd", "smpboot_thread_fn", "kthread", "start_secondary", "cpu_startup_entry",
	"ret_from_fork", "vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "vfs_ioctl",
	"blkdev_ioctl", "do_iter_readv_writev", "mmap_region", "do_mmap", "do_dentry_open",
	"sock_sendmsg", "sock_recvmsg", "sock_release", "__sys_setsockopt", "__sys_listen",
	"__sys_accept", "sock_do_ioctl", "sock_ioctl", "nfnetlink_rcv_msg",
	"handle_mm_fault", "do_page_fault", "__fput", "task_work_run", "exit_to_user",
	// arm64 (arch/arm64/kernel/syscall.c: el0_svc_common, el0_svc_handler
	// in 4.x, calls invoke_syscall) and riscv (arch/riscv/kernel/traps.c:
	// do_trap_ecall_u) system calls.
	"invoke_syscall", "el0_svc", "do_trap_ecall_u",
}

// skipFrames are functions that report, check or merely pass on a problem
// rather than cause it: the title names the first frame of a trace that
// starts (leading underscores aside) with none of them, or contains none of
// those written with a leading "*".
var skipFrames = []string{
	// reporting
	"dump_stack", "dump_backtrace", "show_stack", "show_regs", "*panic", "warn", "report",
	"fixup_bug", "handle_bug", "do_error", "do_trap", "do_invalid_op", "invalid_op", "exc_",
	"asm_exc", "asm_sysvec", "sysvec_", "die", "oops", "bug", "BUG", "print", "vprintk",
	"stack_trace", "arch_stack_walk", "save_stack", "walk_stackframe", "unwind",
	"kasan", "asan", "kmsan", "msan", "kcsan", "tsan", "kfence", "ubsan", "sanitizer_cov",
	"check_memory_region", "check_preemption_disabled", "this_cpu_preempt_check",
	"might_sleep", "might_fault", "might_resched", "should_fail", "stack_chk",
	"debug_check", "debug_lockdep", "x86_indirect_thunk", "ref_tracker", "check_object_size",
	"check_heap_object", "usercopy", "do_kernel_fault", "do_mem_abort", "do_bad_area",
	"do_translation_fault", "do_page_fault", "page_fault", "handle_page_fault", "el1_", "el0_",
	"sched_show_task", "dump_cpu_task",
	// arm64 exception entry and fault handling (arch/arm64/kernel/entry.S,
	// entry-common.c, traps.c, debug-monitors.c; arch/arm64/mm/fault.c),
	// and the software tag-based KASAN's checks (__hwasan_load8_noabort,
	// __hwasan_check_x0_NNN)
	"el1h_", "el1t_", "el0t_", "do_el1_", "call_el1_break_hook", "brk_handler",
	"do_debug_exception", "arm64_notify_die", "do_sea", "do_tag_check_fault",
	"do_alignment_fault", "do_sp_pc_abort", "hwasan",
	// riscv trap entry and fault handling (arch/riscv/kernel/entry.S,
	// traps.c; arch/riscv/mm/fault.c). Since 6.11 the symbol kallsyms gives
	// the return into handle_exception can be a local label of it.
	"handle_exception", "ret_from_exception", "new_vmalloc_restore_context", "handle_break",
	"do_irq", "handle_riscv_irq", "call_on_irq_stack", "no_context",
	// locking and waiting
	"lockdep", "lock_acquire", "lock_release", "lock_is_held", "lock_class",
	"reacquire_held_locks", "raw_spin", "raw_read", "raw_write", "spin_lock", "spin_unlock",
	"spin_trylock", "queued_spin", "native_queued_spin", "do_raw_spin", "mutex_lock",
	"mutex_unlock", "mutex_trylock", "osq_lock", "down", "up_read", "up_write", "rwsem",
	"wake_up", "finish_wait", "wait_for", "atomic_dec_and_lock", "refcount_",
	// library routines
	"memcpy", "memcmp", "memset", "memmove", "memchr", "strcmp", "strncmp", "strcpy",
	"strlcpy", "strncpy", "strscpy", "strlen", "strnlen", "strchr", "strnstr", "string",
	"pointer", "snprintf", "scnprintf", "kasprintf", "kvasprintf", "copy_to_user",
	"copy_from_user", "put_user", "get_user", "list_add", "list_del", "list_replace",
	"list_move", "list_splice", "rb_", "klist_", "test_and_", "set_bit", "clear_bit",
	"skb_put", "skb_push", "skb_pull", "logic_in", "logic_out",
	// allocators
	"kmem_cache", "kmalloc", "kfree", "slab", "alloc_pages", "free_pages",
	// device model and work teardown, which run the guilty callbacks
	"kobject_del", "kobject_put", "kobject_uevent", "add_uevent_var", "get_device_parent",
	"device_add", "device_del", "device_unregister", "device_destroy", "devres_release",
	"sysfs_remove", "hwrng_unregister", "usb_kill_urb", "usb_submit_urb", "usb_control_msg",
	"flush_work", "flush_workqueue", "cancel_work", "cancel_delayed_work", "del_timer",
	"timer_delete", "timer_is_static_object", "kthread_stop", "rollback_registered",
	"unregister_netdev",
	// debugfs's proxies, which only forward a file operation to the
	// file's own (fs/debugfs/file.c)
	"full_proxy_",
	// entry, scheduling and interrupts
	"schedule", "context_switch", "switch_to", "ret_from_fork", "kthread", "entry_SYSCALL",
	"do_syscall", "irq_exit", "do_softirq", "apic_timer_interrupt", "smp_apic_timer_interrupt",
	"hrtimer", "tick_", "nmi", "watchdog", "rcu",
}
