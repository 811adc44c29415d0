package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/results"
)

var buildCmd = &Command{
	Name:      "build",
	UsageLine: "build [MATRIX|NAME] [--cell GLOB]",
	Short:     "build the kernels of a matrix and print where each artifact is",
	Flags:     flag.NewFlagSet("build", flag.ContinueOnError),
	Long: `
Build builds (or finds in the cache) the kernel of every selected cell and
prints, per cell, the artifact directory holding bzImage, config and
build.log. Nothing is booted. Exit status 3 when a build fails.`,
}

var buildCell = buildCmd.Flags.String("cell", "", "build only cells whose id matches this glob")

func init() {
	buildCmd.Run = runBuild
	register(buildCmd)
}

func runBuild(cmd *Command, args []string) int {
	cache, m, _, code := loadMatrixArg(args)
	if m == nil {
		return code
	}
	cells, err := selectCells(m.Cells(), *buildCell, "")
	if err != nil {
		return fatalf(results.ExitBadInput, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := newProgress(os.Stderr, false)
	b := &builder.Builder{Cache: cache, Logf: p.Logf}
	code = results.ExitOK
	for _, c := range cells {
		if c.Skip != "" {
			fmt.Printf("%s\tskipped: %s\n", c.ID, c.Skip)
			continue
		}
		req, err := engine.BuildRequest(c)
		if err != nil {
			fmt.Printf("%s\tbuild-failed: %v\n", c.ID, err)
			code = results.ExitInfra
			continue
		}
		p.Phase(c.ID, "build")
		a, err := b.Build(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return results.ExitInterrupted
			}
			fmt.Printf("%s\tbuild-failed: %v\n", c.ID, err)
			code = results.ExitInfra
			continue
		}
		state := "built"
		if a.Cached {
			state = "cached"
		}
		fmt.Printf("%s\t%s\t%s\n", c.ID, state, a.Dir)
	}
	return code
}
