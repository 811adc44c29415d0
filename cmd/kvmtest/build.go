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
	UsageLine: "build [MATRIX|NAME] [--cell GLOB] [--progress auto|plain|tty]",
	Short:     "build the kernels of a matrix and print where each artifact is",
	Flags:     flag.NewFlagSet("build", flag.ContinueOnError),
	Long: `
Build builds (or finds in the cache) the kernel of every selected cell and
prints, per cell, the artifact directory holding bzImage, config and
build.log. Nothing is booted. Exit status 3 when a build fails.

Progress goes to stderr, live on a terminal as kvmtest run's (see
kvmtest help run for --progress); the artifacts to stdout.`,
}

var (
	buildCell     = buildCmd.Flags.String("cell", "", "build only cells whose id matches this glob")
	buildProgress = progressFlag(buildCmd.Flags)
)

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
	p := newProgress(os.Stderr, false, *buildProgress)
	stopLive := p.live(len(cells))
	defer stopLive()
	printf := func(format string, a ...any) { p.Println(os.Stdout, fmt.Sprintf(format, a...)) }
	b := &builder.Builder{Cache: cache, Logf: p.Logf}
	code = results.ExitOK
	for _, c := range cells {
		if c.Skip != "" {
			printf("%s\tskipped: %s", c.ID, c.Skip)
			p.Done(c.ID)
			continue
		}
		req, err := engine.BuildRequest(c)
		if err != nil {
			printf("%s\tbuild-failed: %v", c.ID, err)
			p.Done(c.ID)
			code = results.ExitInfra
			continue
		}
		p.Phase(c.ID, "build")
		a, err := b.Build(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return results.ExitInterrupted
			}
			printf("%s\tbuild-failed: %v", c.ID, err)
			p.Done(c.ID)
			code = results.ExitInfra
			continue
		}
		state := "built"
		if a.Cached {
			state = "cached"
		}
		printf("%s\t%s\t%s", c.ID, state, a.Dir)
		p.Done(c.ID)
	}
	return code
}
