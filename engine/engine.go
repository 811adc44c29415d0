// Package engine runs a matrix: it builds each cell's kernel (shared and
// cached), compiles the guest programs once, boots every cell with its
// suites and records the results (run.json). Bisect finds the state of a
// cell (a patch of its series, a commit) at which a result changed, each
// state run the same way. It is the machinery behind `kvmtest run`,
// `kvmtest build` and `kvmtest bisect`; the command line parses flags,
// writes the reports (package report) and prints.
package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/hostinfo"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/vmrunner"
)

// Version is kvmtest's version, recorded in run.json.
var Version = "0.1.0-dev"

// Progress receives what the engine is doing. Implementations must be safe
// for concurrent use.
type Progress interface {
	// Phase says a cell entered a phase: build, boot, run, done...
	Phase(cell, phase string)
	// Logf reports a line of general information.
	Logf(format string, args ...any)
	// CellDone reports a finished cell.
	CellDone(c *results.Cell)
}

// Options configure a run.
type Options struct {
	Matrix *matrices.Matrix
	Cells  []matrices.Cell // the cells to run (already filtered and sharded)
	Out    string          // results directory
	Jobs   int             // at most this many VMs at once (the scheduler also budgets vCPUs and memory); default DefaultJobs
	Accel  string          // overrides the matrix's vm.accel when not ""
	Cache  *builder.Cache
	// SourceDir is kvmtest's materialized source tree (see kvmtest.Materialize),
	// from which the guest agent is compiled.
	SourceDir string
	Progress  Progress
	// Previous, when resuming, holds the earlier run: its finished cells are
	// kept as they are.
	Previous *results.Run
	Shard    string
	// WholeCells, with Shard, lists the ids of the cells of every share
	// in matrix order (results.Run.WholeCells).
	WholeCells []string
	// ConsoleTap, when set, returns a writer that also receives a cell's
	// console as it streams (--verbose), or nil.
	ConsoleTap func(cell string) io.Writer
	// KeepInitramfs keeps cells/ID/initramfs.cpio of passed cells too
	// (failed cells always keep it, to reproduce by hand).
	KeepInitramfs bool
	// StopAfterFailure: once a cell ends not as expected (failed,
	// crashed, timed out, not built or booted), cells that have not
	// started building, or have not booted yet, are skipped with a reason
	// naming it (run --keep-going=false). Cells already booted finish.
	StopAfterFailure bool
}

// Run runs the cells and writes OUT/run.json after every cell, so that an
// interrupted run keeps what it finished. The returned Run is complete
// even when ctx was cancelled (unfinished cells are interrupted). Run
// writes no reports: presenting the run (report.WriteAll) is the
// caller's.
//
// A cell whose record (console.log, events.jsonl, build.log...) could not
// be written whole is boot-failed, its files listed in Cell.Incomplete.
// When the last write of run.json failed, Run returns the run with a
// *RecordError naming it. Without Previous, an OUT that holds a run is
// refused with an *OutInUseError (see CheckOut). Any other error comes
// with a nil run.
func Run(ctx context.Context, o Options) (*results.Run, error) {
	if o.Jobs <= 0 {
		o.Jobs = DefaultJobs(o.Matrix.VM)
	}
	if o.Previous == nil {
		if err := CheckOut(o.Out); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "cells"), 0o755); err != nil {
		return nil, err
	}
	run := &results.Run{
		Schema:     results.SchemaVersion,
		Tool:       Version,
		Matrix:     results.Matrix{Name: o.Matrix.Name, File: o.Matrix.File, Digest: o.Matrix.Digest},
		Host:       hostInfo(),
		Shard:      o.Shard,
		WholeCells: o.WholeCells,
		Started:    time.Now().UTC(),
	}
	accels, err := resolveAccels(o, &run.Host)
	if err != nil {
		return nil, err
	}
	root, err := resolveSharedRoot(o)
	if err != nil {
		return nil, err
	}
	run.Cells = initialCells(o)
	s := newRunState(ctx, o, run, accels)
	s.root = root
	s.save()
	s.runCells(ctx)
	if err := s.save(); err != nil {
		return run, err
	}
	return run, nil
}

