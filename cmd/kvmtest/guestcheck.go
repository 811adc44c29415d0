package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kvmtest/kvmtest"
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// compileGuest is engine.CompileGuest; a variable for tests.
var compileGuest = engine.CompileGuest

// checkGuest compiles the guest programs the suites of m need (the agent,
// test2json, every go-test package) into the cache, where a run finds
// them compiled, before any kernel is built. A go-test package that does
// not compile is printed to w as its suite's matrix position,
// FILE:LINE:COL, with the compiler's message, and is bad input
// (results.ExitBadInput); the agent or test2json not compiling is
// results.ExitInfra. It returns results.ExitOK when all compile.
func checkGuest(ctx context.Context, w io.Writer, cache *builder.Cache, m *matrices.Matrix) int {
	srcDir, err := kvmtest.Materialize(cache.SelfDir())
	if err != nil {
		fmt.Fprintf(w, "%s: materializing kvmtest's source for the guest agent: %v\n", m.File, err)
		return results.ExitInfra
	}
	err = compileGuest(ctx, srcDir, cache.GuestDir(), engine.CellArches(m.Cells()), m.Suites, newProgress(os.Stderr, false, progressPlain).Logf)
	if err == nil {
		return results.ExitOK
	}
	var ge *engine.GuestCompileError
	if errors.As(err, &ge) && ge.Suite != nil {
		fmt.Fprintf(w, "%s: suite %s: go-test package %s does not compile:\n%s\n",
			ge.Suite.Pos, ge.Suite.Name, ge.Program, indent(ge.Err.Error(), "  "))
		return results.ExitBadInput
	}
	fmt.Fprintf(w, "%s: %v\n", m.File, err)
	return results.ExitInfra
}
