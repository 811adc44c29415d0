package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/kvmtest/kvmtest"
	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/hostinfo"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// Every matrix this program loads reads the version of a kernel that
// declares none from its source's Makefile with the builder's reader
// (tarball member, git REF:Makefile, tree), has its tarballs and git refs
// checked by the builder (matrices itself runs nothing), and is judged
// against this host's memory and CPUs. They are installed before main, so
// every matrices.Load here (run's, bisect's, validate's…) refuses the same
// input before anything is built.
func init() {
	matrices.DefaultMakefileReader = readMakefile
	matrices.DefaultSourceChecker = matrices.SourceChecker{
		Tarball: builder.CheckTarball,
		GitRepo: builder.CheckGitRepo,
		GitRef:  builder.CheckGitRef,
	}
	h := hostinfo.Read()
	matrices.DefaultHost = matrices.Host{MemTotalMiB: h.MemTotalMiB, CPUs: h.CPUs}
}

// readMakefile is the builder's Makefile reader for a matrix kernel source.
func readMakefile(src matrices.Source) ([]byte, error) {
	return builder.SourceMakefile(engine.SourceOf(src))
}

// openCache opens the kernel cache ($KVMTEST_CACHE or ~/.cache/kvmtest).
func openCache() (*builder.Cache, error) {
	dir, err := builder.DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	return builder.OpenCache(dir)
}

// resolveMatrix turns a command-line argument into a matrix file: an
// existing file, or the name of a shipped matrix ("" means "default"). It
// also returns kvmtest's materialized source tree.
func resolveMatrix(cache *builder.Cache, arg string) (file, srcDir string, err error) {
	srcDir, err = kvmtest.Materialize(cache.SelfDir())
	if err != nil {
		return "", "", err
	}
	if arg == "" {
		arg = "default"
	}
	if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
		return arg, srcDir, nil
	}
	if p := kvmtest.BuiltinMatrix(srcDir, matrices.Canonical(arg)); p != "" && !strings.ContainsAny(arg, "/.") {
		return p, srcDir, nil
	}
	names := matrices.Builtin()
	for _, a := range matrices.Aliases() {
		names = append(names, a[0]+" (= "+a[1]+")")
	}
	return "", "", fmt.Errorf("%s: no such matrix file, and no shipped matrix of that name (shipped: %s)", arg, strings.Join(names, ", "))
}

// selectCells filters cells by a glob on their id and takes one shard:
// shards keep each build slot's cells together and are balanced by
// estimated cost (engine.CostModel.Shards).
func selectCells(cells []matrices.Cell, glob, shard string) ([]matrices.Cell, error) {
	var out []matrices.Cell
	for _, c := range cells {
		if glob != "" {
			ok, err := path.Match(glob, c.ID)
			if err != nil {
				return nil, fmt.Errorf("--cell %q: %w", glob, err)
			}
			if !ok {
				continue
			}
		}
		out = append(out, c)
	}
	if glob != "" && len(out) == 0 {
		var ids []string
		for _, c := range cells {
			ids = append(ids, c.ID)
		}
		return nil, fmt.Errorf("--cell %q matches no cell (cells: %s)", glob, strings.Join(ids, ", "))
	}
	if shard == "" {
		return out, nil
	}
	i, n, err := parseShard(shard)
	if err != nil {
		return nil, err
	}
	var mine []matrices.Cell
	for _, k := range engine.DefaultCost.Shards(out, n)[i-1].Cells {
		mine = append(mine, out[k])
	}
	return mine, nil
}

// parseShard parses --shard I/N (1 <= I <= N).
func parseShard(s string) (i, n int, err error) {
	i, n, err = results.ParseShard(s)
	if err != nil {
		return 0, 0, fmt.Errorf("--%w, e.g. 2/4", err)
	}
	return i, n, nil
}

// printMatrixError prints load errors one per line and returns
// results.ExitBadInput.
func printMatrixError(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return results.ExitBadInput
}

// printWarnings prints a loaded matrix's warnings to w, one per line, as
// FILE:LINE:COL: warning: message. They change no exit code.
func printWarnings(w io.Writer, m *matrices.Matrix) {
	for _, e := range m.Warnings {
		fmt.Fprintf(w, "%s:%d:%d: warning: %s\n", e.File, e.Line, e.Col, e.Msg)
	}
}

// listBuiltins prints the shipped matrices with their descriptions.
func listBuiltins() int {
	cache, err := openCache()
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	_, srcDir, err := resolveMatrix(cache, "default")
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	for _, name := range matrices.Builtin() {
		m, err := matrices.Load(kvmtest.BuiltinMatrix(srcDir, name))
		if err != nil {
			fmt.Printf("%-12s (does not load here: %v)\n", name, firstLine(err.Error()))
			continue
		}
		fmt.Printf("%-12s %d cell(s)  %s\n", name, len(m.Cells()), m.Description)
	}
	for _, a := range matrices.Aliases() {
		fmt.Printf("%-12s the %s matrix, by another name\n", a[0], a[1])
	}
	return results.ExitOK
}

// loadMatrixArg opens the cache and loads the matrix named by the first
// argument (a file or a shipped matrix; none means "default"). On failure
// it has printed the problem and returns the exit code (results.ExitBadInput
// or results.ExitInfra) with a nil matrix.
func loadMatrixArg(args []string) (*builder.Cache, *matrices.Matrix, string, int) {
	arg := ""
	if len(args) > 0 {
		arg = args[0]
	}
	cache, err := openCache()
	if err != nil {
		return nil, nil, "", fatalf(results.ExitInfra, "%v", err)
	}
	file, srcDir, err := resolveMatrix(cache, arg)
	if err != nil {
		return nil, nil, "", fatalf(results.ExitBadInput, "%v", err)
	}
	m, err := matrices.Load(file)
	if err != nil {
		return nil, nil, "", printMatrixError(err)
	}
	printWarnings(os.Stderr, m)
	return cache, m, srcDir, results.ExitOK
}