// resolveAccels picks the accelerator of each architecture of the run's
// cells (Options.Accel over the matrix's vm.accel; KVM only for the
// host's own), records the first architecture's and its slowdown in h
// and logs each. It returns them by architecture name.
func resolveAccels(o Options, h *results.Host) (map[string]string, error) {
	want := o.Matrix.VM.Accel
	if o.Accel != "" {
		want = o.Accel
	}
	archs := CellArches(o.Cells)
	out := map[string]string{}
	for i, a := range archs {
		accel, why, err := vmrunner.ResolveAccel(want, a)
		if err != nil {
			return nil, err
		}
		f := vmrunner.Slowdown(accel, a)
		if i == 0 {
			h.Accel, h.AccelReason, h.Slowdown = accel, why, f
		}
		out[a] = accel
		scale, of := "", ""
		if f != 1 {
			scale = fmt.Sprintf("; timeouts ×%g (%s=N to change)", f, vmrunner.SlowdownEnv)
		}
		if len(archs) > 1 {
			of = " for " + a
		}
		o.Progress.Logf("accelerator%s: %s (%s)%s; up to %d VM(s) at once", of, accel, why, scale, o.Jobs)
	}
	return out, nil
}

// cellArch is the architecture of a cell (x86_64 when it names none).
func cellArch(c matrices.Cell) string {
	if c.Arch == "" {
		return arch.Default
	}
	return c.Arch
}

// CellArches are the architectures of cells, in the order they first
// appear; x86_64 alone when there are no cells.
func CellArches(cells []matrices.Cell) []string {
	var out []string
	for _, c := range cells {
		if a := cellArch(c); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{arch.Default}
	}
	return out
}

// newCellRecord is the record of cell c before it runs: its id, its axes
// (the architecture always named) and its baseline. It is the one place a
// cell's identity is copied into its result.
func newCellRecord(m *matrices.Matrix, c matrices.Cell) *results.Cell {
	return &results.Cell{ID: c.ID, Kernel: c.Kernel.Name, Patchset: c.Patchset.Name, Config: c.Config.Name, Arch: cellArch(c),
		Baseline: baselineID(m, c)}
}

// initialCells is the cells of a run before any runs: each not run
// (interrupted), except the cells a resumed run keeps from Previous (the
// ones that ended, other than those a stop skipped and those whose
// record is incomplete).
func initialCells(o Options) []*results.Cell {
	cells := make([]*results.Cell, len(o.Cells))
	for i, c := range o.Cells {
		cells[i] = newCellRecord(o.Matrix, c)
		cells[i].Status, cells[i].Reason = results.StatusInterrupted, "not run"
		if o.Previous != nil {
			if p := o.Previous.Cell(c.ID); p != nil && p.Status != results.StatusInterrupted && !stoppedEarly(p) && len(p.Incomplete) == 0 {
				p.Baseline = baselineID(o.Matrix, c)
				cells[i] = p
			}
		}
	}
	return cells
}

// runState is what the cells of one Run share: the record and its
// writer, the guest programs, the builder and the build turns, the VM
// scheduler and the StopAfterFailure stop.
type runState struct {
	o      Options
	run    *results.Run
	accels map[string]string // the accelerator of each architecture
	root   sharedRoot
	mu     sync.Mutex // guards run.Cells and run.json
	// guests are the guest programs of each architecture, compiling.
	guests map[string]func() (*guestSet, error)
	b      *builder.Builder
	// Builds run one at a time (each uses every core) in matrix order, so
	// that a base kernel is built before its patched variants and these
	// rebuild only what their patches change; boots of built cells overlap
	// the next builds, up to Jobs VMs at once. turns[i] is closed when
	// cell i may build.
	turns []chan struct{}
	sched *Scheduler

	// Builds are one at a time, so the builder's phase reports belong to
	// the cell whose build is under way.
	buildingMu sync.Mutex
	building   *cellRun

	stopMu     sync.Mutex
	stopReason string
}

func newRunState(ctx context.Context, o Options, run *results.Run, accels map[string]string) *runState {
	s := &runState{o: o, run: run, accels: accels, guests: lazyGuests(ctx, o)}
	s.b = &builder.Builder{Cache: o.Cache, Logf: o.Progress.Logf, Phase: s.builderPhase, Objects: s.builderObjects}
	s.turns = make([]chan struct{}, len(o.Cells)+1)
	for i := range s.turns {
		s.turns[i] = make(chan struct{})
	}
	close(s.turns[0])
	s.sched = newHostScheduler(o.Jobs, o.Matrix.VM, o.Progress.Logf)
	return s
}

// lazyGuests starts compiling the guest programs of every architecture of
// the run's cells now, while the first kernel builds, and returns, for
// each, a function that waits for them. The default architecture's go to
// OUT/guest, the others' to OUT/guest-ARCH.
func lazyGuests(ctx context.Context, o Options) map[string]func() (*guestSet, error) {
	out := map[string]func() (*guestSet, error){}
	for _, a := range CellArches(o.Cells) {
		dir := filepath.Join(o.Out, "guest")
		if a != arch.Default {
			dir += "-" + a
		}
		out[a] = startGuest(ctx, o.SourceDir, dir, o.Cache.GuestDir(), a, o.Matrix.Suites, o.Progress.Logf)
	}
	return out
}

