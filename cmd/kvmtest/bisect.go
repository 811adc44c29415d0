package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

var bisectCmd = &Command{
	Name:      "bisect",
	UsageLine: "bisect [MATRIX] --cell ID [--good REF] [--bad REF] [--test REGEX] [--suite NAMES] [--runs N] [--fixed] [--series] [--out DIR] [--verbose] [--progress auto|plain|tty]",
	Short:     "find the commit or the patch of a series that changed a result",
	Flags:     flag.NewFlagSet("bisect", flag.ContinueOnError),
	Long: `
Bisect finds the first state of the cell ID at which a result changed, by
binary search, with the machinery of kvmtest run: each state's kernel is
built (cached; a patch series' states share one build slot, so each costs
an incremental build) and booted with the cell's config and suites.

The states are
  - the patches of the cell's patch set, one more at each state: state 0
    is the kernel without them, state N has all N (for a kernel that is
    not from git, or with --series). REF is a count of patches, "base",
    "all", or a patch file's name (the state with it applied); the
    default range is base..all.
  - for a kernel from git, the commits from --good to --bad on --bad's
    first-parent line (--bad defaults to the kernel's ref), each built
    with the cell's patches.

A state is bad when a test matching --test REGEX (on SUITE/TEST or TEST)
fails or times out, or, when no such test ran, the kernel crashed or
timed out; good when the matching tests pass; untestable (skipped, as git
bisect skip) when it does not build or boot. Without --test a state is
good when the cell passes (every result as the matrix expects). With
--fixed, the search is for the first state where the result became good
(the good end fails, the bad end passes). --runs N tests each state N
times: bad if any run is bad, so that a flaky regression is caught.

Both ends are tested first. Each state's results are written under
OUT/steps/, the search under OUT/bisect.json; an OUT that already holds a
bisection is refused. A result that could not be written stops the
bisection with exit status 3, naming the file.

Exit status: 0 the first bad state was found; 1 the ends do not bracket a
change, or untestable states hide which of several is first; 2 bad input;
3 an end could not be built or booted; 130 interrupted.`,
}

var (
	bisectCell     = bisectCmd.Flags.String("cell", "", "the cell to bisect (its id; a glob must match exactly one)")
	bisectGood     = bisectCmd.Flags.String("good", "", "the good end: a git ref, or for a patch series a count, base or a patch file name (default base)")
	bisectBad      = bisectCmd.Flags.String("bad", "", "the bad end: a git ref (default the kernel's ref), or for a patch series a count, all or a patch file name (default all)")
	bisectTest     = bisectCmd.Flags.String("test", "", "judge states by the tests matching this regular expression (on SUITE/TEST and on TEST)")
	bisectRuns     = bisectCmd.Flags.Int("runs", 1, "run each state this many times; any bad run makes it bad")
	bisectFixed    = bisectCmd.Flags.Bool("fixed", false, "find the first state where the result became good (the good end fails)")
	bisectSeries   = bisectCmd.Flags.Bool("series", false, "bisect the cell's patch series even when its kernel is from git")
	bisectOut      = bisectCmd.Flags.String("out", "", "results directory (default ./kvmtest-results/bisect-TIMESTAMP)")
	bisectAccel    = bisectCmd.Flags.String("accel", "", "accelerator: auto, kvm or tcg (default: the matrix's vm.accel)")
	bisectVerbose  = bisectCmd.Flags.Bool("verbose", false, "also print each state's run progress")
	bisectSuites   = bisectCmd.Flags.String("suite", "", "run only these suites (comma-separated names; default all of the matrix's)")
	bisectProgress = progressFlag(bisectCmd.Flags)
)

// bisectStopLive stops the live display of the state being run.
var bisectStopLive = func() {}

func init() {
	bisectCmd.Run = runBisect
	register(bisectCmd)
}

