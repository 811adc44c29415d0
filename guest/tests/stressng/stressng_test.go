package stressng

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// A stressor is one stress-ng stressor that BenchmarkStressNG runs, as
// BenchmarkStressNG/NAME.
type stressor struct {
	// name is the stressor: stress-ng runs it as --NAME 1 and reports it
	// under that name in its metrics.
	name string
	// opts are options of its own, given before -stressng.opt (stress-ng
	// takes the last of an option given twice).
	opts []string
}

// stressors is the table of BenchmarkStressNG.
var stressors = []stressor{
	// Each bogo op vmsplices 64 KiB of anonymous memory into a pipe,
	// splices the pipe to /dev/null, writes a page into the pipe and
	// vmsplices it back out into the buffer. 64k is stress-ng's default,
	// said here because it matters: it is the pipe's default capacity, so
	// the blocking vmsplice never waits for room. (With more, a kernel
	// whose vmsplice blocks until all is written, as the series' v1 did,
	// stops the stressor until the timeout.)
	{name: "vm-splice", opts: []string{"--vm-splice-bytes", "64k"}},
}

var (
	timeoutFlag = flag.Duration("stressng.timeout", 2*time.Second,
		"duration of each stress-ng run (its --timeout), in whole seconds")
	binFlag = flag.String("stressng.bin", "",
		`stress-ng to run (default "stress-ng" in PATH; the benchmarks skip without one)`)
	optFlag optList
)

func init() {
	flag.Var(&optFlag, "stressng.opt",
		"an option added to each stress-ng run, after the stressor's own (repeatable): -stressng.opt=--vm-splice-bytes=16k")
}

// optList is a repeatable string flag.
type optList []string

func (o *optList) String() string     { return strings.Join(*o, " ") }
func (o *optList) Set(v string) error { *o = append(*o, v); return nil }

// overrun is how long a stress-ng run may last past its timeout before it
// is stopped (SIGINT, then SIGKILL after waitDelay). stress-ng starts
// slowly under TCG, and stops a stressor that is stuck in a system call
// only when the call returns.
const (
	overrun   = time.Minute
	waitDelay = 10 * time.Second
)

// outputLimit bounds the output of stress-ng kept for a failure message:
// its first and its last outputLimit/2 bytes.
const outputLimit = 4 << 10

// A runner runs stress-ng.
type runner struct {
	bin     string
	timeout time.Duration // stress-ng's --timeout, whole seconds
	overrun time.Duration
	opts    []string // after each stressor's own
	dir     string   // working directory, temporary files and the report
}

// newRunner makes a runner from the flags. Without -stressng.bin and
// without stress-ng in PATH, tb skips.
func newRunner(tb testing.TB) *runner {
	tb.Helper()
	bin := *binFlag
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("stress-ng"); err != nil {
			tb.Skipf("stress-ng not found (PATH=%s): install Debian's stress-ng on the host whose root the guest shares (scripts/install-deps.sh), or pass -stressng.bin", os.Getenv("PATH"))
		}
	}
	if _, err := timeoutArg(*timeoutFlag); err != nil {
		tb.Fatal(err)
	}
	return &runner{bin: bin, timeout: *timeoutFlag, overrun: overrun, opts: optFlag, dir: tb.TempDir()}
}

// timeoutArg is stress-ng's --timeout for d, which must be a whole number
// of seconds (stress-ng truncates 1.5s to 1 s).
func timeoutArg(d time.Duration) (string, error) {
	if d < time.Second || d%time.Second != 0 {
		return "", fmt.Errorf("-stressng.timeout=%v: stress-ng runs for whole seconds, at least 1s", d)
	}
	return fmt.Sprintf("%ds", d/time.Second), nil
}

// args is stress-ng's command line for one instance of s, reporting to
// the YAML file report.
func (r *runner) args(s stressor, report string) ([]string, error) {
	t, err := timeoutArg(r.timeout)
	if err != nil {
		return nil, err
	}
	args := []string{"--" + s.name, "1", "--timeout", t, "--metrics", "--yaml", report, "--temp-path", r.dir}
	args = append(args, s.opts...)
	return append(args, r.opts...), nil
}