// save writes OUT/run.json as it stands; a failure is logged and
// returned as a *RecordError (a later save may still succeed: each
// writes the whole record).
func (s *runState) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run.Finished = time.Now().UTC()
	if err := s.run.Write(s.o.Out); err != nil {
		rerr := &RecordError{Path: filepath.Join(s.o.Out, "run.json"), Err: err}
		s.o.Progress.Logf("%v", rerr)
		return rerr
	}
	return nil
}

func (s *runState) setBuilding(r *cellRun) {
	s.buildingMu.Lock()
	s.building = r
	s.buildingMu.Unlock()
}

// builderPhase passes the builder's phase reports to the building cell.
func (s *runState) builderPhase(_, phase string) {
	s.buildingMu.Lock()
	r := s.building
	s.buildingMu.Unlock()
	if r != nil {
		r.buildPhase(phase)
	}
}

// builderObjects shows the building cell's count of objects built on
// its live line.
func (s *runState) builderObjects(_ string, n int) {
	s.buildingMu.Lock()
	r := s.building
	s.buildingMu.Unlock()
	if r != nil {
		r.o.Progress.Phase(r.mc.ID, fmt.Sprintf("build: %d objects", n))
	}
}

// stopped returns, once a cell ended not as expected under
// StopAfterFailure, why the cells not yet started are skipped; ""
// otherwise.
func (s *runState) stopped() string {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	return s.stopReason
}

// noteEnd records that cell id ended with status, for StopAfterFailure.
func (s *runState) noteEnd(id, status string) {
	if code := results.CellExitCode(status); !s.o.StopAfterFailure || code == results.ExitOK || code == results.ExitInterrupted {
		return
	}
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.stopReason == "" {
		s.stopReason = fmt.Sprintf("%s%s ended %s (--keep-going=false)", stopPrefix, id, status)
		s.o.Progress.Logf("%s ended %s: cells not yet started are skipped (--keep-going=false)", id, status)
	}
}

// runCells runs every cell not kept from a resumed run, each in its own
// goroutine, and waits for them.
func (s *runState) runCells(ctx context.Context) {
	cells := s.run.Cells
	var wg sync.WaitGroup
	for i, mc := range s.o.Cells {
		if cells[i].Status != results.StatusInterrupted {
			s.o.Progress.Logf("%s: kept from the resumed run (%s)", mc.ID, cells[i].Status)
			go func(i int) { <-s.turns[i]; close(s.turns[i+1]) }(i)
			continue
		}
		wg.Add(1)
		go func(i int, mc matrices.Cell) {
			defer wg.Done()
			s.runCell(ctx, i, mc)
		}(i, mc)
	}
	wg.Wait()
}

// runCell runs cell i and publishes its result.
func (s *runState) runCell(ctx context.Context, i int, mc matrices.Cell) {
	// The cell is filled privately and published when done: save() may
	// marshal the run at any time.
	c := &results.Cell{}
	r := &cellRun{o: s.o, mc: mc, c: c, b: s.b, setBuilding: s.setBuilding, accel: s.accels[cellArch(mc)], root: s.root, myTurn: s.turns[i], nextTurn: s.turns[i+1],
		sched: s.sched, rank: i, guest: s.guests[cellArch(mc)], stopped: s.stopped, noteEnd: s.noteEnd}
	r.run(ctx)
	r.closeRecord()
	r.writeTest2JSON()
	s.noteEnd(c.ID, c.Status)
	s.mu.Lock()
	s.run.Cells[i] = c
	s.mu.Unlock()
	s.o.Progress.CellDone(c)
	s.save()
}

// stopPrefix begins the reason of a cell skipped because an earlier one
// ended not as expected under StopAfterFailure.
const stopPrefix = "not run: stopped after "

// stoppedEarly says whether a previous run skipped c only because it
// stopped early: a resumed run runs such a cell.
func stoppedEarly(c *results.Cell) bool {
	return c.Status == results.StatusSkipped && strings.HasPrefix(c.Reason, stopPrefix)
}

// baselineID is the id of the cell c is compared with, "" for none.
func baselineID(m *matrices.Matrix, c matrices.Cell) string {
	if b, ok := m.BaselineOf(c); ok && b.ID != c.ID {
		return b.ID
	}
	return ""
}

