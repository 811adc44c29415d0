package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

func TestJudgeCell(t *testing.T) {
	cell := func(status, reason string, tests ...string) *results.Cell {
		c := &results.Cell{ID: "c", Status: status, Reason: reason}
		s := &results.Suite{Name: "vmsplice"}
		for _, tt := range tests {
			name, st, _ := strings.Cut(tt, "=")
			s.Tests = append(s.Tests, &results.Test{Name: name, Status: st})
		}
		c.Suites = []*results.Suite{s}
		return c
	}
	re := regexp.MustCompile(`^TestPartial$`)
	suiteRE := regexp.MustCompile(`^vmsplice/TestPartial$`)
	tests := []struct {
		name string
		c    *results.Cell
		re   *regexp.Regexp
		want bisect.Verdict
		why  string
	}{
		{"test fails", cell("failed", "x", "TestPartial=fail", "TestOther=pass"), re, bisect.Bad, "vmsplice/TestPartial: fail"},
		{"test passes, others fail", cell("failed", "x", "TestPartial=pass", "TestOther=fail"), re, bisect.Good, "vmsplice/TestPartial: pass"},
		{"suite-qualified name", cell("failed", "x", "TestPartial=timeout"), suiteRE, bisect.Bad, "vmsplice/TestPartial: timeout"},
		{"crash before the test", cell("crashed", "kernel crashed: BUG: x\nmore"), re, bisect.Bad, "crashed before a matching test ran: kernel crashed: BUG: x"},
		{"build failure is untestable", cell("build-failed", "build: error"), re, bisect.Skip, "build-failed: build: error"},
		{"boot failure is untestable", cell("boot-failed", "no hello"), nil, bisect.Skip, "boot-failed: no hello"},
		{"test skipped", cell("passed", "", "TestPartial=skip"), re, bisect.Skip, "no test matching the --test expression passed or failed (passed)"},
		{"no such test", cell("passed", "", "TestOther=pass"), re, bisect.Skip, "no test matching the --test expression passed or failed (passed)"},
		{"cell passes", cell("passed", ""), nil, bisect.Good, "passed"},
		{"cell fails", cell("failed", "vmsplice/TestX: fail (expected pass)"), nil, bisect.Bad, "failed: vmsplice/TestX: fail (expected pass)"},
		{"cell times out", cell("timed-out", "no done"), nil, bisect.Bad, "timed-out: no done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, why := judgeCell(tt.c, tt.re)
			if v != tt.want || why != tt.why {
				t.Errorf("judgeCell = %s (%s), want %s (%s)", v, why, tt.want, tt.why)
			}
		})
	}
}

