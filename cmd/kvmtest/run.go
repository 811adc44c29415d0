package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

var runCmd = &Command{
	Name:      "run",
	UsageLine: "run [MATRIX|NAME] [--out DIR] [--jobs N] [--cell GLOB] [--shard I/N] [--accel auto|kvm|tcg] [--resume DIR] [--keep-going=false] [--quiet] [--progress auto|plain|tty]",
	Short:     "build, boot and test every cell of a matrix",
	Flags:     flag.NewFlagSet("run", flag.ContinueOnError),
	Long: `
Run builds each cell's kernel (cached: a cell whose kernel was built before
builds nothing), boots it under QEMU with the guest agent and the matrix's
suites, and writes the results under --out (default: a new timestamped
directory under ./kvmtest-results/): run.json, and per cell
cells/ID/{build.log,kernel.config,console.log,events.jsonl,bench.txt}.
An --out that already holds a run (run.json or cells/) is refused: choose
a new directory, or continue an interrupted run with --resume DIR.

MATRIX is a matrix file, or the name of a shipped matrix; with no argument
the embedded default matrix runs.

A cell that fails never hides the others: every cell runs (--keep-going,
the default). With --keep-going=false, once a cell ends not as expected
the cells that have not started building or booting are skipped, with a
reason naming that cell; cells already running finish. --resume DIR then
runs the cells the stop skipped.

Exit status: 0 every result as expected, 1 tests failed or a kernel
crashed, 2 bad input, 3 infrastructure failure (a cell could not be built
or booted, or a result could not be written: the message names the file,
and run.json lists the cell's incomplete files), 130 interrupted (results
so far are written; --resume DIR continues).

Progress goes to stderr: on a terminal, a live line per running cell and
an overall bar, cut to the terminal's width and redrawn in place (and at
once when the terminal is resized), above them a timestamped line per
event; elsewhere (a pipe, a CI log), or when TERM=dumb, only the
timestamped lines, with no escape sequence. --progress=plain asks for
the plain lines on a terminal too, --progress=tty for the live display
anywhere; NO_COLOR set (to anything) turns the colours off. The summary
goes to stdout; a reason of several lines (a config option that did not
survive olddefconfig with its unmet dependencies, a compiler's errors)
is shown by its first 8 lines, the rest is in run.json.`,
}

var (
	runOut      = runCmd.Flags.String("out", "", "results directory (default ./kvmtest-results/TIMESTAMP)")
	runJobs     = runCmd.Flags.Int("jobs", 0, "at most N VMs at once, within the host's vCPU and memory budget (default: as many as cores and memory allow; kernel builds run one at a time, each on every core, overlapping other cells' boots)")
	runCell     = runCmd.Flags.String("cell", "", "run only cells whose id matches this glob (e.g. '6.12-*')")
	runShard    = runCmd.Flags.String("shard", "", "run one deterministic share I/N of the cells (1 <= I <= N)")
	runAccel    = runCmd.Flags.String("accel", "", "accelerator: auto, kvm or tcg (default: the matrix's vm.accel)")
	runResume   = runCmd.Flags.String("resume", "", "continue the interrupted (or --keep-going=false stopped) run in DIR: finished cells are kept")
	runQuiet    = runCmd.Flags.Bool("quiet", false, "print only the summary")
	runVerbose  = runCmd.Flags.Bool("verbose", false, "also stream the console of running cells (to stderr, each line prefixed with its cell)")
	runList     = runCmd.Flags.Bool("list", false, "list the shipped matrices and exit")
	runKeep     = runCmd.Flags.Bool("keep-initramfs", false, "keep every cell's initramfs.cpio (failed cells always keep theirs)")
	runKeepGo   = runCmd.Flags.Bool("keep-going", true, "run every cell whatever the others do (the default); --keep-going=false skips the cells not yet started once one ends not as expected")
	runProgress = progressFlag(runCmd.Flags)
)

func init() {
	runCmd.Run = runRun
	register(runCmd)
}

