// Package report turns the results of a run into what people read and CI
// consumes: report.md and report.html (what each patchset changed against
// its baseline: status changes, expected differences that did not happen,
// new console findings, benchmark deltas with confidence), junit.xml, and
// on GitHub Actions a step summary and error annotations.
//
// The same comparison serves two runs (`kvmtest compare`), matching cells by
// their axes. Everything that came from a guest (suite and test names,
// messages, test output, console findings and excerpts, benchmark names and
// units) is treated as hostile: the Report holds it as internal/guesttext
// makes it (names one line each with guesttext.Line, other text through
// guesttext.Clean: no escape sequence or control character, no bidi
// override), and each format escapes it again for its own syntax.
package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// Schema is the version of the JSON form of a Report (`--format json`).
const Schema = 1

// Report is what a report says about one run, or about two runs compared.
type Report struct {
	Schema int    `json:"schema"`
	Kind   string `json:"kind"` // "run" or "compare"
	Title  string `json:"title"`
	// Run is the run reported on (in a comparison, the newer one: B).
	Run RunInfo `json:"run"`
	// Against is, in a comparison, the run compared with (A).
	Against *RunInfo `json:"against,omitempty"`
	// ExitCode is the verdict as a process exit code (DESIGN.md): 0 as
	// expected, 1 unexpected results, 3 infrastructure failures, 130
	// interrupted (a run only).
	ExitCode int    `json:"exit_code"`
	Verdict  string `json:"verdict"`
	Counts   Counts `json:"counts"`
	// Cells are the run's cells, in order.
	Cells []CellSummary `json:"cells"`
	// Infra lists the cells that could not be built or booted (and
	// interrupted ones): never test failures.
	Infra []CellSummary `json:"infrastructure_failures"`
	// Unexpected lists, per cell, what was not as the matrix expects.
	Unexpected []CellFailures `json:"unexpected"`
	// Skips lists, per cell and suite, what was skipped and why (capped,
	// grouped by reason).
	Skips []SuiteSkips `json:"skips,omitempty"`
	// Groups are the comparisons: one per patchset against the baseline,
	// or one for a comparison of two runs.
	Groups []*Group `json:"comparisons"`
	// Glance summarizes each comparison in one line, for the top of the
	// report.
	Glance []Glance `json:"glance"`
	// Unmatched names, in a comparison, the cells only one run has.
	Unmatched []string `json:"unmatched,omitempty"`
	// Plot is the benchmark deltas drawn in report.html.
	Plot *Plot `json:"-"`
}

// RunInfo identifies a run.
type RunInfo struct {
	Dir      string    `json:"dir,omitempty"`
	Matrix   string    `json:"matrix"`
	Digest   string    `json:"digest"`
	Tool     string    `json:"tool"`
	QEMU     string    `json:"qemu,omitempty"`
	Accel    string    `json:"accel,omitempty"`
	Shard    string    `json:"shard,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
}

// Counts tallies what the report found.
type Counts struct {
	Cells            int `json:"cells"`
	Regressions      int `json:"regressions"`
	Fixes            int `json:"fixes"`
	Differences      int `json:"differences"` // between two kernels (KindDiffers)
	UnexpectedPasses int `json:"unexpected_passes"`
	MissedExpected   int `json:"missed_expected"` // expected differences that did not happen
	OtherUnexpected  int `json:"other_unexpected"`
	NewFindings      int `json:"new_findings"`
	FailedCells      int `json:"failed_cells"` // failed, crashed or timed out
	InfraFailures    int `json:"infra_failures"`
	Interrupted      int `json:"interrupted"`
	BenchChanged     int `json:"bench_changed"` // significant benchmark deltas
}

// CellSummary is one row of the cell table.
type CellSummary struct {
	ID         string  `json:"id"`
	Kernel     string  `json:"kernel"`
	Patchset   string  `json:"patchset"`
	Config     string  `json:"config"`
	Arch       string  `json:"arch,omitempty"` // as recorded; "" in records before the arch axis (x86_64)
	Status     string  `json:"status"`
	Before     string  `json:"before,omitempty"` // in a comparison, the status in A
	Run        string  `json:"run,omitempty"`    // in a comparison's infra list: "A" or "B"
	Reason     string  `json:"reason,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
	Baseline   string  `json:"baseline,omitempty"`
	Passed     int     `json:"passed"`
	Failed     int     `json:"failed"`
	Skipped    int     `json:"skipped"`
	XFailed    int     `json:"expected_failures"`
	NotRun     int     `json:"not_run,omitempty"` // tests a crashed test binary never ran to their end
	Unexpected int     `json:"unexpected"`
	Findings   int     `json:"findings"`
	Build      string  `json:"build"` // built, cached or -
	Seconds    float64 `json:"seconds"`
	// ConsoleTail is the end of console.log for a cell that crashed,
	// timed out or did not boot.
	ConsoleTail string `json:"console_tail,omitempty"`
}

