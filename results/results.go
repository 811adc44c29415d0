// Package results holds the record of a run (run.json): what ran, on which
// host, and what every cell, suite and test did. Its JSON form is a
// versioned contract documented in docs/results.md.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kvmtest/kvmtest/internal/atomicfile"
)

// SchemaVersion is the version of the run.json format.
const SchemaVersion = 1

// Cell statuses (DESIGN.md).
const (
	StatusPassed      = "passed"
	StatusFailed      = "failed"
	StatusBuildFailed = "build-failed"
	StatusBootFailed  = "boot-failed"
	StatusCrashed     = "crashed"
	StatusTimedOut    = "timed-out"
	StatusSkipped     = "skipped"
	StatusInterrupted = "interrupted"
)

// Test and suite statuses.
const (
	Pass    = "pass"
	Fail    = "fail"
	Skip    = "skip"
	Timeout = "timeout"
	Error   = "error"
)

// Run is the whole record of one `kvmtest run`.
type Run struct {
	Schema int    `json:"schema"`
	Tool   string `json:"tool"` // kvmtest version
	Matrix Matrix `json:"matrix"`
	Host   Host   `json:"host"`
	Shard  string `json:"shard,omitempty"` // "I/N" when sharded
	// WholeCells, in a share, lists the ids of the cells of the whole run
	// (every share's) in matrix order: shares hold build slots, not
	// interleaved positions, and Merge restores this order.
	WholeCells []string  `json:"whole_cells,omitempty"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished,omitempty"`
	Cells      []*Cell   `json:"cells"`
}

// Matrix identifies the matrix that was run.
type Matrix struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Digest string `json:"digest"`
}

// Host describes where the run happened.
type Host struct {
	QEMU        string `json:"qemu,omitempty"`
	Accel       string `json:"accel,omitempty"`
	AccelReason string `json:"accel_reason,omitempty"`
	// Slowdown is the factor the matrix's timeouts (written for KVM) were
	// multiplied by under Accel (vmrunner.Slowdown; 1 under KVM).
	Slowdown float64 `json:"timeout_scale,omitempty"`
	CPUs     int     `json:"cpus"`
	Kernel   string  `json:"kernel,omitempty"` // the host's uname -r
	Go       string  `json:"go,omitempty"`
}

// Cell is one (kernel, patchset, config) and everything that happened to it.
type Cell struct {
	ID       string `json:"id"`
	Kernel   string `json:"kernel"`
	Patchset string `json:"patchset"`
	Config   string `json:"config"`
	// Arch is the guest architecture (x86_64, arm64, riscv64); records
	// written before there were others have none, and are x86_64.
	Arch string `json:"arch,omitempty"`
	// Baseline is the id of the cell this one is compared with (the
	// matrix's baseline for it), "" when it has none or is the baseline.
	Baseline string `json:"baseline,omitempty"`
	Status   string `json:"status"`
	// Reason explains a status other than passed in one line.
	Reason string `json:"reason,omitempty"`
	// Incomplete lists the files of the cell's record (relative to the
	// run's directory, e.g. cells/ID/events.jsonl) that could not be
	// written whole: the cell is then boot-failed (an infrastructure
	// failure) whatever its results, and --resume runs it again.
	Incomplete []string `json:"incomplete,omitempty"`

	ArtifactKey   string `json:"artifact_key,omitempty"`
	KernelRelease string `json:"kernel_release,omitempty"`
	BuildCached   bool   `json:"build_cached"`
	FirstError    string `json:"first_error,omitempty"` // first compiler/linker error of a failed build

	Accel    string             `json:"accel,omitempty"`
	Timings  map[string]float64 `json:"timings,omitempty"` // seconds per phase: build, initramfs, boot (to agent hello), run, vm (wall)
	Suites   []*Suite           `json:"suites,omitempty"`
	Findings []Finding          `json:"findings,omitempty"`
	Started  time.Time          `json:"started"`
	Finished time.Time          `json:"finished"`
}

// Suite is one guest program's result.
type Suite struct {
	Name     string  `json:"name"`
	Status   string  `json:"status"` // pass, fail, skip, timeout, error
	ExitCode *int    `json:"exit_code,omitempty"`
	Elapsed  float64 `json:"elapsed"`
	Message  string  `json:"message,omitempty"`
	// Expected is the matrix's expectation for the suite as a whole ("" = pass).
	Expected   string  `json:"expected,omitempty"`
	AsExpected bool    `json:"as_expected"`
	Taint      *uint64 `json:"taint,omitempty"`
	Tests      []*Test `json:"tests,omitempty"`
	// Crash is set when the suite's test program ended before it
	// reported (a Go test binary that panicked mid-way).
	Crash *Crash `json:"crash,omitempty"`
}

// Crash says how a suite's test program ended before reporting its
// result: a Go test binary that panicked, or that ended with no package
// result.
type Crash struct {
	// Message is the program's first "panic: " line (or its "FAIL …
	// [… failed]" line), else why it is taken to have crashed.
	Message string `json:"message"`
	// Test is the test running when it crashed, "" when none is known.
	Test string `json:"test,omitempty"`
	// NotRun are the tests that started but never reported an end
	// (their status is fail): they did not run to their end.
	NotRun []string `json:"not_run,omitempty"`
}

// Test is one test (or benchmark) inside a suite.
type Test struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	Elapsed    float64 `json:"elapsed"`
	Expected   string  `json:"expected,omitempty"` // the matrix's expectation ("" = pass)
	AsExpected bool    `json:"as_expected"`
	Output     string  `json:"output,omitempty"` // the test's own output, capped
}

// Finding is a console finding (oops, panic, WARNING...).
type Finding struct {
	Class   string `json:"class"`
	Title   string `json:"title"`
	Line    int    `json:"line"`
	Fatal   bool   `json:"fatal"`
	Suite   string `json:"suite,omitempty"` // the suite running when it appeared
	Excerpt string `json:"excerpt,omitempty"`
}

// Write stores r as DIR/run.json atomically.
func (r *Run) Write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "run.json"), append(b, '\n'), 0o644)
}

// Read loads DIR/run.json.
func Read(dir string) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s/run.json: %w", dir, err)
	}
	if r.Schema > SchemaVersion {
		return nil, fmt.Errorf("%s/run.json: schema %d is newer than this kvmtest understands (%d)", dir, r.Schema, SchemaVersion)
	}
	return &r, nil
}

// Cell returns the cell with the given id, or nil.
func (r *Run) Cell(id string) *Cell {
	for _, c := range r.Cells {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Exit codes (DESIGN.md).
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitBadInput    = 2
	ExitInfra       = 3
	ExitInterrupted = 130
)

// ExitCode derives the process exit code from the cells: the highest of
// each cell's code wins, interrupted above all.
func (r *Run) ExitCode() int {
	code := ExitOK
	for _, c := range r.Cells {
		if e := CellExitCode(c.Status); e > code {
			code = e
		}
	}
	return code
}

// CellExitCode maps a cell status to its exit code: infrastructure
// failures (could not build or boot) are 3, test failures and kernel
// crashes 1, an interrupted cell 130.
func CellExitCode(status string) int {
	switch status {
	case StatusPassed, StatusSkipped:
		return ExitOK
	case StatusFailed, StatusCrashed, StatusTimedOut:
		return ExitFailed
	case StatusBuildFailed, StatusBootFailed:
		return ExitInfra
	case StatusInterrupted:
		return ExitInterrupted
	}
	return ExitInfra
}
