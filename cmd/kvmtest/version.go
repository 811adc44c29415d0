package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/results"
)

var versionCmd = &Command{
	Name:      "version",
	UsageLine: "version",
	Short:     "print kvmtest's version, Go version and VCS revision",
	Long: `
Version prints kvmtest's version (the one run.json records as its tool),
the Go version and platform it was built with, its module version when
it was installed as a module (go install ...@VERSION), and the VCS
revision it was built from, with its time and whether the tree had
changes that were not committed, from the build information the Go
toolchain stamps into the binary (runtime/debug.ReadBuildInfo). A binary
built with -buildvcs=false, or outside a git checkout, has no revision:
it says so. kvmtest --version prints the same.`,
}

func init() {
	versionCmd.Run = runVersion
	register(versionCmd)
}

func runVersion(cmd *Command, args []string) int {
	if len(args) > 0 {
		return fatalf(results.ExitBadInput, "version takes no arguments")
	}
	bi, _ := readBuildInfo()
	printVersion(os.Stdout, bi)
	return results.ExitOK
}

// readBuildInfo is debug.ReadBuildInfo; a variable for tests.
var readBuildInfo = debug.ReadBuildInfo

// printVersion prints the version lines from bi (nil: none available).
func printVersion(w io.Writer, bi *debug.BuildInfo) {
	fmt.Fprintf(w, "kvmtest version %s\n", engine.Version)
	goVersion := runtime.Version()
	if bi != nil && bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(w, "go: %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	if bi == nil {
		fmt.Fprintf(w, "revision: unknown (the binary holds no build information)\n")
		return
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		fmt.Fprintf(w, "module: %s %s\n", bi.Main.Path, v)
	}
	setting := map[string]string{}
	for _, s := range bi.Settings {
		setting[s.Key] = s.Value
	}
	rev := setting["vcs.revision"]
	if rev == "" {
		fmt.Fprintf(w, "revision: unknown (built without VCS information: -buildvcs=false, or not in a checkout)\n")
		return
	}
	fmt.Fprintf(w, "revision: %s", rev)
	if t := setting["vcs.time"]; t != "" {
		fmt.Fprintf(w, " (%s)", t)
	}
	if setting["vcs.modified"] == "true" {
		fmt.Fprintf(w, ", with uncommitted changes")
	}
	fmt.Fprintln(w)
}
