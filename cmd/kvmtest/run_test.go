package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// stderrOf runs f with os.Stderr going to a file and returns what f
// wrote there.
func stderrOf(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	saved := os.Stderr
	os.Stderr = tmp
	defer func() { os.Stderr = saved }()
	f()
	b, _ := os.ReadFile(tmp.Name())
	return string(b)
}

// TestRunRefusesOutInUse: `kvmtest run --out DIR` over an earlier run
// exits 2 before anything is built, leaves it as it was and says what to
// do: --resume for a run that did not finish, a new directory otherwise.
func TestRunRefusesOutInUse(t *testing.T) {
	t.Setenv("KVMTEST_CACHE", t.TempDir())
	for _, tt := range []struct {
		name   string
		status string // of the earlier run's cell; "" for cells/ without run.json
		want   string
	}{
		{"finished", results.StatusPassed, "run: --out DIR already holds a run: choose a new directory"},
		{"interrupted", results.StatusInterrupted, "run: --out DIR already holds a run that did not finish (1 cell(s) interrupted): continue it with --resume DIR, or choose a new directory"},
		{"stale cells", "", "run: --out DIR already holds the cells of a run, without a readable run.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			os.MkdirAll(filepath.Join(out, "cells", "6.12-base-minimal"), 0o755)
			if tt.status != "" {
				run := &results.Run{Schema: results.SchemaVersion, Cells: []*results.Cell{{ID: "6.12-base-minimal", Status: tt.status}}}
				if err := run.Write(out); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(filepath.Join(out, "run.json"))
			var code int
			msg := stderrOf(t, func() { code = mainExit([]string{"run", "quick", "--out", out}) })
			if code != results.ExitBadInput || !strings.Contains(strings.ReplaceAll(msg, out, "DIR"), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, msg, tt.want)
			}
			if after, _ := os.ReadFile(filepath.Join(out, "run.json")); string(after) != string(before) {
				t.Error("the earlier run.json changed")
			}
			if ents, _ := os.ReadDir(filepath.Join(out, "cells")); len(ents) != 1 {
				t.Errorf("cells/ holds %d entries, want the earlier one only", len(ents))
			}
		})
	}
}

// TestRunExit: a run whose results could not all be written exits 3,
// naming each file: a cell's incomplete record, run.json, a report.
func TestRunExit(t *testing.T) {
	passed := &results.Cell{ID: "a", Status: results.StatusPassed}
	lost := &results.Cell{ID: "b", Status: results.StatusBootFailed, Incomplete: []string{"cells/b/events.jsonl"}}
	for _, tt := range []struct {
		name           string
		cells          []*results.Cell
		runErr, repErr error
		code           int
		says           string
	}{
		{"all written", []*results.Cell{passed}, nil, nil, results.ExitOK, ""},
		{"incomplete cell", []*results.Cell{passed, lost}, nil, nil, results.ExitInfra,
			"kvmtest: OUT/cells/b/events.jsonl could not be written whole: the record of cell b is incomplete (boot-failed)"},
		{"run.json", []*results.Cell{passed}, errors.New("OUT/run.json: write: no space left on device (not written whole)"), nil, results.ExitInfra,
			"kvmtest: OUT/run.json: write: no space left on device (not written whole): the results above are not recorded"},
		{"report", []*results.Cell{passed}, nil, errors.New("report.html: no space left on device"), results.ExitInfra,
			"kvmtest: writing the reports: report.html: no space left on device"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var code int
			msg := stderrOf(t, func() {
				code = runExit(context.Background(), &results.Run{Cells: tt.cells}, "OUT", tt.runErr, tt.repErr)
			})
			if code != tt.code || (tt.says == "") != (msg == "") || !strings.Contains(msg, tt.says) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, msg, tt.code, tt.says)
			}
		})
	}
}
