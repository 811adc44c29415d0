package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

var planCmd = &Command{
	Name:      "plan",
	UsageLine: "plan [MATRIX|NAME] [--cell GLOB] [--shard I/N] [--format text|json|github]",
	Short:     "show the cells a run would build and boot, without doing it",
	Flags:     flag.NewFlagSet("plan", flag.ContinueOnError),
	Long: `
Plan expands a matrix into its cells and prints, per cell, the kernel
source, the patch series, the config and the suites, which cells share a
kernel build, which are skipped (applies-to) or excluded (and by which
rule), and each cell's baseline. When the matrix has several
architectures, each cell's is shown, and the suites its requires.arch
leaves out of a cell. Nothing is built.

--format json prints the same as data; --format github prints a JSON
object for a GitHub Actions matrix: {"include":[{"shard":"1/N"},...]} when
--shard is given as N (e.g. --shard 4), else one entry per cell
{"include":[{"cell":"ID"},...]}.`,
}

var (
	planCellGlob = planCmd.Flags.String("cell", "", "only cells whose id matches this glob")
	planShard    = planCmd.Flags.String("shard", "", "I/N: only that share of the cells; with --format github, N alone")
	planFormat   = planCmd.Flags.String("format", "text", "text, json or github")
)

func init() {
	planCmd.Run = runPlan
	register(planCmd)
}

type plannedCell struct {
	ID       string `json:"id"`
	Kernel   string `json:"kernel"`
	Patchset string `json:"patchset"`
	Config   string `json:"config"`
	Arch     string `json:"arch"`
	Source   string `json:"source"`
	Series   string `json:"series,omitempty"`
	// Suites are those that run in the cell: all but those whose
	// requires.arch leaves its architecture out.
	Suites   []string `json:"suites"`
	Baseline string   `json:"baseline,omitempty"`
	Skip     string   `json:"skip,omitempty"`
	Excluded string   `json:"excluded,omitempty"`
	// Cached names the artifact already built for this cell ("" = must build).
	Cached string `json:"cached,omitempty"`
}

func runPlan(cmd *Command, args []string) int {
	cache, m, _, code := loadMatrixArg(args)
	if m == nil {
		return code
	}
	if *planFormat == "github" {
		return planGitHub(m)
	}
	selected, err := selectCells(m.Cells(), *planCellGlob, *planShard)
	if err != nil {
		return fatalf(results.ExitBadInput, "%v", err)
	}
	var shards []shardCost
	if *planShard != "" {
		whole, _ := selectCells(m.Cells(), *planCellGlob, "")
		_, n, _ := parseShard(*planShard)
		for k, sh := range engine.DefaultCost.Shards(whole, n) {
			shards = append(shards, shardCost{Shard: fmt.Sprintf("%d/%d", k+1, n), Cells: len(sh.Cells),
				Builds: sh.Builds, ColdBuilds: sh.ColdBuilds, Cost: sh.Cost})
		}
	}
	chosen := map[string]bool{}
	for _, c := range selected {
		chosen[c.ID] = true
	}
	var suites []string
	for _, s := range m.Suites {
		suites = append(suites, s.Name)
	}
	var out []plannedCell
	bld := &builder.Builder{Cache: cache}
	for _, c := range m.AllCells() {
		if c.Excluded == "" && !chosen[c.ID] {
			continue
		}
		if c.Excluded != "" && (*planCellGlob != "" || *planShard != "") {
			continue
		}
		pc := plannedCell{ID: c.ID, Kernel: c.Kernel.Name, Patchset: c.Patchset.Name, Config: c.Config.Name, Arch: c.Arch,
			Source: sourceText(c.Kernel.Source), Series: c.Patchset.Series, Suites: cellSuites(m, c), Skip: c.Skip, Excluded: c.Excluded}
		if b, ok := m.BaselineOf(c); ok && b.ID != c.ID {
			pc.Baseline = b.ID
		}
		if c.Skip == "" && c.Excluded == "" {
			if req, err := engine.BuildRequest(c); err == nil {
				if a := bld.Lookup(context.Background(), req); a != nil {
					pc.Cached = a.Key
				}
			}
		}
		out = append(out, pc)
	}
	if code := checkArchTools(os.Stderr, m, selected); code != results.ExitOK {
		return code
	}
	switch *planFormat {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		v := map[string]any{"matrix": m.Name, "file": m.File, "digest": m.Digest, "cells": out}
		if shards != nil {
			v["shards"] = shards
		}
		enc.Encode(v)
	case "text":
		printPlan(os.Stdout, m, len(selected), suites, out)
		printShards(*planShard, shards)
	default:
		return fatalf(results.ExitBadInput, "plan: --format %q: want text, json or github", *planFormat)
	}
	return results.ExitOK
}