func TestCombineAndFlip(t *testing.T) {
	g, b, s := bisect.Good, bisect.Bad, bisect.Skip
	for _, tt := range []struct {
		in   []bisect.Verdict
		want bisect.Verdict
	}{
		{[]bisect.Verdict{g, g, g}, g},
		{[]bisect.Verdict{g, b, g}, b},
		{[]bisect.Verdict{g, s}, s},
		{[]bisect.Verdict{s, b}, b},
	} {
		if got := combine(tt.in); got != tt.want {
			t.Errorf("combine(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if flip(g) != b || flip(b) != g || flip(s) != s {
		t.Error("flip swaps good and bad and keeps skip")
	}
}

func TestSeriesStates(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0001-a.patch", "0002-b.patch", "0003-c.patch"} {
		os.WriteFile(filepath.Join(dir, n), []byte("Subject: [PATCH] "+n+"\n\n--- a/x\n+++ b/x\n"), 0o644)
	}
	c := matrices.Cell{ID: "6.12-s-minimal", Kernel: &matrices.Kernel{Name: "6.12"}, Patchset: &matrices.Patchset{Name: "s", Series: dir, SeriesFormat: "dir"}}
	tests := []struct {
		good, bad string
		labels    []string
		err       string
	}{
		{"", "", []string{"0/3 (no patches)", "1/3 0001-a.patch", "2/3 0002-b.patch", "3/3 0003-c.patch"}, ""},
		{"1", "0003-c.patch", []string{"1/3 0001-a.patch", "2/3 0002-b.patch", "3/3 0003-c.patch"}, ""},
		{"base", "2", []string{"0/3 (no patches)", "1/3 0001-a.patch", "2/3 0002-b.patch"}, ""},
		{"2", "2", nil, "--good (2 patches) must come before --bad (2 patches)"},
		{"", "4", nil, "--bad 4: the series has 3 patches (0..3)"},
		{"0009-x.patch", "", nil, `--good "0009-x.patch": not a count, base, all or a patch of the series (0001-a.patch, 0002-b.patch, 0003-c.patch)`},
	}
	for _, tt := range tests {
		states, err := seriesStates(c, filepath.Join(t.TempDir(), "split"), tt.good, tt.bad)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("good %q bad %q: err %v, want %q", tt.good, tt.bad, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for i, s := range states {
			labels = append(labels, s.Label)
			if s.Index != i {
				t.Errorf("state %d has index %d", i, s.Index)
			}
		}
		if strings.Join(labels, "|") != strings.Join(tt.labels, "|") {
			t.Errorf("good %q bad %q: %q, want %q", tt.good, tt.bad, labels, tt.labels)
		}
		if last := states[len(states)-1]; last.What != "[PATCH] "+filepath.Base(last.Patches[len(last.Patches)-1]) {
			t.Errorf("last state's subject %q", last.What)
		}
	}
	noSeries := c
	noSeries.Patchset = &matrices.Patchset{Name: "base"}
	if _, err := seriesStates(noSeries, t.TempDir(), "", ""); err == nil || !strings.Contains(err.Error(), "has no patch series") {
		t.Errorf("base cell: %v", err)
	}
}

// TestStateCell: a state's cell keeps the id, and its series holds
// exactly the state's patches, in order, whatever their names.
func TestStateCell(t *testing.T) {
	dir := t.TempDir()
	var patches []string
	for _, n := range []string{"z-first.diff", "a-second.diff"} {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte(n+"\n"), 0o644)
		patches = append(patches, p)
	}
	c := matrices.Cell{ID: "6.12-s-minimal", Kernel: &matrices.Kernel{Name: "6.12"}, Patchset: &matrices.Patchset{Name: "s", Series: dir}}
	got, err := stateCell(c, BisectState{Index: 2, Patches: patches}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files, err := builder.SeriesFiles(got.Patchset.Series)
	if err != nil {
		t.Fatal(err)
	}
	var content []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		content = append(content, strings.TrimSpace(string(b)))
	}
	if got.ID != c.ID || strings.Join(content, ",") != "z-first.diff,a-second.diff" {
		t.Errorf("state cell %s applies %v", got.ID, content)
	}
	if c.Patchset.Series != dir {
		t.Error("stateCell changed the matrix's own patch set")
	}
	base, err := stateCell(c, BisectState{Index: 0}, t.TempDir())
	if err != nil || base.Patchset.Series != "" {
		t.Errorf("state 0: series %q, %v; want none", base.Patchset.Series, err)
	}
	commit, err := stateCell(matrices.Cell{ID: "x", Kernel: &matrices.Kernel{Source: matrices.Source{Git: &matrices.GitSource{Repo: "/r", Ref: "main"}}}, Patchset: c.Patchset},
		BisectState{Commit: "abc"}, t.TempDir())
	if err != nil || commit.Kernel.Source.Git.Ref != "abc" {
		t.Errorf("git state: %+v, %v", commit.Kernel.Source.Git, err)
	}
}

// fakeRuns stands in for Run in a bisection: a state's cell fails
// TestPartial when one of its patches contains "BREAKS" (the fixture
// series' patch 3), and passes it otherwise. flaky makes the given run
// numbers of every state fail too. Each kernel (by its patches) is built
// once, cached after.
type fakeRuns struct {
	mu    sync.Mutex
	outs  []string
	built map[string]bool
	calls int
	flaky map[int]bool // call number (1-based) -> fail
	// cancel, when set, is called during the call numbered cancelAt.
	cancel   func()
	cancelAt int
	// during, when set, is called with o and the call's number.
	during func(o Options, call int)
}

func (f *fakeRuns) run(ctx context.Context, o Options) (*results.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.outs = append(f.outs, o.Out)
	if f.cancel != nil && f.calls == f.cancelAt {
		f.cancel()
	}
	if f.during != nil {
		f.during(o, f.calls)
	}
	c := o.Cells[0]
	status, key := "pass", "base"
	if c.Patchset.Series != "" {
		files, err := builder.SeriesFiles(c.Patchset.Series)
		if err != nil {
			return nil, err
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			key += "+" + builder.PatchSubject(p)
			if strings.Contains(string(b), "BREAKS") {
				status = "fail"
			}
		}
	}
	if f.flaky[f.calls] {
		status = "fail"
	}
	if f.built == nil {
		f.built = map[string]bool{}
	}
	rc := &results.Cell{ID: c.ID, Status: results.StatusPassed, ArtifactKey: key, BuildCached: f.built[key],
		Suites: []*results.Suite{{Name: "s", Tests: []*results.Test{{Name: "TestPartial", Status: status}}}}}
	f.built[key] = true
	if status == "fail" {
		rc.Status, rc.Reason = results.StatusFailed, "s/TestPartial: fail (expected pass)"
	}
	if ctx.Err() != nil {
		rc.Status, rc.Reason = results.StatusInterrupted, "interrupted while the VM ran"
	}
	return &results.Run{Cells: []*results.Cell{rc}}, nil
}

// bisectFixture is a bisection of the testdata series (4 patches, the
// third breaking TestPartial) into a temporary OUT, with the reports
// written by a recorder and the log collected.
func bisectFixture(t *testing.T) (BisectOptions, *[]string, *[]string) {
	t.Helper()
	series, err := filepath.Abs(filepath.Join("testdata", "bisect-series"))
	if err != nil {
		t.Fatal(err)
	}
	var logs, reports []string
	var mu sync.Mutex
	o := BisectOptions{
		Matrix: &matrices.Matrix{Name: "t", File: "t.yaml"},
		Cell: matrices.Cell{ID: "6.12-s-minimal", Kernel: &matrices.Kernel{Name: "6.12"},
			Patchset: &matrices.Patchset{Name: "s", Series: series, SeriesFormat: "dir"}, Config: &matrices.Config{Name: "minimal"}},
		Test:        regexp.MustCompile(`^TestPartial$`),
		Runs:        1,
		Out:         filepath.Join(t.TempDir(), "bisect"),
		NewProgress: func() Progress { return &logProgress{lines: &logs} },
		Logf: func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(f, a...))
		},
		Reports: func(dir string, run *results.Run, m *matrices.Matrix) error {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, dir)
			return nil
		},
	}
	return o, &logs, &reports
}