func runRun(cmd *Command, args []string) int {
	if *runList {
		return listBuiltins()
	}
	if len(args) > 1 {
		return fatalf(results.ExitBadInput, "run takes at most one matrix (got %d arguments)", len(args))
	}
	arg := ""
	if len(args) == 1 {
		arg = args[0]
	}
	cache, err := openCache()
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	var prev *results.Run
	out := *runOut
	if *runResume != "" {
		prev, err = results.Read(*runResume)
		if err != nil {
			return fatalf(results.ExitBadInput, "--resume: %v", err)
		}
		out = *runResume
		if arg == "" && prev.Matrix.File != "" {
			arg = prev.Matrix.File
		}
	}
	file, srcDir, err := resolveMatrix(cache, arg)
	if err != nil {
		return fatalf(results.ExitBadInput, "%v", err)
	}
	m, err := matrices.Load(file)
	if err != nil {
		return printMatrixError(err)
	}
	printWarnings(os.Stderr, m)
	if prev != nil && prev.Matrix.Digest != m.Digest {
		return fatalf(results.ExitBadInput, "--resume %s: the matrix changed since that run (digest %s, now %s)", out, prev.Matrix.Digest, m.Digest)
	}
	cells, err := selectCells(m.Cells(), *runCell, *runShard)
	if err != nil {
		return fatalf(results.ExitBadInput, "%v", err)
	}
	var whole []string
	if *runShard != "" {
		all, _ := selectCells(m.Cells(), *runCell, "")
		for _, c := range all {
			whole = append(whole, c.ID)
		}
	}
	if out == "" {
		out = filepath.Join("kvmtest-results", time.Now().Format("20060102-150405"))
	}
	if prev == nil {
		if err := engine.CheckOut(out); err != nil {
			return fatalf(results.ExitBadInput, "run: --out %v", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// A go-test package that does not compile is bad input, said with
	// its matrix line before any kernel is built (the run then finds the
	// programs compiled in the cache).
	if code := checkArchTools(os.Stderr, m, cells); code != results.ExitOK {
		return code // a missing cross compiler or QEMU: said now, not after the other builds
	}
	if code := checkGuest(ctx, os.Stderr, cache, m); code != results.ExitOK {
		return code
	}
	p := newProgress(os.Stderr, *runQuiet, *runProgress)
	p.Logf("matrix %s (%s): %d cell(s), results in %s", m.Name, file, len(cells), out)
	opts := engine.Options{
		Matrix: m, Cells: cells, Out: out, Jobs: *runJobs, Accel: *runAccel,
		Cache: cache, SourceDir: srcDir, Progress: p, Previous: prev, Shard: *runShard, WholeCells: whole, KeepInitramfs: *runKeep,
		StopAfterFailure: !*runKeepGo,
	}
	if *runVerbose {
		opts.ConsoleTap = func(cell string) io.Writer { return &prefixWriter{p: p, prefix: "[" + cell + "] "} }
	}
	stopLive := p.live(len(cells))
	run, err := engine.Run(ctx, opts)
	var repErr error
	if run != nil {
		repErr = writeReports(out, run, m)
	}
	stopLive()
	var inUse *engine.OutInUseError
	switch {
	case errors.As(err, &inUse):
		return fatalf(results.ExitBadInput, "run: --out %v", err)
	case run == nil:
		return fatalf(results.ExitInfra, "%v", err)
	}
	printSummary(os.Stdout, run, out)
	return runExit(ctx, run, out, err, repErr)
}

// runExit reports what of a finished run could not be written and
// returns the exit status: the cells' (run.ExitCode), 130 when
// interrupted, 3 when run.json (runErr) or a report (repErr) could not
// be written.
func runExit(ctx context.Context, run *results.Run, out string, runErr, repErr error) int {
	code := run.ExitCode()
	for _, c := range run.Cells {
		for _, f := range c.Incomplete {
			fmt.Fprintf(os.Stderr, "kvmtest: %s could not be written whole: the record of cell %s is incomplete (%s)\n", filepath.Join(out, f), c.ID, c.Status)
		}
	}
	if ctx.Err() != nil {
		code = results.ExitInterrupted
		fmt.Fprintf(os.Stderr, "kvmtest: interrupted; results so far are in %s (continue with: kvmtest run --resume %s)\n", out, out)
	}
	if repErr != nil {
		code = fatalf(results.ExitInfra, "writing the reports: %v", repErr)
	}
	if runErr != nil {
		code = fatalf(results.ExitInfra, "%v: the results above are not recorded", runErr)
	}
	return code
}

// writeReports writes a finished run's reports into out (report.WriteAll,
// with the run's matrix) and returns why one could not be: the reports
// are results too.
func writeReports(out string, run *results.Run, m *matrices.Matrix) error {
	return report.WriteAll(out, run, m)
}