type cellRun struct {
	o        Options
	mc       matrices.Cell
	c        *results.Cell
	b        *builder.Builder
	accel    string
	myTurn   <-chan struct{} // closed when this cell may build
	nextTurn chan struct{}   // closed when this cell's build phase is over
	sched    *Scheduler      // admits VMs within the host's budget
	rank     int             // the cell's place in the run: VMs boot in this order
	guest    func() (*guestSet, error)
	dir      string
	root     sharedRoot // the run's shared root (none: dir "")
	// manRoot and shares are this cell's shared root, once built: the
	// manifest's Root and the machine's share (nil: the initramfs).
	manRoot *proto.Root
	shares  []vmrunner.Share
	// kernel is what the cell's kernel is known to have, once built;
	// bootModules the modules the agent loads before it mounts anything.
	kernel      *guestKernel
	bootModules []string
	// sharedModules is where the kernel's module tree is in the shared
	// root, when the initramfs cannot carry it whole ("" otherwise).
	sharedModules string

	// suiteErr holds, per suite, why it could not be prepared for this
	// cell (a kselftest that did not build): it is left out of the boot
	// and reported as an error, the other suites run.
	suiteErr map[string]string

	setBuilding func(*cellRun)
	// stopped returns, once an earlier cell failed under
	// StopAfterFailure, why this one is not run; "" otherwise.
	stopped func() string
	// noteEnd records a cell's final status for StopAfterFailure.
	noteEnd    func(id, status string)
	phaseName  string    // the builder phase under way
	phaseStart time.Time // and since when

	lostMu sync.Mutex
	lost   []*RecordError // the files of the record that could not be written
	had    string         // what the cell had been before its record lost a file
}

// buildPhase records the time spent in each builder phase (source
// preparation, patching, config, compile) as timings build.PHASE.
func (r *cellRun) buildPhase(phase string) {
	now := time.Now()
	if r.phaseName != "" {
		r.c.Timings["build."+r.phaseName] += now.Sub(r.phaseStart).Seconds()
	}
	r.phaseName, r.phaseStart = phase, now
	if phase != "" {
		r.o.Progress.Phase(r.mc.ID, "build: "+phase)
	}
}

func (r *cellRun) fail(status, reason string) {
	r.c.Status, r.c.Reason = status, reason
}

func (r *cellRun) run(ctx context.Context) {
	var passOnce sync.Once
	// The next cell builds after this one's turn came and its build phase
	// is over (or never started), so the order holds on every path.
	passTurn := func() {
		passOnce.Do(func() {
			go func() { <-r.myTurn; close(r.nextTurn) }()
		})
	}
	defer passTurn()
	c, mc := r.c, r.mc
	*c = *newCellRecord(r.o.Matrix, mc)
	c.Timings = map[string]float64{}
	// Started is when the cell's own work began: its build turn came
	// (buildInTurn); a cell that ended before (skipped by the matrix,
	// interrupted while it waited) started when it ended.
	defer func() {
		c.Finished = time.Now().UTC()
		if c.Started.IsZero() {
			c.Started = c.Finished
		}
	}()
	r.dir = filepath.Join(r.o.Out, "cells", mc.ID)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		r.fail(results.StatusBootFailed, err.Error())
		return
	}
	if mc.Skip != "" {
		r.fail(results.StatusSkipped, mc.Skip)
		return
	}
	art, cg, skip, ok := r.buildInTurn(ctx)
	if !ok {
		return
	}
	passTurn()
	c.ArtifactKey, c.BuildCached, c.KernelRelease = art.Key, art.Cached, art.Meta.Version
	if err := copyFile(art.Config, filepath.Join(r.dir, "kernel.config")); err != nil {
		r.lose("kernel.config", err)
	}
	// A kernel that cannot boot the agent or mount the shared root would
	// hang or fail in the guest: what it lacks is named now, and nothing
	// boots.
	if err := r.checkKernel(art); err != nil {
		r.fail(results.StatusBootFailed, err.Error())
		return
	}
	r.carryModules(cg, art)
	initrd, ok := r.initramfs(cg, skip)
	if !ok {
		return
	}
	r.bootWhenAdmitted(ctx, art, initrd)
}

// checkKernel checks the cell's kernel against what its boot needs
// (checkBoot, and the shared root's options), and decides the modules
// to load at boot. The error names what the kernel lacks.
func (r *cellRun) checkKernel(art *builder.Artifact) error {
	k := loadGuestKernel(art.Meta.Version, art.Config, art.Modules)
	r.kernel = k
	var rootMods []string
	var err error
	if r.manRoot, r.shares, rootMods, err = r.cellRoot(k); err != nil {
		return err
	}
	check := checkBoot(k, cellArch(r.mc), nil)
	if check.Note != "" {
		r.o.Progress.Logf("%s: %s", r.mc.ID, check.Note)
	}
	if err := check.Err(k); err != nil {
		return err
	}
	r.bootModules = append(check.Modules, rootMods...)
	r.checkSuiteModules(k)
	return nil
}

