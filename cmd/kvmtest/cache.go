package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/kvmtest/kvmtest/results"
)

var cacheCmd = &Command{
	Name:      "cache",
	UsageLine: "cache ls|gc|path [--keep N] [--older-than DURATION]",
	Short:     "list, trim or locate the kernel cache",
	Flags:     flag.NewFlagSet("cache", flag.ContinueOnError),
	Long: `
The cache holds extracted kernel sources, build directories and built
kernels, under $KVMTEST_CACHE or ~/.cache/kvmtest.

  cache path   print the cache directory
  cache ls     list the built kernels, newest first
  cache gc     remove kernels beyond the newest --keep N, or older than
               --older-than (e.g. 720h); and the extracted sources, git
               worktrees, build directories, guest programs and selftest
               builds unused for a week (or --older-than, when shorter);
               and the scratch directories of kvmtest processes that are
               gone (a killed boot's), which every command also removes.
               Removing the whole directory is always safe: the next run
               rebuilds what it needs.`,
}

var (
	cacheKeep  = cacheCmd.Flags.Int("keep", 10, "gc: keep this many newest kernels")
	cacheOlder = cacheCmd.Flags.Duration("older-than", 0, "gc: also remove kernels older than this")
)

func init() {
	cacheCmd.Run = runCache
	register(cacheCmd)
}

func runCache(cmd *Command, args []string) int {
	if len(args) != 1 {
		return fatalf(results.ExitBadInput, "cache: want one of ls, gc, path")
	}
	c, err := openCache()
	if err != nil {
		return fatalf(results.ExitInfra, "%v", err)
	}
	switch args[0] {
	case "path":
		fmt.Println(c.Root)
	case "ls":
		list, err := c.List()
		if err != nil {
			return fatalf(results.ExitInfra, "%v", err)
		}
		for _, a := range list {
			state := "ok"
			if a.Error != "" {
				state = "DAMAGED: " + a.Error
			}
			fmt.Printf("%s  %-8s %-20s %6.1f MiB  built %s in %.0fs  %s\n", a.Key, a.Kernel, a.Version,
				float64(a.Size)/(1<<20), a.BuiltAt.Local().Format(time.DateTime), a.BuildSecs, state)
		}
	case "gc":
		removed, err := c.GC(*cacheKeep, *cacheOlder)
		for _, k := range removed {
			fmt.Println("removed", k)
		}
		if err != nil {
			return fatalf(results.ExitInfra, "%v", err)
		}
	default:
		return fatalf(results.ExitBadInput, "cache: unknown action %q (want ls, gc or path)", args[0])
	}
	return results.ExitOK
}