// cellSuites returns the names of the suites that run in cell c, in
// matrix order: every suite but those whose requires.arch leaves its
// architecture out (Suite.ArchUnmet). Requirements on the kernel are
// judged once it is built, and are not here.
func cellSuites(m *matrices.Matrix, c matrices.Cell) []string {
	out := []string{}
	for _, s := range m.Suites {
		if s.ArchUnmet(c.Arch) == "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// printPlan prints the plan as text: a summary line (selected cells,
// kernel builds and how many are cached, suites, and the architectures
// when there are several), then one line per cell, with its
// architecture after its id when the matrix has several, and the suites
// it runs when requires.arch leaves some out.
func printPlan(w io.Writer, m *matrices.Matrix, selected int, suites []string, out []plannedCell) {
	builds, cached := 0, 0
	for _, c := range out {
		if c.Skip == "" && c.Excluded == "" {
			builds++
			if c.Cached != "" {
				cached++
			}
		}
	}
	arches := ""
	if m.MultiArch() {
		arches = ", arches: " + strings.Join(m.Arches, ", ")
	}
	fmt.Fprintf(w, "matrix %s (%s): %d cell(s), %d kernel build(s) of which %d cached, suites: %s%s\n", m.Name, m.File, selected, builds, cached, strings.Join(suites, ", "), arches)
	for _, c := range out {
		id := fmt.Sprintf("%-32s", c.ID)
		if m.MultiArch() {
			id += fmt.Sprintf(" %-8s", c.Arch)
		}
		switch {
		case c.Excluded != "":
			fmt.Fprintf(w, "  %s excluded: %s\n", id, c.Excluded)
		case c.Skip != "":
			fmt.Fprintf(w, "  %s skipped: %s\n", id, c.Skip)
		default:
			series := "no patches"
			if c.Series != "" {
				series = c.Series
			}
			state := "to build"
			if c.Cached != "" {
				state = "cached " + c.Cached[:12]
			}
			fmt.Fprintf(w, "  %s %-20s %s; %s", id, state, c.Source, series)
			if c.Baseline != "" {
				fmt.Fprintf(w, "; compared with %s", c.Baseline)
			}
			if len(c.Suites) < len(suites) {
				fmt.Fprintf(w, "; suites: %s", strings.Join(c.Suites, ", "))
				if len(c.Suites) == 0 {
					fmt.Fprint(w, "none")
				}
			}
			fmt.Fprintln(w)
		}
	}
}

// shardCost is one shard's estimate (engine.DefaultCost), for plan --shard.
type shardCost struct {
	Shard      string  `json:"shard"`
	Cells      int     `json:"cells"`
	Builds     int     `json:"builds"`
	ColdBuilds int     `json:"cold_builds"`
	Cost       float64 `json:"estimated_seconds"`
}

// printShards prints the estimated cost of every shard, marking this one.
func printShards(this string, shards []shardCost) {
	if len(shards) == 0 {
		return
	}
	total := 0.0
	for _, s := range shards {
		total += s.Cost
	}
	fmt.Printf("shards (estimated: %s; total %.0f s, ideal share %.0f s):\n",
		engine.DefaultCost, total, total/float64(len(shards)))
	for _, s := range shards {
		mark := " "
		if s.Shard == this {
			mark = "*"
		}
		fmt.Printf(" %s %-6s %2d cell(s), %d build(s) of which %d cold, %5.0f s\n", mark, s.Shard, s.Cells, s.Builds, s.ColdBuilds, s.Cost)
	}
}

// planGitHub prints a GitHub Actions matrix: one entry per shard.
func planGitHub(m *matrices.Matrix) int {
	n := 0
	if *planShard != "" {
		if _, err := fmt.Sscanf(*planShard, "%d", &n); err != nil || n < 1 {
			return fatalf(results.ExitBadInput, "plan --format github: --shard N wants the number of shards, e.g. --shard 4")
		}
	}
	var include []map[string]string
	if n > 0 {
		for i := 1; i <= n; i++ {
			include = append(include, map[string]string{"shard": fmt.Sprintf("%d/%d", i, n)})
		}
	} else {
		cells, err := selectCells(m.Cells(), *planCellGlob, "")
		if err != nil {
			return fatalf(results.ExitBadInput, "%v", err)
		}
		for _, c := range cells {
			include = append(include, map[string]string{"cell": c.ID})
		}
	}
	b, _ := json.Marshal(map[string]any{"include": include})
	fmt.Println(string(b))
	return results.ExitOK
}

func sourceText(s matrices.Source) string {
	switch {
	case s.Tarball != "":
		return "tarball " + s.Tarball
	case s.Path != "":
		return "tree " + s.Path
	case s.Git != nil:
		return "git " + s.Git.Repo + "@" + s.Git.Ref
	case s.Prebuilt == nil:
	case s.Prebuilt.Image != "":
		return "image " + s.Prebuilt.Image
	case s.Prebuilt.Deb != "":
		return "deb " + s.Prebuilt.Deb
	case s.Prebuilt.Package != "":
		return "package " + s.Prebuilt.Package
	}
	return "?"
}