func runBisect(cmd *Command, args []string) int {
	o, code := bisectOptions(args)
	if code != results.ExitOK {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	rec, err := engine.Bisect(ctx, o)
	bisectStopLive()
	var inputErr *engine.BisectInputError
	switch {
	case errors.As(err, &inputErr):
		return fatalf(results.ExitBadInput, "bisect: %v", err)
	case rec == nil:
		return fatalf(results.ExitInfra, "%v", err)
	}
	var recErr *engine.RecordError
	if errors.As(err, &recErr) && ctx.Err() == nil {
		// A result that could not be written: infrastructure, whatever
		// the search found (printed when it found it).
		if rec.FirstBad != nil { // set only when the search ended with one
			printBisect(ctx, rec, nil, o)
		}
		return fatalf(results.ExitInfra, "bisect: %v", err)
	}
	return printBisect(ctx, rec, err, o)
}

// bisectOptions checks the flags and loads the matrix and the cell. On
// failure it has printed the problem and returns the exit code.
func bisectOptions(args []string) (engine.BisectOptions, int) {
	var o engine.BisectOptions
	if len(args) > 1 {
		return o, fatalf(results.ExitBadInput, "bisect takes at most one matrix (got %d arguments)", len(args))
	}
	if *bisectCell == "" {
		return o, fatalf(results.ExitBadInput, "bisect: --cell is required (the cell to bisect)")
	}
	if *bisectRuns < 1 {
		return o, fatalf(results.ExitBadInput, "bisect: --runs %d: must be at least 1", *bisectRuns)
	}
	if *bisectTest != "" {
		re, err := regexp.Compile(*bisectTest)
		if err != nil {
			return o, fatalf(results.ExitBadInput, "bisect: --test: %v", err)
		}
		o.Test = re
	}
	cache, m, srcDir, code := loadMatrixArg(args)
	if m == nil {
		return o, code
	}
	cell, err := pickCell(m, *bisectCell)
	if err != nil {
		return o, fatalf(results.ExitBadInput, "bisect: %v", err)
	}
	if *bisectSuites != "" {
		if m, err = onlySuites(m, *bisectSuites); err != nil {
			return o, fatalf(results.ExitBadInput, "bisect: %v", err)
		}
	}
	out := *bisectOut
	if out == "" {
		out = filepath.Join("kvmtest-results", "bisect-"+time.Now().Format("20060102-150405"))
	}
	o.Matrix, o.Cell, o.Good, o.Bad, o.Runs, o.Fixed, o.Series = m, cell, *bisectGood, *bisectBad, *bisectRuns, *bisectFixed, *bisectSeries
	o.Out, o.Accel, o.Cache, o.SourceDir = out, *bisectAccel, cache, srcDir
	// Under --verbose each state's run shows its progress as kvmtest
	// run's (live on a terminal, see --progress), until the next state's;
	// the bisection's own lines go above it.
	var cur *progress
	o.NewProgress = func() engine.Progress {
		bisectStopLive()
		cur = newProgress(os.Stderr, !*bisectVerbose, *bisectProgress)
		bisectStopLive = cur.live(1)
		return cur
	}
	o.Logf = func(f string, a ...any) {
		line := "kvmtest: " + guesttext.Line(fmt.Sprintf(f, a...))
		if cur != nil {
			cur.Println(nil, line)
		} else {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	o.Reports = report.WriteAll
	return o, results.ExitOK
}

// printBisect prints how the bisection ended (err is the search's) and
// returns the exit status. Each line goes through guesttext.Line: a step's
// reason names the guest's tests.
func printBisect(ctx context.Context, rec *engine.BisectRecord, err error, o engine.BisectOptions) int {
	printf := func(format string, a ...any) { fmt.Println(guesttext.Line(fmt.Sprintf(format, a...))) }
	bad, good := "first bad", "last good"
	if o.Fixed {
		bad, good = "first fixed", "last still failing"
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "kvmtest: interrupted after %d step(s); what was tested is in %s\n", len(rec.Steps), o.Out)
		return results.ExitInterrupted
	case errors.Is(err, bisect.ErrGoodIsBad), errors.Is(err, bisect.ErrBadIsGood):
		printf("no change to bisect: %v (%s)", err, stepWhy(rec, o.Out, err))
		if errors.Is(err, bisect.ErrGoodIsBad) && !o.Fixed {
			printf("to find where a failing result started to pass, add --fixed")
		}
		return results.ExitFailed
	case errors.Is(err, bisect.ErrUntestableEnd):
		printf("cannot bisect: %v (%s)", err, stepWhy(rec, o.Out, err))
		return results.ExitInfra
	case err != nil:
		return fatalf(results.ExitInfra, "bisect: %v", err)
	}
	describe := func(i int) string {
		s := rec.States[i]
		if s.What != "" {
			return fmt.Sprintf("%s %q", s.Label, s.What)
		}
		return s.Label
	}
	if rec.Conclusive {
		printf("%s: %s", bad, describe(*rec.FirstBad))
	} else {
		printf("%s is one of %d states that could not all be tested:", bad, len(rec.Candidates))
		for _, i := range rec.Candidates {
			printf("  %s", describe(i))
		}
	}
	printf("%s: %s", good, describe(*rec.LastGood))
	printf("%d state(s) tested of %d (at most %d expected), %d kernel(s) built; results: %s",
		len(rec.Steps), len(rec.States), rec.Expected, rec.Builds, filepath.Join(o.Out, engine.BisectFile))
	if !rec.Conclusive {
		return results.ExitFailed
	}
	return results.ExitOK
}

// pickCell finds the cell to bisect: an exact id, or a glob matching one
// (as run's --cell, whose errors it shares).
func pickCell(m *matrices.Matrix, id string) (matrices.Cell, error) {
	if c, ok := m.Cell(id); ok {
		return checkRunnable(c)
	}
	match, err := selectCells(m.Cells(), id, "")
	if err != nil {
		return matrices.Cell{}, err
	}
	if len(match) == 1 {
		return checkRunnable(match[0])
	}
	var names []string
	for _, c := range match {
		names = append(names, c.ID)
	}
	return matrices.Cell{}, fmt.Errorf("--cell %q matches %d cells (%s): name one", id, len(match), strings.Join(names, ", "))
}

func checkRunnable(c matrices.Cell) (matrices.Cell, error) {
	if c.Skip != "" {
		return c, fmt.Errorf("cell %s is not run: %s", c.ID, c.Skip)
	}
	return c, nil
}

// stepWhy returns the reason of the last step, which decided err.
func stepWhy(rec *engine.BisectRecord, out string, err error) string {
	if len(rec.Steps) == 0 {
		return err.Error()
	}
	s := rec.Steps[len(rec.Steps)-1]
	var dirs []string
	for _, d := range s.Dirs {
		dirs = append(dirs, filepath.Join(out, d))
	}
	return fmt.Sprintf("%s: %s; results in %s", rec.States[s.State].Label, s.Why, strings.Join(dirs, ", "))
}

// onlySuites returns a copy of m that runs only the named suites.
func onlySuites(m *matrices.Matrix, list string) (*matrices.Matrix, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	c := *m
	c.Suites = nil
	var all []string
	for _, s := range m.Suites {
		all = append(all, s.Name)
		if want[s.Name] {
			c.Suites = append(c.Suites, s)
			delete(want, s.Name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("--suite %s: no such suite (suites: %s)", n, strings.Join(all, ", "))
	}
	return &c, nil
}
