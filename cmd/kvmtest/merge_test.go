package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

const fixtureRun = "../../report/testdata/runs/vmsplice"

// shareDirs writes the shares I/n of a run directory as `kvmtest run
// --shard I/n` would have: each with its own cells and cells/ID/ files,
// a build slot's cells (kernel and config) together, the slots dealt out
// last share first, each share listing the whole run's cells.
func shareDirs(t *testing.T, src string, n int) []string {
	t.Helper()
	whole, err := results.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	slot := map[string]int{}
	for _, c := range whole.Cells {
		ids = append(ids, c.ID)
		if _, ok := slot[c.Kernel+"\x00"+c.Config]; !ok {
			slot[c.Kernel+"\x00"+c.Config] = len(slot)
		}
	}
	var dirs []string
	for i := 1; i <= n; i++ {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("shard%d", i))
		share := *whole
		share.Shard = fmt.Sprintf("%d/%d", i, n)
		share.WholeCells = ids
		share.Cells = nil
		if err := os.MkdirAll(filepath.Join(dir, "cells"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range whole.Cells {
			if n-1-slot[c.Kernel+"\x00"+c.Config]%n != i-1 {
				continue
			}
			share.Cells = append(share.Cells, c)
			if cd := filepath.Join(src, "cells", c.ID); exists(cd) {
				if err := os.CopyFS(filepath.Join(dir, "cells", c.ID), os.DirFS(cd)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := share.Write(dir); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestMergeEqualsUnshardedRun(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "")
	whole, err := results.Read(fixtureRun)
	if err != nil {
		t.Fatal(err)
	}
	// The unsharded run, in a directory of its own, with its reports.
	ref := t.TempDir()
	if err := os.CopyFS(filepath.Join(ref, "cells"), os.DirFS(filepath.Join(fixtureRun, "cells"))); err != nil {
		t.Fatal(err)
	}
	if err := whole.Write(ref); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteAll(ref, whole, nil); err != nil {
		t.Fatal(err)
	}

	shares := shareDirs(t, fixtureRun, 4)
	out := filepath.Join(t.TempDir(), "merged")
	args := append([]string{"merge", "--out", out}, shares[2], shares[0], shares[3], shares[1])
	if code := mainExit(args); code != whole.ExitCode() {
		t.Errorf("merge exit %d, want the run's verdict %d", code, whole.ExitCode())
	}
	for _, f := range []string{"run.json", report.MarkdownFile, report.HTMLFile, report.JUnitFile, report.Test2JSONFile,
		"cells/6.12-vmsplice-copy-minimal/bench.txt", "cells/6.12-base-debug/console.log"} {
		want, err1 := os.ReadFile(filepath.Join(ref, f))
		got, err2 := os.ReadFile(filepath.Join(out, f))
		if err1 != nil || err2 != nil {
			t.Errorf("%s: %v %v", f, err1, err2)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s of the merged shares differs from the unsharded run's", f)
		}
	}

	// Again into the same --out: refused.
	if code := mainExit(args); code != results.ExitBadInput {
		t.Errorf("merge into a directory holding a run: exit %d, want 2", code)
	}
}

func TestMergeRefusesOtherMatrix(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "")
	shares := shareDirs(t, fixtureRun, 2)
	r, err := results.Read(shares[1])
	if err != nil {
		t.Fatal(err)
	}
	r.Matrix.Digest = "0123456789abcdef"
	if err := r.Write(shares[1]); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "merged")
	if code := mainExit([]string{"merge", shares[0], shares[1], "--out", out}); code != results.ExitBadInput {
		t.Errorf("merge of two matrices: exit %d, want 2", code)
	}
	if exists(filepath.Join(out, "run.json")) {
		t.Error("a refused merge wrote run.json")
	}
}

func TestCompareExitStatus(t *testing.T) {
	// Stdout gets the report; keep the test's output quiet.
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	old := os.Stdout
	os.Stdout = devnull
	defer func() { os.Stdout = old; devnull.Close() }()
	before := "../../report/testdata/runs/before"
	if code := mainExit([]string{"compare", before, before}); code != 0 {
		t.Errorf("a run against itself: exit %d, want 0", code)
	}
	if code := mainExit([]string{"compare", before, fixtureRun}); code != results.ExitInfra {
		t.Errorf("against a run with infrastructure failures: exit %d, want 3", code)
	}
	if code := mainExit([]string{"compare", before}); code != results.ExitBadInput {
		t.Errorf("one directory: exit %d, want 2", code)
	}
}