// CellFailures is what one cell did that the matrix did not expect.
type CellFailures struct {
	Cell     string    `json:"cell"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	Items    []Failure `json:"items"`
	Findings []Finding `json:"findings,omitempty"`
	// ConsoleTail is the end of console.log when no finding explains a
	// crash or timeout.
	ConsoleTail string `json:"console_tail,omitempty"`
}

// Failure is one test (or a whole suite, Test == "") not as expected.
type Failure struct {
	Suite    string `json:"suite"`
	Test     string `json:"test,omitempty"`
	Status   string `json:"status"`
	Expected string `json:"expected"`
	Message  string `json:"message,omitempty"`
	Output   string `json:"output,omitempty"`
	// NotRun names, for a suite whose test binary crashed, the tests
	// that never reported an end (at most maxNotRun), NotRunMore how
	// many more.
	NotRun     []string `json:"not_run,omitempty"`
	NotRunMore int      `json:"not_run_more,omitempty"`
	// InComparison is set when a comparison already shows this test's
	// output (the per-cell list then does not repeat it).
	InComparison bool `json:"in_comparison,omitempty"`
}

// Finding is a console finding of a cell.
type Finding struct {
	Cell    string `json:"cell"`
	Class   string `json:"class"`
	Title   string `json:"title"`
	Line    int    `json:"line"`
	Fatal   bool   `json:"fatal"`
	Suite   string `json:"suite,omitempty"`
	Excerpt string `json:"excerpt,omitempty"`
	// InComparison: see Failure.
	InComparison bool `json:"in_comparison,omitempty"`
}

// Group is the comparisons of one patchset with its baseline (or of run B
// with run A).
type Group struct {
	Title string  `json:"title"`
	Pairs []*Pair `json:"pairs"`
}

// Pair compares one cell (head) with another (base).
type Pair struct {
	Title string  `json:"title"`
	Base  CellRef `json:"base"`
	Head  CellRef `json:"head"`
	// NotCompared says why tests could not be compared (a side did not
	// build, boot or finish), "" when they were.
	NotCompared string `json:"not_compared,omitempty"`
	// Changes are the tests whose status differs.
	Changes []Change `json:"changes"`
	// Missed are the differences the matrix declares (the two cells
	// expect different statuses) that did not happen.
	Missed []Change `json:"missed_expected"`
	// Findings are console findings of head that base does not have.
	Findings []Finding `json:"new_findings"`
	// Taint lists suites after which head's kernel was tainted and base's
	// was not.
	Taint []TaintChange `json:"taint,omitempty"`
	Bench *Bench        `json:"bench,omitempty"`
	// BaseLabel and HeadLabel title the two sides' columns: the
	// patchsets, or A and B in a comparison of two runs.
	BaseLabel string `json:"base_label"`
	HeadLabel string `json:"head_label"`
}

// CellRef names a cell on one side of a comparison.
type CellRef struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	dir    string // the run directory the cell's files are in
}

// Change kinds.
const (
	KindRegression     = "regression"      // now failing, not expected to
	KindFix            = "fix"             // failed in base, passes now as expected
	KindUnexpectedPass = "unexpected-pass" // passes, expected to fail
	KindExpected       = "expected"        // changed as the matrix declares
	KindChanged        = "changed"         // other transitions (pass→skip...)
	KindNew            = "new"             // only in head
	KindMissing        = "missing"         // only in base
	// KindDiffers is a status that differs between two kernels (a
	// baseline cell of another kernel): a difference, not a regression
	// or a fix, whichever way it goes.
	KindDiffers = "differs"
)

// Change is one test whose status differs between base and head.
type Change struct {
	Suite        string `json:"suite"`
	Test         string `json:"test,omitempty"` // "" for the suite as a whole
	Base         string `json:"base"`           // status in base, "" when absent
	Head         string `json:"head"`           // status in head, "" when absent
	BaseExpected string `json:"base_expected"`
	HeadExpected string `json:"head_expected"`
	Kind         string `json:"kind"`
	// Declared is set when the matrix expects different statuses in the
	// two cells: the difference is a wanted one.
	Declared bool `json:"declared"`
	// Unexpected is set when head's result is not what the matrix expects.
	Unexpected bool   `json:"unexpected"`
	Output     string `json:"output,omitempty"` // head's output, for a regression
	// BaseKernel and HeadKernel name the two kernels of a KindDiffers
	// change.
	BaseKernel string `json:"base_kernel,omitempty"`
	HeadKernel string `json:"head_kernel,omitempty"`
}

// Name is SUITE/TEST, or SUITE for a whole suite.
func (c Change) Name() string {
	if c.Test == "" {
		return c.Suite
	}
	return c.Suite + "/" + c.Test
}

// Label is how a change is shown.
func (c Change) Label() string {
	switch c.Kind {
	case KindRegression:
		return "REGRESSION"
	case KindDiffers:
		return fmt.Sprintf("differs: %s on %s, %s on %s", orNone(c.Head), c.HeadKernel, orNone(c.Base), c.BaseKernel)
	case KindUnexpectedPass:
		return "unexpected pass"
	case KindFix:
		if c.Declared {
			return "fix (as expected)"
		}
		return "fix"
	case KindExpected:
		return "as expected"
	case KindNew:
		if c.Unexpected {
			return "new test, unexpected " + c.Head
		}
		return "new test"
	case KindMissing:
		return "missing"
	}
	if c.Unexpected {
		return "changed, unexpected"
	}
	return "changed"
}

// TaintChange is a suite after which head's kernel was tainted and base's
// was not (or differently).
type TaintChange struct {
	Suite string `json:"suite"`
	Base  uint64 `json:"base"`
	Head  uint64 `json:"head"`
	Flags string `json:"flags"` // head's taint as the kernel prints it
}

// Unexpected reports whether anything in the pair is not as expected.
func (p *Pair) Unexpected() bool {
	for _, c := range p.Changes {
		if c.Unexpected {
			return true
		}
	}
	return len(p.Missed) > 0 || len(p.Findings) > 0
}

// Build makes the report of one run stored in dir. m, when not nil, names
// each cell's baseline; without it the cells' recorded Baseline is used.
func Build(dir string, run *results.Run, m *matrices.Matrix) *Report {
	r := &Report{
		Schema: Schema,
		Kind:   "run",
		Title:  "kvmtest report: " + run.Matrix.Name,
		Run:    runInfo("", run),
	}
	baseline := baselines(run, m)
	for _, c := range run.Cells {
		cs := summarize(dir, c)
		cs.Baseline = baseline[c.ID]
		r.Cells = append(r.Cells, cs)
		if isInfra(c.Status) {
			r.Infra = append(r.Infra, cs)
		}
		if f := failuresOf(dir, c); f != nil {
			r.Unexpected = append(r.Unexpected, *f)
		}
		r.Skips = append(r.Skips, skipsOf(c)...)
	}
	groups := map[string]*Group{}
	multiArch := len(archesOf(run)) > 1
	for _, c := range run.Cells {
		bid := baseline[c.ID]
		if bid == "" {
			continue
		}
		g := groups[c.Patchset]
		if g == nil {
			bp := bid
			if b := run.Cell(bid); b != nil {
				bp = b.Patchset
			}
			g = &Group{Title: fmt.Sprintf("%s vs %s", c.Patchset, bp)}
			groups[c.Patchset] = g
			r.Groups = append(r.Groups, g)
		}
		head := side{dir, c}
		var p *Pair
		if b := run.Cell(bid); b != nil {
			p = comparePair(side{dir, b}, head)
		} else {
			p = &Pair{Base: CellRef{ID: bid}, Head: CellRef{ID: c.ID, Status: c.Status},
				NotCompared: fmt.Sprintf("the baseline cell %s is not in this run (another shard?)", bid)}
		}
		p.Title = fmt.Sprintf("%s / %s", c.Kernel, c.Config)
		if multiArch {
			p.Title += " / " + axesOf(c).arch
		}
		g.Pairs = append(g.Pairs, p)
	}
	r.finish(run.ExitCode())
	return r
}

// cellAxes are what identifies a cell across two runs of a matrix.
type cellAxes struct{ kernel, patchset, config, arch string }

func axesOf(c *results.Cell) cellAxes {
	a := c.Arch
	if a == "" {
		a = arch.Default
	}
	return cellAxes{c.Kernel, c.Patchset, c.Config, a}
}

// archesOf is the set of architectures of run's cells.
func archesOf(run *results.Run) map[string]bool {
	out := map[string]bool{}
	for _, c := range run.Cells {
		out[axesOf(c).arch] = true
	}
	return out
}

// Compare makes the report of run b (in dirB) compared with run a (in
// dirA): cells are matched by their axes (kernel, patchset, config,
// architecture; a record that names no architecture is x86_64's, as
// every record before the arch axis was).
func Compare(dirA string, a *results.Run, dirB string, b *results.Run) *Report {
	ia := runInfo(dirA, a)
	r := &Report{
		Schema:  Schema,
		Kind:    "compare",
		Title:   fmt.Sprintf("kvmtest compare: %s vs %s", label(dirB, b), label(dirA, a)),
		Run:     runInfo(dirB, b),
		Against: &ia,
	}
	inA := map[cellAxes]*results.Cell{}
	for _, c := range a.Cells {
		inA[axesOf(c)] = c
	}
	matched := map[*results.Cell]bool{}
	g := &Group{Title: fmt.Sprintf("%s vs %s", label(dirB, b), label(dirA, a))}
	for _, c := range b.Cells {
		cs := summarize(dirB, c)
		ac := inA[axesOf(c)]
		if ac == nil {
			r.Unmatched = append(r.Unmatched, fmt.Sprintf("%s: only in B", c.ID))
		} else {
			cs.Before = ac.Status
			matched[ac] = true
		}
		r.Cells = append(r.Cells, cs)
		if isInfra(c.Status) {
			cs.Run = "B"
			r.Infra = append(r.Infra, cs)
		}
		if ac != nil && isInfra(ac.Status) {
			as := summarize(dirA, ac)
			as.Run = "A"
			r.Infra = append(r.Infra, as)
		}
		if f := failuresOf(dirB, c); f != nil {
			r.Unexpected = append(r.Unexpected, *f)
		}
		r.Skips = append(r.Skips, skipsOf(c)...)
		if ac != nil {
			p := comparePair(side{dirA, ac}, side{dirB, c})
			p.Title = c.ID
			if ac.ID != c.ID {
				p.Title = fmt.Sprintf("%s (A: %s)", c.ID, ac.ID)
			}
			g.Pairs = append(g.Pairs, p)
		}
	}
	for _, c := range a.Cells {
		if !matched[c] {
			r.Unmatched = append(r.Unmatched, fmt.Sprintf("%s: only in A", c.ID))
		}
	}
	if len(g.Pairs) > 0 {
		r.Groups = []*Group{g}
	}
	r.finish(-1)
	return r
}

func label(dir string, r *results.Run) string {
	if dir != "" {
		return filepath.Base(filepath.Clean(dir))
	}
	return r.Matrix.Name
}

// runInfo describes a run; dir is shown only when given (comparisons).
func runInfo(dir string, run *results.Run) RunInfo {
	return RunInfo{
		Dir:    dir,
		Matrix: run.Matrix.Name, Digest: run.Matrix.Digest, Tool: run.Tool,
		QEMU: run.Host.QEMU, Accel: run.Host.Accel, Shard: run.Shard,
		Started: run.Started, Finished: run.Finished,
	}
}

// baselines maps each cell id to its baseline cell's id.
func baselines(run *results.Run, m *matrices.Matrix) map[string]string {
	out := map[string]string{}
	for _, c := range run.Cells {
		if m == nil {
			if c.Baseline != "" && c.Baseline != c.ID {
				out[c.ID] = c.Baseline
			}
			continue
		}
		mc, ok := m.Cell(c.ID)
		if !ok {
			continue
		}
		if b, ok := m.BaselineOf(mc); ok {
			out[c.ID] = b.ID
		}
	}
	return out
}

// isInfra reports whether a cell status is an infrastructure failure (or
// an unfinished cell): never a test result.
func isInfra(status string) bool {
	switch status {
	case results.StatusBuildFailed, results.StatusBootFailed, results.StatusInterrupted:
		return true
	}
	return false
}

func isFail(status string) bool {
	switch status {
	case results.Fail, results.Timeout, results.Error:
		return true
	}
	return false
}

func expectedOf(e string) string {
	if e == "" {
		return results.Pass
	}
	return e
}

func summarize(dir string, c *results.Cell) CellSummary {
	cs := CellSummary{
		ID: c.ID, Kernel: c.Kernel, Patchset: c.Patchset, Config: c.Config, Arch: c.Arch, Status: c.Status,
		Reason: guesttext.Clean(c.Reason), FirstError: guesttext.Clean(c.FirstError), Findings: len(c.Findings),
		Build: "-", Seconds: c.Timings["vm"],
	}
	if c.ArtifactKey != "" {
		cs.Build = "built"
		if c.BuildCached {
			cs.Build = "cached"
		}
	}
	for _, s := range c.Suites {
		notRun := notRunSet(s)
		for _, t := range s.Tests {
			switch {
			case notRun[t.Name]:
				cs.NotRun++
			case t.Status == results.Pass:
				cs.Passed++
			case t.Status == results.Skip:
				cs.Skipped++
			case t.AsExpected:
				cs.XFailed++
			default:
				cs.Failed++
			}
			if !t.AsExpected {
				cs.Unexpected++
			}
		}
	}
	switch c.Status {
	case results.StatusBootFailed:
		cs.ConsoleTail = consoleTail(dir, c.ID)
	}
	return cs
}

// failuresOf lists what a finished cell did that the matrix did not
// expect; nil when everything was as expected.
func failuresOf(dir string, c *results.Cell) *CellFailures {
	if isInfra(c.Status) || c.Status == results.StatusSkipped {
		return nil
	}
	f := &CellFailures{Cell: c.ID, Status: c.Status}
	if c.Status != results.StatusPassed {
		f.Reason = guesttext.Clean(c.Reason)
	}
	for _, s := range c.Suites {
		n := len(f.Items)
		notRun := notRunSet(s)
		if s.Crash != nil {
			f.Items = append(f.Items, crashFailure(s))
		}
		for _, t := range s.Tests {
			if t.AsExpected || notRun[t.Name] {
				continue
			}
			f.Items = append(f.Items, Failure{Suite: guesttext.Line(s.Name), Test: guesttext.Line(t.Name), Status: t.Status,
				Expected: expectedOf(t.Expected), Message: failureMessage(t.Output), Output: tail(guesttext.Clean(t.Output), 30)})
		}
		if !s.AsExpected && len(f.Items) == n {
			f.Items = append(f.Items, Failure{Suite: guesttext.Line(s.Name), Status: s.Status, Expected: expectedOf(s.Expected), Message: guesttext.Clean(s.Message)})
		}
	}
	for _, x := range c.Findings {
		f.Findings = append(f.Findings, finding(c.ID, x))
	}
	if (c.Status == results.StatusCrashed || c.Status == results.StatusTimedOut) && len(c.Findings) == 0 {
		f.ConsoleTail = consoleTail(dir, c.ID)
	}
	if len(f.Items) == 0 && len(f.Findings) == 0 && c.Status == results.StatusPassed {
		return nil
	}
	return f
}

// finding is a console finding as reports show it: its title and suite
// made one line, its excerpt cleaned (a guest program writes to the
// console).
func finding(cell string, f results.Finding) Finding {
	return Finding{Cell: cell, Class: f.Class, Title: guesttext.Line(f.Title), Line: f.Line, Fatal: f.Fatal,
		Suite: guesttext.Line(f.Suite), Excerpt: tail(guesttext.Clean(f.Excerpt), 60)}
}

// failureMessage picks the line that says why a Go test failed: the last
// "file_test.go:N: ..." line of its output, or its first line.
func failureMessage(output string) string {
	var msg string
	for _, l := range strings.Split(guesttext.Clean(output), "\n") {
		t := strings.TrimSpace(l)
		if i := strings.Index(t, ".go:"); i > 0 && !strings.Contains(t[:i], " ") {
			msg = t
		}
	}
	if msg == "" {
		for _, l := range strings.Split(guesttext.Clean(output), "\n") {
			t := strings.TrimSpace(l)
			if t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
				return truncate(t, 300)
			}
		}
	}
	return truncate(msg, 300)
}

// consoleTail returns the last lines of a cell's console.log.
func consoleTail(dir, id string) string {
	if dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "cells", id, "console.log"))
	if err != nil {
		return ""
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	return tail(guesttext.Clean(string(b)), 40)
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	out := strings.Join(lines, "\n")
	if len(out) > 16<<10 {
		out = "[...]" + out[len(out)-16<<10:]
		out = strings.ToValidUTF8(out, "")
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// finish labels the pairs, counts, and derives the verdict (exit < 0:
// from the comparison) and the plot.
func (r *Report) finish(exit int) {
	for _, g := range r.Groups {
		for _, p := range g.Pairs {
			p.BaseLabel, p.HeadLabel = p.labels(r)
		}
	}
	shown := map[string]bool{}
	for _, g := range r.Groups {
		for _, p := range g.Pairs {
			for _, c := range p.Changes {
				if c.Unexpected && c.Output != "" {
					shown[p.Head.ID+"\x00"+c.Name()] = true
				}
			}
			for _, f := range p.Findings {
				shown[p.Head.ID+"\x00finding\x00"+f.Class+"\x00"+f.Title] = true
			}
		}
	}
	for i := range r.Unexpected {
		u := &r.Unexpected[i]
		for j := range u.Items {
			it := &u.Items[j]
			name := it.Suite
			if it.Test != "" {
				name += "/" + it.Test
			}
			it.InComparison = shown[u.Cell+"\x00"+name]
		}
		for j := range u.Findings {
			f := &u.Findings[j]
			f.InComparison = shown[u.Cell+"\x00finding\x00"+f.Class+"\x00"+f.Title]
		}
	}
	r.count()
	if exit < 0 {
		exit = r.compareExit()
	}
	r.ExitCode = exit
	r.Verdict = r.verdict()
	r.Glance = r.glances()
	r.Plot = newPlot(r)
}

func (r *Report) count() {
	c := &r.Counts
	c.Cells = len(r.Cells)
	for _, cs := range r.Cells {
		switch cs.Status {
		case results.StatusFailed, results.StatusCrashed, results.StatusTimedOut:
			c.FailedCells++
		case results.StatusInterrupted:
			c.Interrupted++
		case results.StatusBuildFailed, results.StatusBootFailed:
			c.InfraFailures++
		}
	}
	if r.Kind == "compare" {
		// Infrastructure failures of A's matched cells count too.
		for _, cs := range r.Infra {
			if cs.Run == "A" {
				if cs.Status == results.StatusInterrupted {
					c.Interrupted++
				} else {
					c.InfraFailures++
				}
			}
		}
	}
	for _, g := range r.Groups {
		for _, p := range g.Pairs {
			for _, ch := range p.Changes {
				if ch.Kind == KindDiffers {
					c.Differences++
				}
				switch {
				case ch.Kind == KindRegression:
					c.Regressions++
				case ch.Kind == KindFix:
					c.Fixes++
				case ch.Kind == KindUnexpectedPass:
					c.UnexpectedPasses++
				case ch.Unexpected:
					c.OtherUnexpected++
				}
			}
			c.MissedExpected += len(p.Missed)
			c.NewFindings += len(p.Findings)
			if p.Bench != nil {
				for _, t := range p.Bench.Tables {
					for _, row := range t.Rows {
						if row.Significant {
							c.BenchChanged++
						}
					}
				}
			}
		}
	}
}

// compareExit is the exit code of `kvmtest compare`: 3 when a cell of
// either run could not be built, booted or finished (the comparison is
// incomplete), 1 for unexpected differences or for B's cells that failed,
// 0 when everything is as expected. The highest wins.
func (r *Report) compareExit() int {
	c := r.Counts
	switch {
	case c.InfraFailures > 0 || c.Interrupted > 0:
		return results.ExitInfra
	case c.Regressions+c.UnexpectedPasses+c.MissedExpected+c.OtherUnexpected+c.NewFindings+c.FailedCells > 0:
		return results.ExitFailed
	}
	return results.ExitOK
}

func (r *Report) verdict() string {
	c := r.Counts
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(c.Regressions, "regression", "regressions")
	add(c.UnexpectedPasses, "unexpected pass", "unexpected passes")
	add(c.MissedExpected, "expected difference that did not happen", "expected differences that did not happen")
	add(c.OtherUnexpected, "other unexpected change", "other unexpected changes")
	add(c.NewFindings, "new console finding", "new console findings")
	add(c.FailedCells, "cell failed", "cells failed")
	add(c.InfraFailures, "infrastructure failure", "infrastructure failures")
	add(c.Interrupted, "cell interrupted", "cells interrupted")
	add(c.Fixes, "fix", "fixes")
	add(c.Differences, "difference between kernels", "differences between kernels")
	add(c.BenchChanged, "significant benchmark change", "significant benchmark changes")
	head := "PASS"
	switch r.ExitCode {
	case results.ExitFailed:
		head = "FAIL"
	case results.ExitInfra:
		head = "INFRASTRUCTURE FAILURE"
	case results.ExitInterrupted:
		head = "INTERRUPTED"
	}
	if len(parts) == 0 {
		return head + ": everything as expected"
	}
	return head + ": " + strings.Join(parts, ", ")
}

// maxNotRun caps the tests a report names as not run after a crash.
const maxNotRun = 20

// notRunSet is the tests of s that its crashed test binary never ran to
// their end.
func notRunSet(s *results.Suite) map[string]bool {
	if s.Crash == nil {
		return nil
	}
	m := map[string]bool{}
	for _, n := range s.Crash.NotRun {
		m[n] = true
	}
	return m
}

// CrashText says plainly how a suite's test binary crashed: "the test
// binary crashed: panic: … in TestX" (guest text made one line).
func CrashText(cr *results.Crash) string {
	s := "the test binary crashed: " + guesttext.Line(cr.Message)
	if cr.Test != "" {
		s += " in " + guesttext.Line(cr.Test)
	}
	return s
}

// crashFailure is the item of the unexpected results that says suite s's
// test binary crashed, and which tests it never ran to their end.
func crashFailure(s *results.Suite) Failure {
	f := Failure{Suite: guesttext.Line(s.Name), Status: "crashed", Expected: expectedOf(s.Expected), Message: CrashText(s.Crash)}
	for _, n := range s.Crash.NotRun {
		if len(f.NotRun) == maxNotRun {
			f.NotRunMore++
			continue
		}
		f.NotRun = append(f.NotRun, guesttext.Line(n))
	}
	return f
}

// orNone is a status as a difference shows it: "absent" for none.
func orNone(status string) string {
	if status == "" {
		return "absent"
	}
	return status
}