// readRecord reads OUT/bisect.json as written.
func readRecord(t *testing.T, out string) *BisectRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, BisectFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec BisectRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return &rec
}

func stepSummary(rec *BisectRecord) string {
	var s []string
	for _, st := range rec.Steps {
		s = append(s, fmt.Sprintf("%d=%s", st.State, st.Verdict))
	}
	return strings.Join(s, " ")
}

// TestBisectSeries runs whole bisections of the fixture series with runs
// that judge by the patches applied: the first bad state, the steps
// taken, the record on disk and the report of every run.
func TestBisectSeries(t *testing.T) {
	tests := []struct {
		name     string
		runs     int
		fixed    bool
		flaky    map[int]bool
		bad      string // --bad; "" all
		err      error
		steps    string
		firstBad int // -1: none
		dirs     []string
	}{
		{name: "regression", runs: 1, steps: "0=good 4=bad 2=good 3=bad", firstBad: 3,
			dirs: []string{"steps/01-state0", "steps/02-state4", "steps/03-state2", "steps/04-state3"}},
		// Run 6 is state 2's second run: one bad run makes the state bad.
		{name: "flaky state is bad", runs: 2, flaky: map[int]bool{6: true}, steps: "0=good 4=bad 2=bad 1=good", firstBad: 2,
			dirs: []string{"steps/01-state0-run1", "steps/01-state0-run2", "steps/02-state4-run1", "steps/02-state4-run2",
				"steps/03-state2-run1", "steps/03-state2-run2", "steps/04-state1-run1", "steps/04-state1-run2"}},
		{name: "fixed: good end fails", runs: 1, fixed: true, err: bisect.ErrGoodIsBad, steps: "0=bad", firstBad: -1,
			dirs: []string{"steps/01-state0"}},
		{name: "bad end passes", runs: 1, bad: "2", err: bisect.ErrBadIsGood, steps: "0=good 2=good", firstBad: -1,
			dirs: []string{"steps/01-state0", "steps/02-state2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, logs, reports := bisectFixture(t)
			o.Runs, o.Fixed, o.Bad = tt.runs, tt.fixed, tt.bad
			states, expected := 5, 4
			if tt.bad == "2" {
				states, expected = 3, 3
			}
			f := &fakeRuns{flaky: tt.flaky}
			rec, err := (&bisector{o: o, run: f.run}).bisect(context.Background())
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			disk := readRecord(t, o.Out)
			for _, r := range []*BisectRecord{rec, disk} {
				if got := stepSummary(r); got != tt.steps {
					t.Errorf("steps %s, want %s", got, tt.steps)
				}
				if tt.firstBad < 0 {
					if r.FirstBad != nil || r.Error == "" || r.Conclusive {
						t.Errorf("first bad %v, error %q, conclusive %v: want none, the error", r.FirstBad, r.Error, r.Conclusive)
					}
				} else if r.FirstBad == nil || *r.FirstBad != tt.firstBad || *r.LastGood != tt.firstBad-1 || !r.Conclusive || r.Error != "" {
					t.Errorf("first bad %v, last good %v, conclusive %v, error %q; want %d", r.FirstBad, r.LastGood, r.Conclusive, r.Error, tt.firstBad)
				}
				if r.Mode != "series" || len(r.States) != states || r.Expected != expected || r.Runs != tt.runs || r.Test != "^TestPartial$" || r.Cell != "6.12-s-minimal" || r.Matrix != "t.yaml" {
					t.Errorf("record header: mode %s, %d states, expected %d, runs %d, test %q, cell %s, matrix %s", r.Mode, len(r.States), r.Expected, r.Runs, r.Test, r.Cell, r.Matrix)
				}
			}
			var dirs []string
			for _, s := range disk.Steps {
				dirs = append(dirs, s.Dirs...)
			}
			var want []string
			for _, d := range tt.dirs {
				want = append(want, filepath.Join(o.Out, d))
			}
			if strings.Join(dirs, " ") != strings.Join(tt.dirs, " ") || strings.Join(f.outs, " ") != strings.Join(want, " ") || strings.Join(*reports, " ") != strings.Join(want, " ") {
				t.Errorf("step dirs %v, runs into %v, reports into %v; want %v", dirs, f.outs, *reports, tt.dirs)
			}
			// Each distinct kernel is counted built once.
			if disk.Builds != len(disk.Steps) {
				t.Errorf("%d kernel(s) built for %d distinct states", disk.Builds, len(disk.Steps))
			}
			if !strings.HasPrefix((*logs)[0], fmt.Sprintf("bisecting 6.12-s-minimal (series mode): %d states, tests matching \"^TestPartial$\"; about %d steps; results in ", states, expected)) {
				t.Errorf("first log line %q", (*logs)[0])
			}
			if last := (*logs)[len(*logs)-1]; !strings.HasPrefix(last, fmt.Sprintf("step %d: ", len(disk.Steps))) {
				t.Errorf("last log line %q, want the last step", last)
			}
		})
	}
}

