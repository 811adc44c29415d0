package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestRunWritesNoReports: Run records the results (run.json, the cell's
// directory) and leaves the reports to its caller.
func TestRunWritesNoReports(t *testing.T) {
	cache, err := builder.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kern := &matrices.Kernel{Name: "a", Version: "6.12", Source: matrices.Source{Tarball: filepath.Join(t.TempDir(), "missing.tar.xz")}}
	cells := []matrices.Cell{{ID: "a-base-minimal", Kernel: kern, Patchset: &matrices.Patchset{Name: "base"}, Config: &matrices.Config{Name: "minimal", Base: "tinyconfig"}}}
	m := &matrices.Matrix{Name: "t", VM: matrices.VM{Accel: "tcg", MemoryMiB: 256, CPUs: 1}}
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
	for _, f := range []string{"report.md", "report.html", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("%s: %v; want none (the caller writes the reports)", f, err)
		}
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
