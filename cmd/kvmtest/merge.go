package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

var mergeCmd = &Command{
	Name:      "merge",
	UsageLine: "merge DIR... --out DIR",
	Short:     "join the results of shards into one run",
	Flags:     flag.NewFlagSet("merge", flag.ContinueOnError),
	Long: `
Merge joins the run directories of the shares of one matrix (kvmtest run
--shard I/N on several runners, or the indices of a Kubernetes Indexed Job)
into one run under --out, as if it had run in one place: run.json with
every cell in matrix order, cells/ID/ copied from each share, and the
reports (report.md, report.html, junit.xml, test2json.jsonl) written for
the whole, so that each patchset is compared with its baseline even when
they ran on different runners. On GitHub Actions it also writes the step summary and
the ::error annotations.

It refuses shares of different matrices (their digests differ), a cell
that two shares both finished, and an --out that already holds a run. It
warns when shares are missing.

Exit status: the merged run's verdict, as kvmtest run would have given it
(0, 1, 3 or 130); 2 for bad input.`,
}

var mergeOut = mergeCmd.Flags.String("out", "", "the directory of the merged run (required; must not hold a run)")

func init() {
	mergeCmd.Run = runMerge
	register(mergeCmd)
}

func runMerge(cmd *Command, args []string) int {
	if len(args) == 0 {
		return fatalf(results.ExitBadInput, "merge: name the run directories of the shares")
	}
	if *mergeOut == "" {
		return fatalf(results.ExitBadInput, "merge: --out DIR is required")
	}
	out := *mergeOut
	if _, err := os.Stat(filepath.Join(out, "run.json")); err == nil {
		return fatalf(results.ExitBadInput, "merge: %s already holds a run", out)
	}
	var runs []*results.Run
	from := map[*results.Cell]string{}
	for _, dir := range args {
		if same, _ := sameDir(dir, out); same {
			return fatalf(results.ExitBadInput, "merge: --out %s is one of the inputs", out)
		}
		r, err := results.Read(dir)
		if err != nil {
			return fatalf(results.ExitBadInput, "merge: %v", err)
		}
		for _, c := range r.Cells {
			from[c] = dir
		}
		runs = append(runs, r)
	}
	merged, err := results.Merge(runs)
	if err != nil {
		return fatalf(results.ExitBadInput, "%v", err)
	}
	if missing := results.MissingShards(runs); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "kvmtest: merge: shares %s are missing: their cells are not in the merged run\n", guesttext.Line(strings.Join(missing, ", ")))
	}
	if err := os.MkdirAll(filepath.Join(out, "cells"), 0o755); err != nil {
		return fatalf(results.ExitInfra, "merge: %v", err)
	}
	for _, c := range merged.Cells {
		src := filepath.Join(from[c], "cells", c.ID)
		if _, err := os.Stat(src); err != nil {
			continue // a cell that never started has no directory
		}
		if err := os.CopyFS(filepath.Join(out, "cells", c.ID), os.DirFS(src)); err != nil {
			return fatalf(results.ExitInfra, "merge: copying %s: %v", src, err)
		}
	}
	if err := merged.Write(out); err != nil {
		return fatalf(results.ExitInfra, "merge: %v", err)
	}
	if err := report.WriteAll(out, merged, recordedMatrix(merged)); err != nil {
		fmt.Fprintf(os.Stderr, "kvmtest: merge: %s\n", guesttext.Clean(err.Error()))
	}
	code := merged.ExitCode()
	fmt.Fprintf(os.Stderr, "kvmtest: %s\n", guesttext.Line(fmt.Sprintf("merged %d run(s), %d cell(s), into %s (exit status %d); report: %s",
		len(runs), len(merged.Cells), out, code, filepath.Join(out, report.MarkdownFile))))
	return code
}

// sameDir reports whether two paths name the same directory.
func sameDir(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}