// run runs stress-ng once with one instance of s and returns what it
// reported. It fails when stress-ng exits non-zero, does not end in time,
// writes no report or one without the metrics of s, or counts no bogo
// operation; the error then holds stress-ng's command line and output
// (bounded).
func (r *runner) run(ctx context.Context, s stressor) (result, error) {
	report := filepath.Join(r.dir, s.name+".yaml")
	if err := os.Remove(report); err != nil && !errors.Is(err, os.ErrNotExist) {
		return result{}, err
	}
	args, err := r.args(s, report)
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout+r.overrun)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = r.dir
	out := &boundedBuffer{limit: outputLimit}
	cmd.Stdout, cmd.Stderr = out, out
	// SIGINT: stress-ng stops its stressors and reaps them.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = waitDelay
	runErr := cmd.Run()
	fail := func(format string, a ...any) (result, error) {
		return result{}, fmt.Errorf("%s\n$ %s\n%s", fmt.Sprintf(format, a...), strings.Join(cmd.Args, " "), out)
	}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return fail("stress-ng did not end within %v of its %v timeout: stopped (%v)", r.overrun, r.timeout, runErr)
	case errors.As(runErr, &exit) && exit.Exited():
		return fail("stress-ng exited with status %d: %s", exit.ExitCode(), exitMeaning(exit.ExitCode()))
	case runErr != nil:
		return fail("stress-ng: %v", runErr)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		return fail("stress-ng exited 0 but wrote no report: %v", err)
	}
	res, err := parseReport(data, s.name)
	if err != nil {
		return fail("stress-ng exited 0, but in %s: %v", report, err)
	}
	if res.BogoOps == 0 {
		return fail("stress-ng ran %s for %.2f s and counted no bogo operation", s.name, res.WallClock)
	}
	return res, nil
}

// exitMeaning is what stress-ng's exit status means (its man page, EXIT
// STATUS).
func exitMeaning(code int) string {
	switch code {
	case 1:
		return "an error: wrong options, or a fatal problem of the harness (out of memory, say)"
	case 2:
		return "a stressor failed"
	case 3:
		return "a stressor could not start for lack of a resource (ENOMEM, ENOSPC, a missing or unimplemented system call)"
	case 4:
		return "a stressor is not implemented on this system"
	case 5:
		return "a stressor was killed by an unexpected signal"
	case 6:
		return "a stressor exited unexpectedly: no timing metrics"
	case 7:
		return "the bogo-ops counts may be untrustworthy (a stressor killed while counting, by the OOM killer say)"
	}
	return "not a status stress-ng documents"
}

// boundedBuffer keeps the first and the last limit/2 bytes written to it.
type boundedBuffer struct {
	limit      int
	head, tail []byte
	dropped    int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.limit/2 - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - b.limit/2; over > 0 {
		b.dropped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

func (b *boundedBuffer) String() string {
	if b.dropped == 0 {
		return string(b.head) + string(b.tail)
	}
	return fmt.Sprintf("%s\n[... %d bytes left out ...]\n%s", b.head, b.dropped, b.tail)
}

// BenchmarkStressNG runs each stressor of the table as a sub-benchmark.
// One call of a sub-benchmark is one stress-ng run (with
// -test.benchtime=1x; a longer benchtime adds runs to the same sample,
// -test.count adds samples), reported in two units:
//
//   - bogo-ops/s: the bogo operations over the wall-clock time of the
//     runs, stress-ng's "bogo ops/s (real time)";
//   - bogo-ops/cpu-s: over the CPU time (user and system) of the
//     stressor, stress-ng's "bogo ops/s (usr+sys time)": what other load
//     on the machine takes from the stressor shows in the first and much
//     less in this one.
//
// ns/op is suppressed: it would be the duration of a run.
func BenchmarkStressNG(b *testing.B) {
	for _, s := range stressors {
		b.Run(s.name, func(b *testing.B) {
			r := newRunner(b)
			var ops, wall, cpu float64
			for b.Loop() {
				res, err := r.run(b.Context(), s)
				if err != nil {
					b.Fatal(err)
				}
				ops += res.BogoOps
				wall += res.WallClock
				cpu += res.CPU
				b.Logf("stress-ng %s: %.0f bogo ops in %.3f s (%.3f s of CPU): %.0f/s", res.Version, res.BogoOps, res.WallClock, res.CPU, res.Rate())
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ops/wall, "bogo-ops/s")
			if cpu > 0 {
				b.ReportMetric(ops/cpu, "bogo-ops/cpu-s")
			}
		})
	}
}

// TestStressNGVmspliceRuns runs the real stress-ng's vm-splice stressor
// for a second and checks that it ran: it exited 0, reported metrics for
// vm-splice, ran for about the second asked, and counted bogo operations.
// Like the other guest suites it judges the kernel it runs on, so on a
// host (no KVMTEST_GUEST=1) it skips.
func TestStressNGVmspliceRuns(t *testing.T) {
	if os.Getenv(proto.GuestEnv) != "1" {
		t.Skip("runs the real stress-ng on the running kernel: only in a kvmtest guest (KVMTEST_GUEST=1)")
	}
	r := newRunner(t)
	r.timeout = time.Second
	res, err := r.run(t.Context(), stressors[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stress-ng %s: vm-splice: %.0f bogo ops in %.3f s: %.0f/s", res.Version, res.BogoOps, res.WallClock, res.Rate())
	if res.WallClock < 0.9 || res.WallClock > 30 {
		t.Errorf("vm-splice ran for %.3f s, asked for 1 s", res.WallClock)
	}
}