// carryModules decides what of the kernel's module tree the cell's
// initramfs carries (carryPlan).
func (r *cellRun) carryModules(cg *cellGuest, art *builder.Artifact) {
	cg.Modules = art.Modules
	names := slices.Clone(r.bootModules)
	for _, s := range r.runnableSuites() {
		names = append(names, s.Modules...)
	}
	shared := ""
	if r.manRoot != nil {
		shared = r.root.dir
	}
	var note string
	cg.ModuleFiles, r.sharedModules, note = carryPlan(r.kernel, names, shared)
	if note != "" {
		r.o.Progress.Logf("%s: %s", r.mc.ID, note)
	}
}

// checkSuiteModules records, as the suite's error, a suite whose
// modules: the kernel does not have: it is left out of the boot.
func (r *cellRun) checkSuiteModules(k *guestKernel) {
	for _, s := range r.o.Matrix.Suites {
		for _, mod := range s.Modules {
			why := ""
			switch {
			case k.Modules == "":
				why = fmt.Sprintf("needs module %s, and the kernel ships no modules (its config builds none: CONFIG_MODULES=y and the option set to m)", mod)
			case !k.hasModule(mod):
				why = fmt.Sprintf("needs module %s, which is not in the kernel's modules (modules.dep or modules.builtin of %s)", mod, k.Modules)
			}
			if why == "" {
				continue
			}
			if r.suiteErr == nil {
				r.suiteErr = map[string]string{}
			}
			if _, ok := r.suiteErr[s.Name]; !ok {
				r.suiteErr[s.Name] = why
			}
			break
		}
	}
}

// buildInTurn waits for the cell's build turn and builds its kernel and
// its share of the guest (the kselftests of its tree, and which suites
// its kernel cannot run). When it returns false the cell has failed (or
// was interrupted or skipped) and is done.
func (r *cellRun) buildInTurn(ctx context.Context) (*builder.Artifact, *cellGuest, map[string]string, bool) {
	c, mc := r.c, r.mc
	select {
	case <-r.myTurn:
	case <-ctx.Done():
		r.fail(results.StatusInterrupted, "interrupted before the build")
		return nil, nil, nil, false
	}
	// The cell's work begins: builds are one at a time, in matrix order,
	// so until now it only waited for the cells before it.
	c.Started = time.Now().UTC()
	if ctx.Err() != nil {
		r.fail(results.StatusInterrupted, "interrupted before the build")
		return nil, nil, nil, false
	}
	if why := r.stopped(); why != "" {
		r.fail(results.StatusSkipped, why)
		return nil, nil, nil, false
	}
	r.o.Progress.Phase(mc.ID, "build")
	t0 := time.Now()
	r.setBuilding(r)
	art, err := r.build(ctx)
	var cg *cellGuest
	var skip map[string]string
	if err == nil {
		// The kselftests come from this cell's tree, built in the same turn
		// while the build slot holds it.
		skip = r.requirements(art)
		cg = r.cellGuest(ctx, skip)
	}
	r.setBuilding(nil)
	r.buildPhase("")
	c.Timings["build"] = time.Since(t0).Seconds()
	if err != nil {
		if ctx.Err() != nil {
			r.fail(results.StatusInterrupted, "interrupted during the build")
			return nil, nil, nil, false
		}
		var be *builder.BuildError
		if errors.As(err, &be) {
			c.FirstError = be.FirstError
		}
		r.fail(results.StatusBuildFailed, err.Error())
		// Before the next cell's turn (deferred by run): it must see this.
		r.noteEnd(c.ID, c.Status)
		return nil, nil, nil, false
	}
	return art, cg, skip, true
}