// TestBisectStateLabels: the record names each state by its patches and
// subjects, as the command prints them.
func TestBisectStateLabels(t *testing.T) {
	o, _, _ := bisectFixture(t)
	o.Good, o.Bad = "1", "0004-p4.patch"
	rec, err := (&bisector{o: o, run: (&fakeRuns{}).run}).bisect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1/4 0001-p1.patch", "2/4 0002-p2.patch", "3/4 0003-p3.patch", "4/4 0004-p4.patch"}
	var got []string
	for _, s := range rec.States {
		got = append(got, s.Label)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") || rec.States[*rec.FirstBad].What != "[PATCH 3/4] vmsplice: rewrite on pwritev2" {
		t.Errorf("states %q, first bad %q", got, rec.States[*rec.FirstBad].What)
	}
}

// TestBisectInputError: what cannot be bisected is a BisectInputError,
// with no record and no search.
func TestBisectInputError(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*BisectOptions)
		want string
	}{
		{"no series", func(o *BisectOptions) { o.Cell.Patchset = &matrices.Patchset{Name: "base"} }, "has no patch series and its kernel is not from git"},
		{"bad end", func(o *BisectOptions) { o.Bad = "9" }, "--bad 9: the series has 4 patches (0..4)"},
		{"git without good", func(o *BisectOptions) {
			o.Cell.Kernel = &matrices.Kernel{Name: "6.12", Source: matrices.Source{Git: &matrices.GitSource{Repo: "/r", Ref: "main"}}}
		}, "--good is required for a kernel from git (/r)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, _, _ := bisectFixture(t)
			tt.edit(&o)
			f := &fakeRuns{}
			rec, err := (&bisector{o: o, run: f.run}).bisect(context.Background())
			var ie *BisectInputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) || rec != nil || f.calls != 0 {
				t.Errorf("rec %v, err %v (%T) after %d run(s); want a BisectInputError %q and no run", rec, err, err, f.calls, tt.want)
			}
		})
	}
}

