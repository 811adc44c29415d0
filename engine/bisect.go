package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/internal/atomicfile"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// BisectFile is the record of a bisection, in its results directory.
const BisectFile = "bisect.json"

// BisectOptions configure a bisection (kvmtest bisect).
type BisectOptions struct {
	// Matrix is the cell's matrix, already restricted to the suites to
	// run.
	Matrix *matrices.Matrix
	Cell   matrices.Cell // the cell to bisect (runnable: no Skip)
	// Good and Bad are the ends of the range: for a kernel from git, refs
	// (Good is required, Bad defaults to the kernel's ref); for a patch
	// series, a count of patches, "base" (or "none"), "all" or a patch
	// file's name (defaults base and all).
	Good, Bad string
	// Test, when set, judges a state by the tests it matches (on
	// SUITE/TEST and on TEST); nil judges by the cell's status.
	Test *regexp.Regexp
	// Runs is how many times each state runs (any bad run makes it bad);
	// below 1 counts as 1.
	Runs int
	// Fixed looks for the first state where the result became good.
	Fixed bool
	// Series bisects the cell's patch series even when its kernel is
	// from git.
	Series bool
	// Out is the results directory: OUT/bisect.json, OUT/steps/ (each
	// run of a state, a results directory) and OUT/series/ (the states'
	// patches).
	Out       string
	Accel     string // overrides the matrix's vm.accel when not ""
	Cache     *builder.Cache
	SourceDir string // as Options.SourceDir
	// NewProgress returns the Progress of one run of one state.
	NewProgress func() Progress
	// Logf reports the bisection itself: the plan, each step, a failure
	// to write bisect.json.
	Logf func(format string, args ...any)
	// Reports, when set, writes the reports of a state's run into its
	// directory once the run returns (what kvmtest run does after
	// Run); a failure is logged to that run's Progress.
	Reports func(dir string, run *results.Run, m *matrices.Matrix) error
}

// BisectState is one state of the search: a kernel to build and test.
type BisectState struct {
	Index int    `json:"index"`
	Label string `json:"label"`          // "2/3 0002-foo.patch" or "5/12 abcdef123456"
	What  string `json:"what,omitempty"` // the patch's or the commit's subject
	// Patches applied (series mode: the first Index of the series).
	Patches []string `json:"patches,omitempty"`
	Commit  string   `json:"commit,omitempty"` // git mode
}

// BisectStep is one state tested.
type BisectStep struct {
	State   int      `json:"state"`
	Verdict string   `json:"verdict"`
	Why     string   `json:"why"`
	Dirs    []string `json:"dirs"` // results of each run, relative to OUT
	Built   int      `json:"built"`
}

// BisectRecord is OUT/bisect.json: the states, every step so far and,
// once the search ended, its outcome.
type BisectRecord struct {
	Matrix string `json:"matrix"`
	Cell   string `json:"cell"`
	Mode   string `json:"mode"` // "series" or "git"
	Test   string `json:"test,omitempty"`
	Fixed  bool   `json:"fixed,omitempty"`
	Runs   int    `json:"runs"`
	// States are the states of the search, from the good end (0) to
	// the bad end.
	States []BisectState `json:"states"`
	Steps  []BisectStep  `json:"steps"`
	// FirstBad and LastGood are set when the search ended with a first
	// bad state (bisect.Result).
	FirstBad   *int  `json:"first_bad,omitempty"`
	LastGood   *int  `json:"last_good,omitempty"`
	Candidates []int `json:"candidates,omitempty"`
	Conclusive bool  `json:"conclusive"`
	// Error is why the search stopped without one.
	Error    string    `json:"error,omitempty"`
	Builds   int       `json:"builds"`
	Expected int       `json:"expected_steps"` // the two ends plus ceil(log2(states-1))
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// BisectInputError is an error in what a bisection was asked: a cell with
// nothing to bisect, ends that are not in the range (kvmtest bisect's
// exit status 2).
type BisectInputError struct{ Err error }

func (e *BisectInputError) Error() string { return e.Err.Error() }
func (e *BisectInputError) Unwrap() error { return e.Err }

// Bisect finds the first state of o.Cell at which the result changed, by
// binary search (package bisect) over its patch series or its git
// commits, building and running each state with Run. OUT/bisect.json is
// written (atomically) after every step and at the end.
//
// The error is a *BisectInputError when the states could not be listed
// from o; the record is then nil, as it is when OUT could not be made.
// An OUT that already holds a bisection (bisect.json or steps/) is
// refused with a *BisectInputError.
// Otherwise the record holds what was tested and the error is the
// search's (bisect.ErrGoodIsBad, ErrBadIsGood, ErrUntestableEnd, a failed
// run, or the context's error when interrupted). When bisect.json could
// not be written after a step the search stops; when its last write
// failed, the error includes (errors.Join) a *RecordError naming it.
func Bisect(ctx context.Context, o BisectOptions) (*BisectRecord, error) {
	return (&bisector{o: o, run: Run}).bisect(ctx)
}

// bisector is one bisection under way.
type bisector struct {
	o   BisectOptions
	run func(context.Context, Options) (*results.Run, error) // Run; replaced in tests
	rec *BisectRecord
}

func (b *bisector) bisect(ctx context.Context) (*BisectRecord, error) {
	o := &b.o
	o.Runs = max(o.Runs, 1)
	if err := checkBisectOut(o.Out); err != nil {
		return nil, &BisectInputError{Err: err}
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "steps"), 0o755); err != nil {
		return nil, err
	}
	b.rec = &BisectRecord{Matrix: o.Matrix.File, Cell: o.Cell.ID, Fixed: o.Fixed, Runs: o.Runs, Started: time.Now().UTC()}
	if o.Test != nil {
		b.rec.Test = o.Test.String()
	}
	states, err := b.states(ctx)
	if err != nil {
		return nil, &BisectInputError{Err: err}
	}
	b.rec.States, b.rec.Expected = states, bisect.Expected(len(states))
	what := "the result changed"
	if o.Test != nil {
		what = "tests matching " + strconv.Quote(o.Test.String())
	}
	o.Logf("bisecting %s (%s mode): %d states, %s; about %d steps; results in %s",
		o.Cell.ID, b.rec.Mode, len(states), what, b.rec.Expected, o.Out)
	res, err := bisect.Search(ctx, len(states), b.judge)
	if res.FirstBad >= 0 {
		fb, lg := res.FirstBad, res.LastGood
		b.rec.FirstBad, b.rec.LastGood, b.rec.Candidates, b.rec.Conclusive = &fb, &lg, res.Candidates, res.Conclusive()
	}
	if err != nil {
		b.rec.Error = err.Error()
	}
	serr := b.save()
	var rerr *RecordError
	if errors.As(err, &rerr) && rerr.Path == filepath.Join(o.Out, BisectFile) {
		serr = nil // the search stopped on it: said once
	}
	return b.rec, errors.Join(err, serr)
}