// initramfs writes the cell's initramfs (guest programs, its suites and
// their manifest) and returns its path; false when the cell failed.
func (r *cellRun) initramfs(cg *cellGuest, skip map[string]string) (string, bool) {
	t0 := time.Now()
	g, err := r.guest()
	if err != nil {
		r.fail(results.StatusBootFailed, "preparing the guest: "+err.Error())
		return "", false
	}
	suites := r.runnableSuites()
	m := manifestFor(r.mc.ID, suites, skip, vmrunner.Slowdown(r.accel, cellArch(r.mc)))
	m.Root = r.manRoot
	if m.Root != nil {
		// A suite whose own rootfs is the initramfs stays there.
		for i, s := range suites {
			m.Suites[i].Initramfs = r.o.Matrix.SuiteRoot(s) == ""
		}
	}
	if cg.Modules != "" {
		m.Modules = &proto.Modules{Release: filepath.Base(cg.Modules), Boot: r.bootModules, Shared: r.sharedModules}
	}
	man, _ := json.MarshalIndent(m, "", "  ")
	initrd := filepath.Join(r.dir, "initramfs.cpio")
	if _, err := writeInitramfs(initrd, g, cg, suites, man); err != nil {
		r.fail(results.StatusBootFailed, "initramfs: "+err.Error())
		return "", false
	}
	r.c.Timings["initramfs"] = time.Since(t0).Seconds()
	return initrd, true
}

// bootWhenAdmitted boots the cell once its VM fits the host's budget,
// unless the run stopped meanwhile.
func (r *cellRun) bootWhenAdmitted(ctx context.Context, art *builder.Artifact, initrd string) {
	c := r.c
	slot, err := r.sched.AcquireVM(ctx, r.o.Matrix.VM, r.rank, func() { r.o.Progress.Phase(r.mc.ID, "queue") })
	if err != nil {
		r.fail(results.StatusInterrupted, "interrupted before the boot")
		return
	}
	c.Timings["queue"] = slot.Waited.Seconds()
	if why := r.stopped(); why != "" {
		slot.Release()
		r.fail(results.StatusSkipped, why)
		return
	}
	r.boot(ctx, art, initrd)
	slot.Release()
	if c.Status == results.StatusPassed && !r.o.KeepInitramfs {
		os.Remove(initrd) // kept only where it helps reproduce a problem
	}
}

