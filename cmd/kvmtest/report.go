package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

var reportCmd = &Command{
	Name:      "report",
	UsageLine: "report DIR [--format md|html|json|junit]",
	Short:     "print the report of a run, and rewrite its report files",
	Flags:     flag.NewFlagSet("report", flag.ContinueOnError),
	Long: `
Report reads DIR/run.json (and the cells' bench.txt and console.log),
rewrites DIR/report.md, DIR/report.html, DIR/junit.xml and
DIR/test2json.jsonl, and prints the report in the chosen format to
standard output: md (the default), html, json (the report's content, see
docs/results.md) or junit.

The report compares each patchset with the matrix's baseline, per kernel
and config: tests whose status changed (a regression is a test failing
that the matrix does not expect to fail; a fix, one passing that failed in
the baseline), differences the matrix declares that did not happen, new
console findings with their excerpt, and benchmark deltas (median,
confidence interval and p-value, "~" when not significant, as benchstat
prints them). Infrastructure failures are listed apart.

kvmtest run writes the same files at the end of every run. Report exits 0
when it printed the report (whatever the run's verdict), 2 when DIR holds
no readable run. It does not write GitHub Actions annotations: run and
merge do.`,
}

var reportFormat = reportCmd.Flags.String("format", "md", "output format: md, html, json or junit")

func init() {
	reportCmd.Run = runReport
	register(reportCmd)
}

func runReport(cmd *Command, args []string) int {
	if len(args) != 1 {
		return fatalf(results.ExitBadInput, "report: name one run directory")
	}
	write, ok := reportWriter(*reportFormat, true)
	if !ok {
		return fatalf(results.ExitBadInput, "report: --format %q: want md, html, json or junit", *reportFormat)
	}
	dir := args[0]
	run, err := results.Read(dir)
	if err != nil {
		return fatalf(results.ExitBadInput, "report: %v", err)
	}
	r := report.Build(dir, run, recordedMatrix(run))
	if err := report.WriteFiles(dir, r, run); err != nil {
		fmt.Fprintf(os.Stderr, "kvmtest: report: %s (printing it anyway)\n", guesttext.Clean(err.Error()))
	}
	if err := write(os.Stdout, r, dir, run); err != nil {
		return fatalf(results.ExitInfra, "report: %v", err)
	}
	return results.ExitOK
}

// recordedMatrix returns the run's matrix, for a run.json that records no
// baselines (written before they were recorded), when the matrix file is
// still where it was and unchanged (same digest); nil otherwise, and nil
// when the cells record their baselines: the report then needs nothing
// but run.json.
func recordedMatrix(run *results.Run) *matrices.Matrix {
	for _, c := range run.Cells {
		if c.Baseline != "" {
			return nil
		}
	}
	if run.Matrix.File == "" {
		return nil
	}
	if _, err := os.Stat(run.Matrix.File); err != nil {
		return nil
	}
	// An earlier run's matrix is read, not run: this host's capacity and
	// the sources' contents are not its business.
	m, err := matrices.LoadWith(run.Matrix.File, matrices.LoadOptions{Host: &matrices.Host{}, CheckSource: &matrices.SourceChecker{}})
	if err != nil || m.Digest != run.Matrix.Digest {
		return nil
	}
	return m
}

// reportWriter returns the printer of a report format; junit only for a
// single run.
func reportWriter(format string, junit bool) (func(w io.Writer, r *report.Report, dir string, run *results.Run) error, bool) {
	switch format {
	case "md", "markdown":
		return func(w io.Writer, r *report.Report, _ string, _ *results.Run) error { return r.Markdown(w) }, true
	case "html":
		return func(w io.Writer, r *report.Report, _ string, _ *results.Run) error { return r.HTML(w) }, true
	case "json":
		return func(w io.Writer, r *report.Report, _ string, _ *results.Run) error { return r.JSON(w) }, true
	case "junit":
		if junit {
			return func(w io.Writer, _ *report.Report, dir string, run *results.Run) error {
				return report.JUnit(w, dir, run)
			}, true
		}
	}
	return nil, false
}
