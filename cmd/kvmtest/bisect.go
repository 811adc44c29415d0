package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

var bisectCmd = &Command{
	Name:      "bisect",
	UsageLine: "bisect [MATRIX] --cell ID [--good REF] [--bad REF] [--test REGEX] [--suite NAMES] [--runs N] [--fixed] [--series] [--out DIR]",
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
OUT/steps/, the search under OUT/bisect.json.

Exit status: 0 the first bad state was found; 1 the ends do not bracket a
change, or untestable states hide which of several is first; 2 bad input;
3 an end could not be built or booted; 130 interrupted.`,
}

var (
	bisectCell    = bisectCmd.Flags.String("cell", "", "the cell to bisect (its id; a glob must match exactly one)")
	bisectGood    = bisectCmd.Flags.String("good", "", "the good end: a git ref, or for a patch series a count, base or a patch file name (default base)")
	bisectBad     = bisectCmd.Flags.String("bad", "", "the bad end: a git ref (default the kernel's ref), or for a patch series a count, all or a patch file name (default all)")
	bisectTest    = bisectCmd.Flags.String("test", "", "judge states by the tests matching this regular expression (on SUITE/TEST and on TEST)")
	bisectRuns    = bisectCmd.Flags.Int("runs", 1, "run each state this many times; any bad run makes it bad")
	bisectFixed   = bisectCmd.Flags.Bool("fixed", false, "find the first state where the result became good (the good end fails)")
	bisectSeries  = bisectCmd.Flags.Bool("series", false, "bisect the cell's patch series even when its kernel is from git")
	bisectOut     = bisectCmd.Flags.String("out", "", "results directory (default ./kvmtest-results/bisect-TIMESTAMP)")
	bisectAccel   = bisectCmd.Flags.String("accel", "", "accelerator: auto, kvm or tcg (default: the matrix's vm.accel)")
	bisectVerbose = bisectCmd.Flags.Bool("verbose", false, "also print each state's run progress")
	bisectSuites  = bisectCmd.Flags.String("suite", "", "run only these suites (comma-separated names; default all of the matrix's)")
)

func init() {
	bisectCmd.Run = runBisect
	register(bisectCmd)
}

// bisectState is one state of the search: a kernel to build and test.
type bisectState struct {
	Index int    `json:"index"`
	Label string `json:"label"`          // "2/3 0002-foo.patch" or "5/12 abcdef123456"
	What  string `json:"what,omitempty"` // the patch's or the commit's subject
	// Patches applied (series mode: the first Index of the series).
	Patches []string `json:"patches,omitempty"`
	Commit  string   `json:"commit,omitempty"` // git mode
}

// bisectStep is one state tested.
type bisectStep struct {
	State   int      `json:"state"`
	Verdict string   `json:"verdict"`
	Why     string   `json:"why"`
	Dirs    []string `json:"dirs"` // results of each run, relative to OUT
	Built   int      `json:"built"`
}

// bisectRecord is OUT/bisect.json.
type bisectRecord struct {
	Matrix     string        `json:"matrix"`
	Cell       string        `json:"cell"`
	Mode       string        `json:"mode"` // "series" or "git"
	Test       string        `json:"test,omitempty"`
	Fixed      bool          `json:"fixed,omitempty"`
	Runs       int           `json:"runs"`
	States     []bisectState `json:"states"`
	Steps      []bisectStep  `json:"steps"`
	FirstBad   *int          `json:"first_bad,omitempty"`
	LastGood   *int          `json:"last_good,omitempty"`
	Candidates []int         `json:"candidates,omitempty"`
	Conclusive bool          `json:"conclusive"`
	Error      string        `json:"error,omitempty"`
	Builds     int           `json:"builds"`
	Expected   int           `json:"expected_steps"` // the two ends plus ceil(log2(states-1))
	Started    time.Time     `json:"started"`
	Finished   time.Time     `json:"finished"`
}

func runBisect(cmd *Command, args []string) int {
	if len(args) > 1 {
		return fatalf(2, "bisect takes at most one matrix (got %d arguments)", len(args))
	}
	if *bisectCell == "" {
		return fatalf(2, "bisect: --cell is required (the cell to bisect)")
	}
	if *bisectRuns < 1 {
		return fatalf(2, "bisect: --runs %d: must be at least 1", *bisectRuns)
	}
	var testRE *regexp.Regexp
	if *bisectTest != "" {
		re, err := regexp.Compile(*bisectTest)
		if err != nil {
			return fatalf(2, "bisect: --test: %v", err)
		}
		testRE = re
	}
	cache, m, srcDir, code := loadMatrixArg(args)
	if m == nil {
		return code
	}
	cell, err := pickCell(m, *bisectCell)
	if err != nil {
		return fatalf(2, "bisect: %v", err)
	}
	if *bisectSuites != "" {
		if m, err = onlySuites(m, *bisectSuites); err != nil {
			return fatalf(2, "bisect: %v", err)
		}
	}
	out := *bisectOut
	if out == "" {
		out = filepath.Join("kvmtest-results", "bisect-"+time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(filepath.Join(out, "steps"), 0o755); err != nil {
		return fatalf(3, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	rec := &bisectRecord{Matrix: m.File, Cell: cell.ID, Test: *bisectTest, Fixed: *bisectFixed, Runs: *bisectRuns, Started: time.Now().UTC()}
	var states []bisectState
	if cell.Kernel.Source.Git != nil && !*bisectSeries {
		rec.Mode = "git"
		states, err = gitStates(ctx, cache, cell, *bisectGood, *bisectBad)
	} else {
		rec.Mode = "series"
		states, err = seriesStates(cell, filepath.Join(out, "series", "split"), *bisectGood, *bisectBad)
	}
	if err != nil {
		return fatalf(2, "bisect: %v", err)
	}
	rec.States, rec.Expected = states, bisect.Expected(len(states))
	save := func() {
		rec.Finished = time.Now().UTC()
		b, _ := json.MarshalIndent(rec, "", "  ")
		if err := os.WriteFile(filepath.Join(out, "bisect.json"), append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "kvmtest: writing bisect.json: %v\n", err)
		}
	}
	what := "the result changed"
	if testRE != nil {
		what = "tests matching " + strconv.Quote(*bisectTest)
	}
	fmt.Fprintf(os.Stderr, "kvmtest: bisecting %s (%s mode): %d states, %s; about %d steps; results in %s\n",
		cell.ID, rec.Mode, len(states), what, rec.Expected, out)

	judge := func(ctx context.Context, i int) (bisect.Verdict, error) {
		st := states[i]
		c, err := stateCell(cell, st, filepath.Join(out, "series"))
		if err != nil {
			return bisect.Skip, err
		}
		step := bisectStep{State: i}
		verdicts := make([]bisect.Verdict, 0, *bisectRuns)
		var whys []string
		for r := 1; r <= *bisectRuns; r++ {
			dir := fmt.Sprintf("steps/%02d-state%d", len(rec.Steps)+1, i)
			if *bisectRuns > 1 {
				dir += fmt.Sprintf("-run%d", r)
			}
			p := newProgress(os.Stderr, !*bisectVerbose)
			run, err := engine.Run(ctx, engine.Options{
				Matrix: m, Cells: []matrices.Cell{c}, Out: filepath.Join(out, dir), Jobs: 1, Accel: *bisectAccel,
				Cache: cache, SourceDir: srcDir, Progress: p,
			})
			if err != nil {
				return bisect.Skip, err
			}
			if ctx.Err() != nil {
				return bisect.Skip, ctx.Err()
			}
			rc := run.Cells[0]
			if !rc.BuildCached && rc.ArtifactKey != "" {
				step.Built++
			}
			v, why := judgeCell(rc, testRE)
			if *bisectFixed {
				v = flip(v)
			}
			verdicts, whys = append(verdicts, v), append(whys, why)
			step.Dirs = append(step.Dirs, dir)
		}
		v := combine(verdicts)
		step.Verdict, step.Why = v.String(), strings.Join(unique(whys), "; ")
		rec.Steps = append(rec.Steps, step)
		rec.Builds += step.Built
		save()
		fmt.Fprintf(os.Stderr, "kvmtest: step %d: %s: %s (%s)\n", len(rec.Steps), st.Label, v, step.Why)
		return v, nil
	}
	res, err := bisect.Search(ctx, len(states), judge)
	if res.FirstBad >= 0 {
		fb, lg := res.FirstBad, res.LastGood
		rec.FirstBad, rec.LastGood, rec.Candidates, rec.Conclusive = &fb, &lg, res.Candidates, res.Conclusive()
	}
	if err != nil {
		rec.Error = err.Error()
	}
	save()
	bad, good := "first bad", "last good"
	if *bisectFixed {
		bad, good = "first fixed", "last still failing"
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "kvmtest: interrupted after %d step(s); what was tested is in %s\n", len(rec.Steps), out)
		return results.ExitInterrupted
	case errors.Is(err, bisect.ErrGoodIsBad), errors.Is(err, bisect.ErrBadIsGood):
		fmt.Printf("no change to bisect: %v (%s)\n", err, stepWhy(rec, out, err))
		if errors.Is(err, bisect.ErrGoodIsBad) && !*bisectFixed {
			fmt.Printf("to find where a failing result started to pass, add --fixed\n")
		}
		return results.ExitFailed
	case errors.Is(err, bisect.ErrUntestableEnd):
		fmt.Printf("cannot bisect: %v (%s)\n", err, stepWhy(rec, out, err))
		return results.ExitInfra
	case err != nil:
		return fatalf(3, "bisect: %v", err)
	}
	describe := func(i int) string {
		s := states[i]
		if s.What != "" {
			return fmt.Sprintf("%s %q", s.Label, s.What)
		}
		return s.Label
	}
	if res.Conclusive() {
		fmt.Printf("%s: %s\n", bad, describe(res.FirstBad))
	} else {
		fmt.Printf("%s is one of %d states that could not all be tested:\n", bad, len(res.Candidates))
		for _, i := range res.Candidates {
			fmt.Printf("  %s\n", describe(i))
		}
	}
	fmt.Printf("%s: %s\n", good, describe(res.LastGood))
	fmt.Printf("%d state(s) tested of %d (at most %d expected), %d kernel(s) built; results: %s\n",
		len(rec.Steps), len(states), rec.Expected, rec.Builds, filepath.Join(out, "bisect.json"))
	if !res.Conclusive() {
		return results.ExitFailed
	}
	return 0
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

// seriesStates lists the states of a patch-series bisection: 0..N patches,
// restricted to good..bad.
func seriesStates(c matrices.Cell, splitDir, good, bad string) ([]bisectState, error) {
	if c.Patchset.Series == "" {
		if c.Kernel.Source.Git != nil {
			return nil, fmt.Errorf("cell %s has no patch series (its kernel is from git: give --good and --bad, without --series)", c.ID)
		}
		return nil, fmt.Errorf("cell %s has no patch series and its kernel is not from git: nothing to bisect", c.ID)
	}
	patches, err := builder.SeriesPatches(c.Patchset.Series, splitDir)
	if err != nil {
		return nil, err
	}
	n := len(patches)
	ref := func(flagName, s string, def int) (int, error) {
		switch s {
		case "":
			return def, nil
		case "base", "none":
			return 0, nil
		case "all":
			return n, nil
		}
		if k, err := strconv.Atoi(s); err == nil {
			if k < 0 || k > n {
				return 0, fmt.Errorf("--%s %d: the series has %d patches (0..%d)", flagName, k, n, n)
			}
			return k, nil
		}
		for i, p := range patches {
			if filepath.Base(p) == s {
				return i + 1, nil
			}
		}
		var names []string
		for _, p := range patches {
			names = append(names, filepath.Base(p))
		}
		return 0, fmt.Errorf("--%s %q: not a count, base, all or a patch of the series (%s)", flagName, s, strings.Join(names, ", "))
	}
	lo, err := ref("good", good, 0)
	if err != nil {
		return nil, err
	}
	hi, err := ref("bad", bad, n)
	if err != nil {
		return nil, err
	}
	if lo >= hi {
		return nil, fmt.Errorf("--good (%d patches) must come before --bad (%d patches)", lo, hi)
	}
	var states []bisectState
	for k := lo; k <= hi; k++ {
		s := bisectState{Index: k - lo, Patches: patches[:k]}
		if k == 0 {
			s.Label = fmt.Sprintf("0/%d (no patches)", n)
		} else {
			s.Label = fmt.Sprintf("%d/%d %s", k, n, filepath.Base(patches[k-1]))
			s.What = builder.PatchSubject(patches[k-1])
		}
		states = append(states, s)
	}
	return states, nil
}

// gitStates lists the commits of a git bisection.
func gitStates(ctx context.Context, cache *builder.Cache, c matrices.Cell, good, bad string) ([]bisectState, error) {
	if good == "" {
		return nil, fmt.Errorf("--good is required for a kernel from git (%s)", c.Kernel.Source.Git.Repo)
	}
	if bad == "" {
		bad = c.Kernel.Source.Git.Ref
	}
	commits, err := cache.RevList(ctx, c.Kernel.Source.Git.Repo, good, bad, func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "kvmtest: "+f+"\n", a...)
	})
	if err != nil {
		return nil, err
	}
	if len(commits) < 2 {
		return nil, fmt.Errorf("--good %s and --bad %s are the same commit", good, bad)
	}
	var states []bisectState
	for i, cm := range commits {
		states = append(states, bisectState{Index: i, Label: fmt.Sprintf("%d/%d %s", i, len(commits)-1, cm.Hash[:12]), What: cm.Subject, Commit: cm.Hash})
	}
	return states, nil
}

// stateCell is the cell as built and run for one state: same id, config,
// suites and expectations, with the state's patches (copied under
// seriesRoot) or commit.
func stateCell(c matrices.Cell, st bisectState, seriesRoot string) (matrices.Cell, error) {
	if st.Commit != "" {
		k := *c.Kernel
		g := *k.Source.Git
		g.Ref = st.Commit
		k.Source.Git = &g
		c.Kernel = &k
		return c, nil
	}
	ps := *c.Patchset
	ps.Series, ps.SeriesFormat = "", ""
	if len(st.Patches) > 0 {
		dir, err := seriesDir(filepath.Join(seriesRoot, fmt.Sprintf("state%d", st.Index)), st.Patches)
		if err != nil {
			return c, err
		}
		ps.Series, ps.SeriesFormat = dir, "dir"
	}
	c.Patchset = &ps
	return c, nil
}

// seriesDir copies patches into dir so that their names sort in the order
// they apply (a directory series applies in name order) and returns dir.
// The build cache keys patches by content, so a state's kernel is the
// same artifact whatever the files are called.
func seriesDir(dir string, patches []string) (string, error) {
	names := make([]string, len(patches))
	for i, p := range patches {
		names[i] = filepath.Base(p)
	}
	ordered := sort.StringsAreSorted(names)
	for i := 1; i < len(names) && ordered; i++ {
		ordered = names[i] != names[i-1]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for i, p := range patches {
		name := names[i]
		if !ordered {
			name = fmt.Sprintf("%04d-%s", i+1, name)
		}
		if !strings.HasSuffix(name, ".patch") && !strings.HasSuffix(name, ".diff") {
			name += ".patch"
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("patch series: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// judgeCell says whether a state's run is good, bad or untestable, and why.
func judgeCell(c *results.Cell, re *regexp.Regexp) (bisect.Verdict, string) {
	untestable := func() (bisect.Verdict, string) {
		return bisect.Skip, c.Status + ": " + firstLine(c.Reason)
	}
	switch c.Status {
	case results.StatusBuildFailed, results.StatusBootFailed, results.StatusSkipped, results.StatusInterrupted:
		return untestable()
	}
	if re == nil {
		switch c.Status {
		case results.StatusPassed:
			return bisect.Good, "passed"
		case results.StatusFailed, results.StatusCrashed, results.StatusTimedOut:
			return bisect.Bad, c.Status + ": " + firstLine(c.Reason)
		}
		return untestable()
	}
	var bad, good []string
	for _, s := range c.Suites {
		for _, t := range s.Tests {
			if !re.MatchString(s.Name+"/"+t.Name) && !re.MatchString(t.Name) {
				continue
			}
			switch t.Status {
			case "fail", "timeout", "error":
				bad = append(bad, s.Name+"/"+t.Name+": "+t.Status)
			case "pass":
				good = append(good, s.Name+"/"+t.Name+": pass")
			}
		}
	}
	switch {
	case len(bad) > 0:
		return bisect.Bad, strings.Join(bad, ", ")
	case len(good) > 0:
		return bisect.Good, strings.Join(good, ", ")
	case c.Status == results.StatusCrashed || c.Status == results.StatusTimedOut:
		return bisect.Bad, c.Status + " before a matching test ran: " + firstLine(c.Reason)
	}
	return bisect.Skip, "no test matching the --test expression passed or failed (" + c.Status + ")"
}

func flip(v bisect.Verdict) bisect.Verdict {
	switch v {
	case bisect.Good:
		return bisect.Bad
	case bisect.Bad:
		return bisect.Good
	}
	return v
}

// combine joins the verdicts of several runs of one state: bad if any is
// bad, untestable if any is, good otherwise.
func combine(vs []bisect.Verdict) bisect.Verdict {
	out := bisect.Good
	for _, v := range vs {
		switch {
		case v == bisect.Bad:
			return bisect.Bad
		case v == bisect.Skip:
			out = bisect.Skip
		}
	}
	return out
}

func unique(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// stepWhy returns the reason of the last step, which decided err.
func stepWhy(rec *bisectRecord, out string, err error) string {
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