func (r *cellRun) build(ctx context.Context) (*builder.Artifact, error) {
	logf, err := r.createRecord("build.log", os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	defer r.closeFile(logf)
	req, err := BuildRequest(r.mc)
	if err != nil {
		return nil, err
	}
	req.Log = logf
	return r.b.Build(ctx, req)
}

// requirements returns, per suite, why it cannot run on this cell's kernel.
func (r *cellRun) requirements(art *builder.Artifact) map[string]string {
	skip := map[string]string{}
	cfg, _ := os.ReadFile(art.Config)
	for _, w := range matrices.CPUWarnings(matrices.ParseKernelConfig(cfg), r.o.Matrix.VM.CPUs) {
		r.o.Progress.Logf("%s: warning: %s", r.mc.ID, w)
	}
	// The built kernel's own release, when known: the matrix's version is
	// the declared one, and a bisection builds other commits under it.
	kv := r.mc.Kernel.Version
	if art.Meta.Version != "" {
		kv = art.Meta.Version
	}
	for _, s := range r.o.Matrix.Suites {
		if why := s.ArchUnmet(cellArch(r.mc)); why != "" {
			skip[s.Name] = why
			continue
		}
		if s.Kselftest != nil && r.mc.Config.Prebuilt {
			skip[s.Name] = "kselftests are built from the kernel's tree, and a prebuilt kernel has none"
			continue
		}
		if s.Requires.Kernel != "" {
			ok, err := kernelSatisfies(kv, s.Requires.Kernel)
			if err != nil || !ok {
				skip[s.Name] = fmt.Sprintf("requires kernel %s, cell has %s", s.Requires.Kernel, kv)
				continue
			}
		}
		for _, opt := range s.Requires.Config {
			if !configHas(cfg, opt) {
				skip[s.Name] = "requires " + opt + ", not in the kernel config"
				break
			}
			// A module is only as good as the tree that ships it.
			if strings.HasSuffix(opt, "=m") && art.Modules == "" {
				skip[s.Name] = "requires " + opt + ": the kernel's config has it, but its artifact ships no modules"
				break
			}
		}
	}
	return skip
}

func (r *cellRun) boot(ctx context.Context, art *builder.Artifact, initrd string) {
	consoleF, err := r.createRecord("console.log", os.O_TRUNC)
	if err != nil {
		r.fail(results.StatusBootFailed, err.Error())
		return
	}
	defer r.closeFile(consoleF)
	eventsF, err := r.createRecord("events.jsonl", os.O_TRUNC)
	if err != nil {
		r.fail(results.StatusBootFailed, err.Error())
		return
	}
	defer r.closeFile(eventsF)
	var plan []string
	for _, s := range r.runnableSuites() { // the manifest's suites, in order
		plan = append(plan, s.Name)
	}
	col := results.NewCollector(plan)
	spec := r.vmSpec(art, initrd, consoleF, eventsF, col)
	tmp, err := vmTempDir(r.o.Cache)
	if err != nil {
		r.fail(results.StatusBootFailed, err.Error())
		return
	}
	defer os.RemoveAll(tmp)
	spec.TempDir = tmp
	r.o.Progress.Phase(r.mc.ID, "boot")
	res, err := vmrunner.Run(ctx, spec)
	r.recordVM(res, col)
	if err != nil {
		var ie *vmrunner.InfraError
		if errors.As(err, &ie) || res == nil {
			r.fail(results.StatusBootFailed, err.Error())
			return
		}
	}
	// A machine whose agent never started ran nothing of the kernel's:
	// that is the set-up's failure, whatever the console's panic says.
	if why, ok := cellAgentStartFailure(r.dir, res, col.Release != ""); ok {
		r.fail(results.StatusBootFailed, why)
		return
	}
	if status, failed := outcomeStatus(res.Outcome, col.Release != ""); failed {
		reason := res.Reason
		if res.Outcome == vmrunner.OutcomeInterrupted {
			reason = "interrupted while the VM ran"
		}
		r.fail(status, reason)
		return
	}
	r.judge(col)
}

// vmTempDir is the parent of a machine's sockets: a scratch directory of
// the cache, owned by this process, that the next run or `cache gc`
// removes if this process is killed; "" (os.TempDir()) without a cache.
// The caller removes it when the machine is gone.
func vmTempDir(cache *builder.Cache) (string, error) {
	if cache == nil {
		return "", nil
	}
	return cache.NewTempDir("vm-", vmrunner.MaxTempDirLen)
}

// vmSpec is the machine that boots the cell: its kernel and initramfs,
// the matrix's VM, a run timeout of every suite's plus 30 s, the console
// into console (and the --verbose tap), the guest's events (heartbeats
// aside) into events and col.
func (r *cellRun) vmSpec(art *builder.Artifact, initrd string, console, events io.Writer, col *results.Collector) vmrunner.Spec {
	vm := r.o.Matrix.VM
	enc := json.NewEncoder(events)
	var runTimeout time.Duration
	for _, s := range r.o.Matrix.Suites {
		runTimeout += s.Timeout
	}
	runTimeout += 30 * time.Second
	return vmrunner.Spec{
		Arch:           cellArch(r.mc),
		Kernel:         art.Kernel,
		Initrd:         initrd,
		MemoryMiB:      vm.MemoryMiB,
		CPUs:           vm.CPUs,
		Accel:          r.accel,
		Cmdline:        vm.Cmdline,
		ExtraArgs:      vm.QEMUArgs,
		BootTimeout:    vm.BootTimeout,
		RunTimeout:     runTimeout,
		Console:        r.consoleWriter(console),
		SilenceTimeout: vm.SilenceTimeout,
		Shares:         r.shares,
		ShareTransport: r.shareTransport(),
		OnEvent: func(e proto.Event) {
			col.Add(e) // heartbeats too: their place in the sequence is checked
			if e.Kind == proto.KindHeartbeat {
				return // it kept the silence timeout away; nothing to keep
			}
			enc.Encode(e)
			if e.Kind == proto.KindSuiteStart {
				r.o.Progress.Phase(r.mc.ID, "suite "+e.Suite)
			}
		},
		OnState: func(s string) { r.o.Progress.Phase(r.mc.ID, s) },
	}
}

// recordVM records what the machine gave, whatever its outcome: the
// accelerator, timings, console findings, QMP diagnostics and QEMU's
// stderr (res may be nil), the suites the guest reported and its
// benchmark lines (bench.txt, in the matrix's suite order).
func (r *cellRun) recordVM(res *vmrunner.Result, col *results.Collector) {
	c := r.c
	if res != nil {
		c.Accel = res.Accel
		c.Timings["boot"] = res.ToHello.Seconds()
		c.Timings["vm"] = res.Wall.Seconds()
		for _, f := range res.Findings {
			c.Findings = append(c.Findings, results.Finding{Class: string(f.Class), Title: f.Title, Line: f.Line, Fatal: f.Fatal, Excerpt: f.Excerpt})
		}
		if res.Diagnostics != "" {
			r.writeRecord("diagnostics.txt", []byte(res.Diagnostics))
		}
		if res.QEMUStderr != "" {
			r.writeRecord("qemu.log", []byte(strings.Join(res.Argv, " ")+"\n\n"+res.QEMUStderr))
		}
	}
	// Events the plan did not allow: findings, and their suites errors.
	c.Findings = append(c.Findings, col.Finish()...)
	c.Suites = col.Suites
	if len(col.Bench) > 0 {
		var b bytes.Buffer
		for _, s := range r.o.Matrix.Suites {
			for _, l := range col.Bench[s.Name] {
				b.WriteString(l + "\n")
			}
		}
		r.writeRecord("bench.txt", b.Bytes())
	}
}

// outcomeStatus maps how the machine ended to the cell's status: failed
// is false when the guest finished and its results decide. A machine
// that died is a crash once the agent said hello (helloSeen), a boot
// failure before.
func outcomeStatus(o vmrunner.Outcome, helloSeen bool) (status string, failed bool) {
	switch o {
	case vmrunner.OutcomeInterrupted:
		return results.StatusInterrupted, true
	case vmrunner.OutcomeBootTimeout:
		return results.StatusBootFailed, true
	case vmrunner.OutcomeCrashed:
		return results.StatusCrashed, true
	case vmrunner.OutcomeTimeout:
		return results.StatusTimedOut, true
	case vmrunner.OutcomeDied:
		if helloSeen {
			return results.StatusCrashed, true
		}
		return results.StatusBootFailed, true
	}
	return "", false
}

// judge decides a cell whose guest finished: a suite the guest never
// reported is an error (with why it was left out, when known), then the
// results are judged against the matrix's expectations, and a console
// finding fails a cell whose results are as expected.
func (r *cellRun) judge(col *results.Collector) {
	c := r.c
	for _, s := range r.o.Matrix.Suites {
		found := false
		for _, got := range col.Suites {
			found = found || got.Name == s.Name
		}
		if !found {
			msg := "the guest never ran this suite"
			if e, ok := r.suiteErr[s.Name]; ok {
				msg = e
			}
			c.Suites = append(c.Suites, &results.Suite{Name: s.Name, Status: results.Error, Message: msg})
		}
	}
	ok := results.Judge(c.Suites, func(suite, test string) (string, bool) {
		return r.o.Matrix.Expected(r.mc, suite, test)
	})
	forged := forgedEvents(c.Findings)
	switch {
	case forged > 0:
		r.fail(results.StatusFailed, fmt.Sprintf("event channel: %d event(s) refused, the first: %s", forged, firstForged(c.Findings)))
	case !ok:
		r.fail(results.StatusFailed, unexpectedSummary(c.Suites))
	case len(c.Findings) > 0:
		r.fail(results.StatusFailed, "console: "+c.Findings[0].Title)
	default:
		c.Status = results.StatusPassed
	}
}

// forgedEvents counts the findings that are refused guest events.
func forgedEvents(fs []results.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Class == results.ClassForgedEvent {
			n++
		}
	}
	return n
}