// checkBisectOut refuses an OUT that holds a bisection: its bisect.json
// would be overwritten and its steps mixed with the new ones.
func checkBisectOut(out string) error {
	_, err := os.Lstat(filepath.Join(out, BisectFile))
	if errors.Is(err, fs.ErrNotExist) && !nonEmptyDir(filepath.Join(out, "steps")) {
		return nil
	}
	return fmt.Errorf("--out %s already holds a bisection (%s or steps/): choose a new directory", out, BisectFile)
}

// states lists the states of the search and sets the record's mode: the
// commits of a kernel from git (unless Series), else the patch series.
func (b *bisector) states(ctx context.Context) ([]BisectState, error) {
	o := &b.o
	if o.Cell.Kernel.Source.Git != nil && !o.Series {
		b.rec.Mode = "git"
		return gitStates(ctx, o.Cache, o.Cell, o.Good, o.Bad, o.Logf)
	}
	b.rec.Mode = "series"
	return seriesStates(o.Cell, filepath.Join(o.Out, "series", "split"), o.Good, o.Bad)
}

// judge is the search's bisect.Judge: it runs state i Runs times, records
// the step and says whether the state is good, bad or untestable.
func (b *bisector) judge(ctx context.Context, i int) (bisect.Verdict, error) {
	o, st := &b.o, b.rec.States[i]
	c, err := stateCell(o.Cell, st, filepath.Join(o.Out, "series"))
	if err != nil {
		return bisect.Skip, err
	}
	step := BisectStep{State: i}
	verdicts := make([]bisect.Verdict, 0, o.Runs)
	var whys []string
	for r := 1; r <= o.Runs; r++ {
		dir := fmt.Sprintf("steps/%02d-state%d", len(b.rec.Steps)+1, i)
		if o.Runs > 1 {
			dir += fmt.Sprintf("-run%d", r)
		}
		rc, err := b.runState(ctx, c, dir)
		if err != nil {
			return bisect.Skip, err
		}
		if !rc.BuildCached && rc.ArtifactKey != "" {
			step.Built++
		}
		v, why := judgeCell(rc, o.Test)
		if o.Fixed {
			v = flip(v)
		}
		verdicts, whys = append(verdicts, v), append(whys, why)
		step.Dirs = append(step.Dirs, dir)
	}
	v := combine(verdicts)
	step.Verdict, step.Why = v.String(), strings.Join(unique(whys), "; ")
	b.rec.Steps = append(b.rec.Steps, step)
	b.rec.Builds += step.Built
	if err := b.save(); err != nil {
		return v, err // the bisection's record is lost: stop here
	}
	o.Logf("step %d: %s: %s (%s)", len(b.rec.Steps), st.Label, v, step.Why)
	return v, nil
}

// runState runs the state's cell c once into OUT/dir, writes its reports
// and returns its result; an error when the run failed or ctx ended.
func (b *bisector) runState(ctx context.Context, c matrices.Cell, dir string) (*results.Cell, error) {
	o := &b.o
	p := o.NewProgress()
	out := filepath.Join(o.Out, dir)
	run, err := b.run(ctx, Options{
		Matrix: o.Matrix, Cells: []matrices.Cell{c}, Out: out, Jobs: 1, Accel: o.Accel,
		Cache: o.Cache, SourceDir: o.SourceDir, Progress: p,
	})
	if err != nil {
		return nil, err
	}
	if o.Reports != nil {
		if err := o.Reports(out, run, o.Matrix); err != nil {
			p.Logf("writing the reports: %v", err)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return run.Cells[0], nil
}

// save writes OUT/bisect.json as it stands; a failure is logged and
// returned as a *RecordError.
func (b *bisector) save() error {
	b.rec.Finished = time.Now().UTC()
	data, _ := json.MarshalIndent(b.rec, "", "  ")
	path := filepath.Join(b.o.Out, BisectFile)
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		rerr := &RecordError{Path: path, Err: err}
		b.o.Logf("%v", rerr)
		return rerr
	}
	return nil
}
