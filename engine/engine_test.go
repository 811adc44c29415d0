package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/vmrunner"
)

func TestManifestFor(t *testing.T) {
	suites := []*matrices.Suite{
		{Name: "go", GoTest: "/x", Args: []string{"-test.v"}, Timeout: time.Minute},
		{Name: "cmd", Command: []string{"/bin/busybox", "true"}, Timeout: time.Second, Format: "tap"},
		{Name: "bin", Binary: "/host/b", Timeout: time.Second},
		{Name: "ks", Kselftest: &matrices.Kselftest{Dir: "splice", Tests: []string{"a.sh", "b"}, Extra: []string{"helper"}}, Timeout: time.Minute, Format: "ktap"},
	}
	m := manifestFor("c1", suites, map[string]string{"bin": "requires CONFIG_X"}, 1)
	if m.Cell != "c1" || len(m.Suites) != 4 {
		t.Fatalf("manifest %+v", m)
	}
	want := []proto.Suite{
		{Name: "go", Argv: []string{"/kvmtest/suites/go", "-test.v"}, Timeout: proto.Duration(time.Minute), Format: proto.FormatGo},
		{Name: "cmd", Argv: []string{"/bin/busybox", "true"}, Timeout: proto.Duration(time.Second), Format: "tap"},
		{Name: "bin", Argv: []string{"/kvmtest/suites/bin"}, Timeout: proto.Duration(time.Second), Format: proto.FormatExitCode, Skip: "requires CONFIG_X"},
		{Name: "ks", Argv: []string{"/init", "kselftest-run", "/kvmtest/kselftest/ks/a.sh", "/kvmtest/kselftest/ks/b"}, Timeout: proto.Duration(time.Minute), Format: "ktap"},
	}
	for i, w := range want {
		g := m.Suites[i]
		if g.Name != w.Name || g.Format != w.Format || g.Skip != w.Skip || g.Timeout != w.Timeout || strings.Join(g.Argv, " ") != strings.Join(w.Argv, " ") {
			t.Errorf("suite %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestManifestScalesTimeouts: suite timeouts are written for KVM; under
// TCG the guest gets them multiplied by the slowdown, and a factor of 1
// or less changes nothing.
func TestManifestScalesTimeouts(t *testing.T) {
	suites := []*matrices.Suite{{Name: "go", GoTest: "/x", Timeout: 90 * time.Second}, {Name: "none", GoTest: "/y"}}
	for _, tt := range []struct {
		f          float64
		want, none time.Duration
	}{{1, 90 * time.Second, 0}, {8, 12 * time.Minute, 0}, {2.5, 225 * time.Second, 0}, {0.5, 90 * time.Second, 0}, {1e300, math.MaxInt64, 0}} {
		m := manifestFor("c", suites, nil, tt.f)
		if got := time.Duration(m.Suites[0].Timeout); got != tt.want {
			t.Errorf("slowdown %g: timeout %s, want %s", tt.f, got, tt.want)
		}
		if got := time.Duration(m.Suites[1].Timeout); got != tt.none {
			t.Errorf("slowdown %g: no timeout became %s", tt.f, got)
		}
	}
}

func TestConfigHas(t *testing.T) {
	cfg := []byte("CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_N=42\n")
	cases := map[string]bool{"CONFIG_A": true, "CONFIG_B": false, "CONFIG_B=m": true, "CONFIG_C": false, "CONFIG_N=42": true, "CONFIG_N=4": false, "CONFIG_Z": false}
	for opt, want := range cases {
		if got := configHas(cfg, opt); got != want {
			t.Errorf("configHas(%s) = %v, want %v", opt, got, want)
		}
	}
}

func TestGoCacheKeyFollowsSources(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\ngo 1.26\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "pkg"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "a.go"), []byte("package pkg\n"), 0o644)
	c := &goCache{dir: t.TempDir()}
	k1, err := c.key(filepath.Join(dir, "pkg"), []string{"test", "-c"})
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := c.key(filepath.Join(dir, "pkg"), []string{"test", "-c"}); k != k1 {
		t.Error("the key is not stable")
	}
	os.WriteFile(filepath.Join(dir, "pkg", "notes.txt"), []byte("x"), 0o644)
	if k, _ := c.key(filepath.Join(dir, "pkg"), []string{"test", "-c"}); k != k1 {
		t.Error("a non-Go file changed the key")
	}
	os.WriteFile(filepath.Join(dir, "other.go"), []byte("package m\n"), 0o644) // anywhere in the module
	if k, _ := c.key(filepath.Join(dir, "pkg"), []string{"test", "-c"}); k == k1 {
		t.Error("a new Go file in the module did not change the key")
	}
	if k, _ := c.key(filepath.Join(dir, "pkg"), []string{"build"}); k == k1 {
		t.Error("other go arguments give the same key")
	}
}

func TestGoCacheReusesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a program")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	c := &goCache{dir: t.TempDir()}
	p1, err := c.build(context.Background(), dir, filepath.Join(t.TempDir(), "x"), "build", "-o", "OUT", ".")
	if err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(p1)
	p2, err := c.build(context.Background(), dir, filepath.Join(t.TempDir(), "y"), "build", "-o", "OUT", ".")
	if err != nil || p2 != p1 {
		t.Fatalf("second build: %s, %v; want the cached %s", p2, err, p1)
	}
	fi2, _ := os.Stat(p2)
	if !os.SameFile(fi1, fi2) {
		t.Error("the cached program was rebuilt (a new file replaced it)")
	}
}

type quietProgress struct{}

func (quietProgress) Phase(string, string)   {}
func (quietProgress) Logf(string, ...any)    {}
func (quietProgress) CellDone(*results.Cell) {}

// TestStopAfterFailure: with StopAfterFailure, the cells after the first
// that ends not as expected are skipped with a reason naming it; without
// it every cell runs (a failed cell never hides the others).
func TestStopAfterFailure(t *testing.T) {
	cache, err := builder.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &matrices.Config{Name: "minimal", Base: "tinyconfig"}
	base := &matrices.Patchset{Name: "base"}
	var cells []matrices.Cell
	for _, k := range []string{"a", "b", "c"} {
		kern := &matrices.Kernel{Name: k, Version: "6.12", Source: matrices.Source{Tarball: filepath.Join(t.TempDir(), "missing-"+k+".tar.xz")}}
		cells = append(cells, matrices.Cell{ID: k + "-base-minimal", Kernel: kern, Patchset: base, Config: cfg})
	}
	m := &matrices.Matrix{Name: "t", VM: matrices.VM{Accel: "tcg", MemoryMiB: 256, CPUs: 1}}
	for _, stop := range []bool{false, true} {
		run, err := Run(context.Background(), Options{Matrix: m, Cells: cells, Out: t.TempDir(), Jobs: 1, Cache: cache,
			Progress: quietProgress{}, StopAfterFailure: stop})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range run.Cells {
			got = append(got, c.Status)
		}
		want := "build-failed build-failed build-failed"
		if stop {
			want = "build-failed skipped skipped"
			if r := run.Cells[2].Reason; r != "not run: stopped after a-base-minimal ended build-failed (--keep-going=false)" {
				t.Errorf("skipped cell's reason %q", r)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("StopAfterFailure=%v: %v, want %s", stop, got, want)
		}
		if !stop {
			continue
		}
		// --resume runs the cells the stop skipped and keeps the one
		// that ended.
		var logs []string
		again, err := Run(context.Background(), Options{Matrix: m, Cells: cells, Out: t.TempDir(), Jobs: 1, Cache: cache,
			Progress: &logProgress{lines: &logs}, Previous: run})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, c := range again.Cells {
			got = append(got, c.Status)
		}
		if strings.Join(got, " ") != "build-failed build-failed build-failed" {
			t.Errorf("resumed after the stop: %v, want the two skipped cells run", got)
		}
		if kept := strings.Join(logs, "\n"); !strings.Contains(kept, "a-base-minimal: kept from the resumed run (build-failed)") ||
			strings.Contains(kept, "b-base-minimal: kept") {
			t.Errorf("resume log:\n%s", kept)
		}
	}
}

type logProgress struct {
	quietProgress
	mu    sync.Mutex
	lines *[]string
}

func (p *logProgress) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.lines = append(*p.lines, fmt.Sprintf(format, args...))
}

// missingSourceRun returns a cache, one cell whose kernel tarball does
// not exist (it ends build-failed at once) and its matrix.
func missingSourceRun(t *testing.T) (*builder.Cache, []matrices.Cell, *matrices.Matrix) {
	t.Helper()
	cache, err := builder.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kern := &matrices.Kernel{Name: "a", Version: "6.12", Source: matrices.Source{Tarball: filepath.Join(t.TempDir(), "missing.tar.xz")}}
	cells := []matrices.Cell{{ID: "a-base-minimal", Kernel: kern, Patchset: &matrices.Patchset{Name: "base"}, Config: &matrices.Config{Name: "minimal", Base: "tinyconfig"}}}
	m := &matrices.Matrix{Name: "t", VM: matrices.VM{Accel: "tcg", MemoryMiB: 256, CPUs: 1}}
	return cache, cells, m
}

// TestRunWritesNoReports: Run records the results (run.json, the cell's
// directory) and leaves the reports to its caller.
func TestRunWritesNoReports(t *testing.T) {
	cache, cells, m := missingSourceRun(t)
	out := t.TempDir()
	run, err := Run(context.Background(), Options{Matrix: m, Cells: cells, Out: out, Jobs: 1, Cache: cache, Progress: quietProgress{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := results.Read(out); err != nil || run.Cells[0].Status != results.StatusBuildFailed {
		t.Errorf("run.json: %v; cell %s", err, run.Cells[0].Status)
	}
	if _, err := os.Stat(filepath.Join(out, "cells", "a-base-minimal", "build.log")); err != nil {
		t.Errorf("the cell's build log: %v", err)
	}
	for _, f := range []string{"report.md", "report.html", "junit.xml", "test2json.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("%s: %v; want none (the caller writes the reports)", f, err)
		}
	}
	// The cell's test2json stream is part of its record.
	stream, err := os.ReadFile(filepath.Join(out, "cells", "a-base-minimal", results.Test2JSONFile))
	if err != nil || !bytes.Equal(stream, results.Test2JSON(run.Cells[0])) {
		t.Errorf("cells/a-base-minimal/test2json.jsonl: %v\n%s", err, stream)
	}
}

// TestCellStartedWhenItsTurnCame: a cell's started is when its own work
// began (its build turn came), not when the run did: builds are one at a
// time, so each cell starts after the one before it ended its build.
func TestCellStartedWhenItsTurnCame(t *testing.T) {
	cache, err := builder.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &matrices.Config{Name: "minimal", Base: "tinyconfig"}
	var cells []matrices.Cell
	for _, k := range []string{"a", "b", "c"} {
		kern := &matrices.Kernel{Name: k, Version: "6.12", Source: matrices.Source{Tarball: filepath.Join(t.TempDir(), "missing-"+k+".tar.xz")}}
		cells = append(cells, matrices.Cell{ID: k + "-base-minimal", Kernel: kern, Patchset: &matrices.Patchset{Name: "base"}, Config: cfg})
	}
	cells[1].Skip = "excluded"
	m := &matrices.Matrix{Name: "t", VM: matrices.VM{Accel: "tcg", MemoryMiB: 256, CPUs: 1}}
	run, err := Run(context.Background(), Options{Matrix: m, Cells: cells, Out: t.TempDir(), Jobs: 1, Cache: cache, Progress: quietProgress{}})
	if err != nil {
		t.Fatal(err)
	}
	a, skipped, c := run.Cells[0], run.Cells[1], run.Cells[2]
	if a.Started.Before(run.Started) || a.Finished.Before(a.Started) {
		t.Errorf("a: started %v, finished %v; run started %v", a.Started, a.Finished, run.Started)
	}
	if c.Started.Before(a.Finished) {
		t.Errorf("c started %v, before a, built first, finished %v", c.Started, a.Finished)
	}
	if skipped.Status != results.StatusSkipped || skipped.Started.IsZero() || !skipped.Started.Equal(skipped.Finished) {
		t.Errorf("a cell skipped by the matrix: %s, started %v, finished %v; want skipped, started when it ended", skipped.Status, skipped.Started, skipped.Finished)
	}
}

// TestOutcomeStatus: how the machine ended decides the cell's status
// before its results do; a machine that died is a crash once the agent
// said hello.
func TestOutcomeStatus(t *testing.T) {
	for _, tt := range []struct {
		o      vmrunner.Outcome
		hello  bool
		status string
		failed bool
	}{
		{vmrunner.OutcomeDone, true, "", false},
		{vmrunner.OutcomeInterrupted, true, results.StatusInterrupted, true},
		{vmrunner.OutcomeBootTimeout, false, results.StatusBootFailed, true},
		{vmrunner.OutcomeCrashed, false, results.StatusCrashed, true},
		{vmrunner.OutcomeCrashed, true, results.StatusCrashed, true},
		{vmrunner.OutcomeTimeout, true, results.StatusTimedOut, true},
		{vmrunner.OutcomeDied, false, results.StatusBootFailed, true},
		{vmrunner.OutcomeDied, true, results.StatusCrashed, true},
	} {
		status, failed := outcomeStatus(tt.o, tt.hello)
		if status != tt.status || failed != tt.failed {
			t.Errorf("outcomeStatus(%s, hello %v) = %q, %v; want %q, %v", tt.o, tt.hello, status, failed, tt.status, tt.failed)
		}
	}
}

// failWriter fails every write after the first ok bytes, and its Close
// with closeErr.
type failWriter struct {
	ok       int
	got      []byte
	closeErr error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(w.got)+len(p) > w.ok {
		n := w.ok - len(w.got)
		w.got = append(w.got, p[:n]...)
		return n, syscall.ENOSPC
	}
	w.got = append(w.got, p...)
	return len(p), nil
}

func (w *failWriter) Close() error { return w.closeErr }

// TestRecordFile: a write that fails is remembered (the writer is told
// all was written, so that a copier that ignores errors is not cut
// short, and nothing more reaches the file) and Close reports it, or
// Close's own failure, naming the file.
func TestRecordFile(t *testing.T) {
	closeErr := errors.New("close failed")
	for _, tt := range []struct {
		name     string
		ok       int
		closeErr error
		want     error // nil: no error
		kept     string
	}{
		{"all written", 100, nil, nil, "aaaabbbbcccc"},
		{"second write fails", 6, nil, syscall.ENOSPC, "aaaabb"},
		{"first write fails", 0, nil, syscall.ENOSPC, ""},
		{"close fails", 100, closeErr, closeErr, "aaaabbbbcccc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &failWriter{ok: tt.ok, closeErr: tt.closeErr}
			f := newRecordFile("/out/cells/c/events.jsonl", w)
			for _, s := range []string{"aaaa", "bbbb", "cccc"} {
				if n, err := f.Write([]byte(s)); n != len(s) || err != nil {
					t.Errorf("Write(%q) = %d, %v; want all written", s, n, err)
				}
			}
			if string(w.got) != tt.kept {
				t.Errorf("file got %q, want %q", w.got, tt.kept)
			}
			err := f.Close()
			var re *RecordError
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Close: %v", err)
			case tt.want != nil && (!errors.As(err, &re) || !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "/out/cells/c/events.jsonl: ")):
				t.Errorf("Close: %v; want a RecordError naming the file, of %v", err, tt.want)
			}
		})
	}
}