// TestBisectInterrupted: a bisection interrupted during a state returns
// the context's error, and bisect.json keeps the steps that ended.
func TestBisectInterrupted(t *testing.T) {
	o, _, _ := bisectFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeRuns{cancel: cancel, cancelAt: 3}
	rec, err := (&bisector{o: o, run: f.run}).bisect(ctx)
	if !errors.Is(err, context.Canceled) || rec == nil {
		t.Fatalf("rec %v, err %v; want the record and context.Canceled", rec, err)
	}
	disk := readRecord(t, o.Out)
	if got := stepSummary(disk); got != "0=good 4=bad" || disk.Error != err.Error() || disk.FirstBad != nil {
		t.Errorf("steps %s, error %q, first bad %v; want the two ends and the interruption", got, disk.Error, disk.FirstBad)
	}
}

// TestBisectReportFailure: a state whose reports cannot be written is
// still judged; the failure goes to its run's progress.
func TestBisectReportFailure(t *testing.T) {
	o, logs, _ := bisectFixture(t)
	o.Reports = func(string, *results.Run, *matrices.Matrix) error { return errors.New("disk full") }
	rec, err := (&bisector{o: o, run: (&fakeRuns{}).run}).bisect(context.Background())
	if err != nil || rec.FirstBad == nil || *rec.FirstBad != 3 {
		t.Fatalf("rec %+v, err %v", rec, err)
	}
	n := 0
	for _, l := range *logs {
		if l == "writing the reports: disk full" {
			n++
		}
	}
	if n != len(rec.Steps) {
		t.Errorf("%d report failure(s) logged for %d runs:\n%s", n, len(rec.Steps), strings.Join(*logs, "\n"))
	}
}