// firstForged is the title of the first refused guest event.
func firstForged(fs []results.Finding) string {
	for _, f := range fs {
		if f.Class == results.ClassForgedEvent {
			return f.Title
		}
	}
	return ""
}

// consoleWriter is where a cell's console goes: its console.log, and the
// --verbose tap when there is one.
func (r *cellRun) consoleWriter(log io.Writer) io.Writer {
	if r.o.ConsoleTap != nil {
		if tap := r.o.ConsoleTap(r.mc.ID); tap != nil {
			return io.MultiWriter(log, tap)
		}
	}
	return log
}

func unexpectedSummary(suites []*results.Suite) string {
	var parts []string
	for _, s := range suites {
		for _, t := range s.Tests {
			if !t.AsExpected {
				want := t.Expected
				if want == "" {
					want = results.Pass
				}
				parts = append(parts, fmt.Sprintf("%s/%s: %s (expected %s)", s.Name, t.Name, t.Status, want))
			}
		}
		if !s.AsExpected && len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%s: %s %s", s.Name, s.Status, s.Message))
		}
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return strings.Join(parts, "; ")
}

func hostInfo() results.Host {
	h := results.Host{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		h.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		h.QEMU, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return h
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// DefaultJobs is how many VMs of this shape fit on the machine at once,
// the default of Options.Jobs:
//
//	max(1, min(cores / vCPUs, usable / (memory + 256 MiB)))
//
// where cores is runtime.NumCPU, 256 MiB is QEMU's own memory per VM, and
// usable is MemAvailable less a reserve of max(1 GiB, a quarter) for the
// kernel builds and the host (see usableMemMiB); when MemAvailable is
// unknown, only cores count. The Scheduler enforces the same budget, so
// this is also what it admits of VMs of this shape.
func DefaultJobs(vm matrices.VM) int {
	return defaultJobs(vm, runtime.NumCPU(), hostinfo.Read().MemAvailableMiB)
}