// TestRecordFileDevFull: a real file whose writes fail (/dev/full, as a
// full disk: ENOSPC).
func TestRecordFileDevFull(t *testing.T) {
	w, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	f := newRecordFile("/dev/full", w)
	fmt.Fprintf(f, "a line of console\n")
	err = f.Close()
	if !errors.Is(err, syscall.ENOSPC) || err.Error() != "/dev/full: write: no space left on device (not written whole)" {
		t.Errorf("Close: %v; want ENOSPC naming the file once", err)
	}
}

// recordCell is a cellRun of a passed cell with a directory under a
// temporary run directory, in which the files named in full go to
// /dev/full (every write fails with ENOSPC).
func recordCell(t *testing.T, full ...string) (*cellRun, string) {
	t.Helper()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip(err)
	}
	out := t.TempDir()
	dir := filepath.Join(out, "cells", "c1")
	os.MkdirAll(dir, 0o755)
	for _, n := range full {
		if err := os.Symlink("/dev/full", filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	m := &matrices.Matrix{Name: "t", Suites: []*matrices.Suite{{Name: "s", Timeout: time.Second}}}
	c := &results.Cell{ID: "c1", Status: results.StatusPassed, Timings: map[string]float64{}}
	return &cellRun{o: Options{Matrix: m, Out: out, Progress: quietProgress{}}, mc: matrices.Cell{ID: "c1"}, c: c, dir: dir}, out
}

// streamAndRecord does what boot does with a cell's files: the console
// and the events stream into their files, then the VM's diagnostics,
// QEMU's stderr and the benchmarks are written.
func streamAndRecord(t *testing.T, r *cellRun) {
	t.Helper()
	console, err := r.createRecord("console.log", os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	events, err := r.createRecord("events.jsonl", os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	col := results.NewCollector([]string{"s"})
	spec := r.vmSpec(&builder.Artifact{Kernel: "/k"}, "/i", console, events, col)
	spec.Console.Write([]byte("Linux version 6.12\n"))
	spec.OnEvent(proto.Event{Seq: 1, Kind: proto.KindHello})
	spec.OnEvent(proto.Event{Seq: 2, Kind: proto.KindSuiteStart, Suite: "s"})
	spec.OnEvent(proto.Event{Seq: 3, Kind: proto.KindSuiteEnd, Suite: "s", Status: "pass"})
	r.closeFile(console)
	r.closeFile(events)
	col.Bench["s"] = []string{"BenchmarkX 1 10 ns/op"}
	r.recordVM(&vmrunner.Result{Diagnostics: "regs", QEMUStderr: "warning", Argv: []string{"qemu"}}, col)
}

// TestCellRecordIncomplete: a cell any of whose files could not be
// written whole is boot-failed (exit status 3), lists them in
// Incomplete and says so, naming them, whatever its results; a cell
// whose files were all written keeps its status.
func TestCellRecordIncomplete(t *testing.T) {
	for _, tt := range []struct {
		full []string
	}{
		{nil},
		{[]string{"events.jsonl"}},
		{[]string{"console.log", "bench.txt"}},
		{[]string{"diagnostics.txt", "qemu.log"}},
	} {
		t.Run(strings.Join(tt.full, ","), func(t *testing.T) {
			r, out := recordCell(t, tt.full...)
			streamAndRecord(t, r)
			r.closeRecord()
			r.writeTest2JSON()
			c := r.c
			if stream, err := os.ReadFile(filepath.Join(r.dir, results.Test2JSONFile)); err != nil || !bytes.Equal(stream, results.Test2JSON(c)) {
				t.Errorf("test2json.jsonl: %v; want the stream of the cell as recorded (%s)\n%s", err, c.Status, stream)
			}
			if len(tt.full) == 0 {
				if c.Status != results.StatusPassed || len(c.Incomplete) != 0 {
					t.Errorf("status %s, incomplete %v; want passed, none", c.Status, c.Incomplete)
				}
				for _, f := range []string{"console.log", "events.jsonl", "bench.txt", "diagnostics.txt", "qemu.log", results.Test2JSONFile} {
					if fi, err := os.Stat(filepath.Join(r.dir, f)); err != nil || fi.Size() == 0 {
						t.Errorf("%s: %v", f, err)
					}
				}
				return
			}
			var want []string
			for _, f := range tt.full {
				want = append(want, "cells/c1/"+f)
			}
			slices.Sort(want)
			got := slices.Sorted(slices.Values(c.Incomplete))
			if c.Status != results.StatusBootFailed || !slices.Equal(got, want) {
				t.Errorf("status %s, incomplete %v; want boot-failed, %v", c.Status, c.Incomplete, want)
			}
			if results.CellExitCode(c.Status) != results.ExitInfra {
				t.Errorf("exit code %d", results.CellExitCode(c.Status))
			}
			for _, f := range tt.full {
				if !strings.Contains(c.Reason, filepath.Join(out, "cells", "c1", f)+": write: no space left on device") {
					t.Errorf("reason %q does not name %s", c.Reason, f)
				}
			}
			if !strings.HasSuffix(c.Reason, "; the cell had passed") {
				t.Errorf("reason %q does not say what the cell had", c.Reason)
			}
		})
	}
}

// TestTest2JSONUnwritable: a cell whose test2json stream cannot be
// written (a directory is in its way) is boot-failed, the stream listed
// in Incomplete with the files lost before it, the reason saying what
// the cell had been before the first loss.
func TestTest2JSONUnwritable(t *testing.T) {
	for _, full := range [][]string{nil, {"events.jsonl"}} {
		r, out := recordCell(t, full...)
		os.MkdirAll(filepath.Join(r.dir, results.Test2JSONFile, "x"), 0o755)
		streamAndRecord(t, r)
		r.closeRecord()
		r.writeTest2JSON()
		c := r.c
		want := append([]string(nil), full...)
		want = append(want, results.Test2JSONFile)
		for i := range want {
			want[i] = "cells/c1/" + want[i]
		}
		if c.Status != results.StatusBootFailed || !slices.Equal(c.Incomplete, want) {
			t.Errorf("lost %v: status %s, incomplete %v; want boot-failed, %v", full, c.Status, c.Incomplete, want)
		}
		path := filepath.Join(out, "cells", "c1", results.Test2JSONFile)
		if !strings.Contains(c.Reason, path+": rename: file exists") && !strings.Contains(c.Reason, path+": rename: is a directory") {
			t.Errorf("reason %q does not name %s once with why", c.Reason, path)
		}
		if strings.Count(c.Reason, path) != 1 || !strings.HasSuffix(c.Reason, "; the cell had passed") || strings.Count(c.Reason, "the cell had") != 1 {
			t.Errorf("reason %q: want each file once, and that the cell had passed", c.Reason)
		}
	}
}

// TestRunRecordUnwritable: when run.json cannot be written (here a
// directory is in its way), Run returns the run and a RecordError
// naming run.json.
func TestRunRecordUnwritable(t *testing.T) {
	cache, cells, m := missingSourceRun(t)
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "run.json", "x"), 0o755)
	// Resuming, so that the run.json in the way is not refused as a run.
	run, err := Run(context.Background(), Options{Matrix: m, Cells: cells, Out: out, Jobs: 1, Cache: cache, Progress: quietProgress{},
		Previous: &results.Run{}})
	var re *RecordError
	if run == nil || !errors.As(err, &re) || re.Path != filepath.Join(out, "run.json") || !strings.Contains(err.Error(), filepath.Join(out, "run.json")) {
		t.Fatalf("run %v, err %v; want the run and a RecordError naming run.json", run, err)
	}
	if run.Cells[0].Status != results.StatusBuildFailed {
		t.Errorf("cell %s", run.Cells[0].Status)
	}
}

// TestResumeRerunsIncomplete: a resumed run keeps the cells that ended,
// except those whose record is incomplete (and those interrupted or
// skipped by a stop).
func TestResumeRerunsIncomplete(t *testing.T) {
	var cells []matrices.Cell
	prev := &results.Run{}
	for _, tt := range []struct{ id, status, reason, incomplete string }{
		{"kept", results.StatusFailed, "x", ""},
		{"lost", results.StatusBootFailed, "the cell's record is incomplete", "cells/lost/events.jsonl"},
		{"interrupted", results.StatusInterrupted, "not run", ""},
		{"stopped", results.StatusSkipped, stopPrefix + "kept ended failed", ""},
	} {
		cells = append(cells, matrices.Cell{ID: tt.id, Kernel: &matrices.Kernel{Name: "k"}, Patchset: &matrices.Patchset{Name: "base"}, Config: &matrices.Config{Name: "c"}})
		c := &results.Cell{ID: tt.id, Status: tt.status, Reason: tt.reason}
		if tt.incomplete != "" {
			c.Incomplete = []string{tt.incomplete}
		}
		prev.Cells = append(prev.Cells, c)
	}
	got := initialCells(Options{Matrix: &matrices.Matrix{}, Cells: cells, Previous: prev})
	var st []string
	for _, c := range got {
		st = append(st, c.ID+"="+c.Status)
	}
	if want := "kept=failed lost=interrupted interrupted=interrupted stopped=interrupted"; strings.Join(st, " ") != want {
		t.Errorf("initial cells %s, want %s", strings.Join(st, " "), want)
	}
}

// TestCheckOut: a directory that holds a run (run.json, or cells/ with
// something in it) is refused, saying whether the run can be continued
// with --resume; anything else is accepted.
func TestCheckOut(t *testing.T) {
	runWith := func(cells ...*results.Cell) func(string) {
		return func(dir string) {
			if err := (&results.Run{Schema: results.SchemaVersion, Cells: cells}).Write(dir); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct {
		name  string
		setup func(dir string)
		want  string // "" accepted
	}{
		{"missing", func(dir string) { os.Remove(dir) }, ""},
		{"empty", func(string) {}, ""},
		{"other files", func(dir string) { os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644) }, ""},
		{"empty cells", func(dir string) { os.Mkdir(filepath.Join(dir, "cells"), 0o755) }, ""},
		{"stale cells", func(dir string) { os.MkdirAll(filepath.Join(dir, "cells", "x"), 0o755) },
			"DIR already holds the cells of a run, without a readable run.json (open DIR/run.json: no such file or directory): choose a new directory"},
		{"finished", runWith(&results.Cell{ID: "a", Status: results.StatusPassed}), "DIR already holds a run: choose a new directory"},
		{"interrupted", runWith(&results.Cell{ID: "a", Status: results.StatusPassed}, &results.Cell{ID: "b", Status: results.StatusInterrupted}),
			"DIR already holds a run that did not finish (1 cell(s) interrupted): continue it with --resume DIR, or choose a new directory"},
		{"stopped and incomplete", runWith(&results.Cell{ID: "a", Status: results.StatusSkipped, Reason: stopPrefix + "b"},
			&results.Cell{ID: "b", Status: results.StatusBootFailed, Incomplete: []string{"cells/b/console.log"}}),
			"DIR already holds a run that did not finish (1 cell(s) skipped by --keep-going=false, 1 cell(s) with an incomplete record): continue it with --resume DIR, or choose a new directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			os.Mkdir(dir, 0o755)
			tt.setup(dir)
			err := CheckOut(dir)
			var ie *OutInUseError
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (!errors.As(err, &ie) || strings.ReplaceAll(err.Error(), dir, "DIR") != tt.want):
				t.Errorf("CheckOut: %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestRunRefusesOutInUse: a new run into a directory that holds one is
// refused before anything runs, and the earlier run.json is untouched.
func TestRunRefusesOutInUse(t *testing.T) {
	out := t.TempDir()
	prev := &results.Run{Schema: results.SchemaVersion, Tool: "earlier", Cells: []*results.Cell{{ID: "a", Status: results.StatusInterrupted}}}
	if err := prev.Write(out); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, "run.json"))
	run, err := Run(context.Background(), Options{Matrix: &matrices.Matrix{Name: "t"}, Out: out, Jobs: 1, Progress: quietProgress{}})
	var ie *OutInUseError
	if run != nil || !errors.As(err, &ie) || !strings.Contains(err.Error(), "--resume "+out) {
		t.Errorf("run %v, err %v; want it refused, suggesting --resume", run, err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "run.json")); string(after) != string(before) {
		t.Error("the earlier run.json changed")
	}
}

// TestCellRecordsArch: every cell's record names its architecture, the
// matrix's default (x86_64) when the cell names none, whether it ran or
// ended early, in the run returned and in run.json.
func TestCellRecordsArch(t *testing.T) {
	cache, err := builder.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &matrices.Config{Name: "minimal", Base: "tinyconfig"}
	var cells []matrices.Cell
	for _, a := range []string{"", "arm64", "riscv64"} {
		kern := &matrices.Kernel{Name: "k", Version: "6.12", Source: matrices.Source{Tarball: filepath.Join(t.TempDir(), "missing.tar.xz")}}
		cells = append(cells, matrices.Cell{ID: "k-base-minimal-" + a, Kernel: kern, Patchset: &matrices.Patchset{Name: "base"}, Config: cfg, Arch: a})
	}
	cells[2].Skip = "excluded"
	m := &matrices.Matrix{Name: "t", VM: matrices.VM{Accel: "tcg", MemoryMiB: 256, CPUs: 1}}
	out := t.TempDir()
	if _, err := Run(context.Background(), Options{Matrix: m, Cells: cells, Out: out, Jobs: 1, Cache: cache, Progress: quietProgress{}}); err != nil {
		t.Fatal(err)
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"x86_64", "arm64", "riscv64"} {
		if c := run.Cells[i]; c.Arch != want {
			t.Errorf("cell %s (%s): arch %q, want %q", c.ID, c.Status, c.Arch, want)
		}
	}
}