// TestBisectRefusesOutInUse: an OUT that holds a bisection (bisect.json,
// or steps/ with something in it) is refused as bad input before any
// run, and left as it was.
func TestBisectRefusesOutInUse(t *testing.T) {
	for _, tt := range []struct {
		name string
		file string
	}{{"bisect.json", BisectFile}, {"steps", filepath.Join("steps", "01-state0", "run.json")}} {
		t.Run(tt.name, func(t *testing.T) {
			o, _, _ := bisectFixture(t)
			p := filepath.Join(o.Out, tt.file)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte("earlier\n"), 0o644)
			f := &fakeRuns{}
			rec, err := (&bisector{o: o, run: f.run}).bisect(context.Background())
			var ie *BisectInputError
			if !errors.As(err, &ie) || rec != nil || f.calls != 0 || !strings.Contains(err.Error(), "--out "+o.Out+" already holds a bisection") {
				t.Errorf("rec %v, err %v after %d run(s); want it refused", rec, err, f.calls)
			}
			if b, _ := os.ReadFile(p); string(b) != "earlier\n" {
				t.Errorf("%s changed: %q", tt.file, b)
			}
		})
	}
	o, _, _ := bisectFixture(t)
	os.MkdirAll(filepath.Join(o.Out, "steps"), 0o755) // empty: nothing to lose
	if _, err := (&bisector{o: o, run: (&fakeRuns{}).run}).bisect(context.Background()); err != nil {
		t.Errorf("an empty steps/: %v", err)
	}
}

// TestBisectRecordUnwritable: once bisect.json cannot be written (a
// directory in its way, made during the call numbered at), the search
// stops with a RecordError naming it, said once.
func TestBisectRecordUnwritable(t *testing.T) {
	for _, at := range []int{1, 3} {
		o, _, _ := bisectFixture(t)
		f := &fakeRuns{during: func(_ Options, call int) {
			if call == at {
				os.Remove(filepath.Join(o.Out, BisectFile))
				os.MkdirAll(filepath.Join(o.Out, BisectFile, "x"), 0o755)
			}
		}}
		rec, err := (&bisector{o: o, run: f.run}).bisect(context.Background())
		var re *RecordError
		path := filepath.Join(o.Out, BisectFile)
		if rec == nil || !errors.As(err, &re) || re.Path != path || strings.Count(err.Error(), path) != 1 {
			t.Errorf("at call %d: rec %v, err %v; want a RecordError naming %s once", at, rec, err, path)
		}
		if f.calls != at || len(rec.Steps) != at {
			t.Errorf("at call %d: %d run(s), %d step(s) after bisect.json failed; want the search stopped there", at, f.calls, len(rec.Steps))
		}
	}
}

// TestBisectStepRecordUnwritable: a state whose run.json could not be
// written stops the search with that RecordError.
func TestBisectStepRecordUnwritable(t *testing.T) {
	o, _, _ := bisectFixture(t)
	f := &fakeRuns{}
	run := func(ctx context.Context, ro Options) (*results.Run, error) {
		r, _ := f.run(ctx, ro)
		if f.calls == 2 {
			return r, &RecordError{Path: filepath.Join(ro.Out, "run.json"), Err: syscall.ENOSPC}
		}
		return r, nil
	}
	rec, err := (&bisector{o: o, run: run}).bisect(context.Background())
	var re *RecordError
	if rec == nil || !errors.As(err, &re) || !strings.HasSuffix(re.Path, "run.json") || f.calls != 2 {
		t.Errorf("rec %v, err %v after %d run(s); want the step's RecordError, the search stopped", rec, err, f.calls)
	}
}
