package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

var validateCmd = &Command{
	Name:      "validate",
	UsageLine: "validate [--apply] MATRIX...",
	Short:     "check matrix files without building anything",
	Flags:     flag.NewFlagSet("validate", flag.ContinueOnError),
	Long: `
Validate loads each matrix strictly and prints every problem found, one
per line, as FILE:LINE:COL: message. It exits 0 when all are valid and 2
otherwise. A shipped matrix can be named instead of a file. Besides the
language, it refuses what would fail only after a build: a tarball tar
cannot read, a git ref a local repository does not have, a suite program
the guest cannot execute (dynamically linked, another architecture, a
script whose interpreter is not in the initramfs), a vm.memory larger
than this host's. It also compiles the guest programs (the agent and
every go-test package, into the cache, where a run finds them): a
package that does not compile is reported at its suite's line. Warnings (FILE:LINE:COL: warning: …, exit unchanged)
name vCPUs a kernel without CONFIG_SMP, or this host, cannot give. See
"What validate refuses" in docs/matrix.md.

With --apply, every patch series is also applied (in a scratch copy, with
patch -p1) to every kernel it targets, without building: a series that
does not apply is reported with the patch, its subject, the file and the
hunk, and validate exits 2.`,
}

var validateApply = validateCmd.Flags.Bool("apply", false, "also check that every series applies to every kernel it targets")

func init() {
	validateCmd.Run = runValidate
	register(validateCmd)
}

func runValidate(cmd *Command, args []string) int {
	if len(args) == 0 {
		return fatalf(results.ExitBadInput, "validate: name at least one matrix")
	}
	cache, err := openCache()
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	var files []string
	for _, a := range args {
		f, _, err := resolveMatrix(cache, a)
		if err != nil {
			return fatalf(results.ExitBadInput, "%v", err)
		}
		files = append(files, f)
	}
	ms, err := matrices.LoadFiles(files...)
	if err != nil {
		return printMatrixError(err)
	}
	code := results.ExitOK
	for _, m := range ms {
		printWarnings(os.Stderr, m)
		if *validateApply && !checkSeries(cache, m) {
			code = results.ExitBadInput
			continue
		}
		if c := checkArchTools(os.Stderr, m, m.Cells()); c != results.ExitOK {
			code = c
			continue
		}
		if c := checkGuest(context.Background(), os.Stderr, cache, m); c != results.ExitOK {
			code = c // a go-test package that does not compile: found now, not after a kernel build
			continue
		}
		fmt.Printf("%s: ok: matrix %s, %d cell(s)\n", m.File, m.Name, len(m.Cells()))
	}
	return code
}

// checkSeries applies each (kernel, patchset) pair's series once.
func checkSeries(cache *builder.Cache, m *matrices.Matrix) bool {
	ok := true
	done := map[string]bool{}
	b := &builder.Builder{Cache: cache, Logf: newProgress(os.Stderr, false, progressPlain).Logf}
	for _, c := range m.Cells() {
		key := c.Kernel.Name + "\x00" + c.Patchset.Name
		if c.Skip != "" || c.Patchset.Series == "" || done[key] {
			continue
		}
		done[key] = true
		patches, err := builder.SeriesFiles(c.Patchset.Series)
		if err == nil {
			err = b.CheckSeries(context.Background(), engine.SourceOf(c.Kernel.Source), patches)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: patchset %s on kernel %s: %v\n", m.File, c.Patchset.Name, c.Kernel.Name, err)
			ok = false
			continue
		}
		fmt.Printf("%s: patchset %s applies to kernel %s (%d patches)\n", m.File, c.Patchset.Name, c.Kernel.Name, len(patches))
	}
	return ok
}
