package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/report"
	"github.com/kvmtest/kvmtest/results"
)

var compareCmd = &Command{
	Name:      "compare",
	UsageLine: "compare DIR_A DIR_B [--format md|html|json]",
	Short:     "compare two runs cell by cell",
	Flags:     flag.NewFlagSet("compare", flag.ContinueOnError),
	Long: `
Compare reads two run directories (for example two commits of a tree, or
today's run against last week's) and compares each cell of B with the
cell of A that has the same kernel, patchset and config, the way report
compares a patchset with its baseline: status changes, differences the
matrix declares that did not happen, new console findings, benchmark
deltas. The report goes to standard output (Markdown by default).

Exit status: 0 when everything in B is as its matrix expects; 1 for an
unexpected difference (a regression, an unexpected pass, a new console
finding...) or a cell of B that failed; 3 when a matched cell of either run
could not be built, booted or finished, so the comparison is incomplete;
2 for bad arguments. The highest applies.`,
}

var compareFormat = compareCmd.Flags.String("format", "md", "output format: md, html or json")

func init() {
	compareCmd.Run = runCompare
	register(compareCmd)
}

func runCompare(cmd *Command, args []string) int {
	if len(args) != 2 {
		return fatalf(results.ExitBadInput, "compare: name two run directories, A (before) and B (after)")
	}
	write, ok := reportWriter(*compareFormat, false)
	if !ok {
		return fatalf(results.ExitBadInput, "compare: --format %q: want md, html or json", *compareFormat)
	}
	a, err := results.Read(args[0])
	if err != nil {
		return fatalf(results.ExitBadInput, "compare: %v", err)
	}
	b, err := results.Read(args[1])
	if err != nil {
		return fatalf(results.ExitBadInput, "compare: %v", err)
	}
	if a.Matrix.Digest != b.Matrix.Digest {
		fmt.Fprintf(os.Stderr, "kvmtest: compare: the runs are of different matrix files (%s and %s): cells are matched by their axes\n", guesttext.Line(a.Matrix.Name), guesttext.Line(b.Matrix.Name))
	}
	r := report.Compare(args[0], a, args[1], b)
	if err := write(os.Stdout, r, "", nil); err != nil {
		return fatalf(results.ExitInfra, "compare: %v", err)
	}
	fmt.Fprintf(os.Stderr, "kvmtest: %s\n", guesttext.Line(r.Verdict))
	return r.ExitCode
}
