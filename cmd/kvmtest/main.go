// Command kvmtest builds Linux kernels from a declarative matrix (kernels ×
// patch series × configs), boots each under QEMU, runs guest test suites
// and reports what changed between the baseline and each patch series.
//
// Usage:
//
//	kvmtest <command> [arguments]
//
// The commands are:
//
//	bisect     find the commit or the patch of a series that changed a result
//	boot       boot one kernel and run one program in it
//	build      build the kernels of a matrix and print where each artifact is
//	cache      list, trim or locate the kernel cache
//	compare    compare two runs cell by cell
//	doctor     check that this machine can build and boot kernels
//	merge      join the results of shards into one run
//	plan       show the cells a run would build and boot, without doing it
//	report     print the report of a run, and rewrite its report files
//	run        build, boot and test every cell of a matrix
//	triage     classify crashes in saved console logs
//	validate   check matrix files without building anything
//
// Run `kvmtest help COMMAND` for a command's usage, flags and exit status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
)

// Command is one subcommand: its usage, help and run function, in the
// manner of cmd/go.
type Command struct {
	Name      string
	UsageLine string
	Short     string
	Long      string
	Flags     *flag.FlagSet
	// Run executes the command and returns the process exit code.
	Run func(cmd *Command, args []string) int
}

var commands = map[string]*Command{}

func register(c *Command) {
	if c.Flags == nil {
		c.Flags = flag.NewFlagSet(c.Name, flag.ContinueOnError)
	}
	c.Flags.Usage = func() { usageOf(c, os.Stderr) }
	commands[c.Name] = c
}

func usageOf(c *Command, w io.Writer) {
	fmt.Fprintf(w, "usage: kvmtest %s\n\n%s\n", c.UsageLine, strings.TrimSpace(c.Long))
	var hasFlags bool
	c.Flags.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		c.Flags.SetOutput(w)
		c.Flags.PrintDefaults()
	}
}

func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "kvmtest builds kernels, boots them under QEMU and tests them.\n\nUsage:\n\n\tkvmtest <command> [arguments]\n\nCommands:\n\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "\t%-10s %s\n", n, commands[n].Short)
	}
	fmt.Fprintf(w, "\nUse \"kvmtest help <command>\" for more about a command.\n")
}

func main() {
	os.Exit(mainExit(os.Args[1:]))
}

func mainExit(args []string) int {
	if len(args) == 0 {
		mainUsage(os.Stderr)
		return results.ExitBadInput
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				usageOf(c, os.Stdout)
				return results.ExitOK
			}
		}
		mainUsage(os.Stdout)
		return results.ExitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kvmtest: unknown command %q\n", name)
		mainUsage(os.Stderr)
		return results.ExitBadInput
	}
	if err := c.Flags.Parse(interspersed(c.Flags, args[1:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return results.ExitOK
		}
		return results.ExitBadInput
	}
	return c.Run(c, c.Flags.Args())
}

// interspersed moves flags after positional arguments to the front, so
// that `kvmtest run vmsplice --jobs 2` works as people type it. Arguments
// after "--" are left alone.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) > 0 {
		return append(append(flags, "--"), pos...)
	}
	return flags
}

// fatalf prints an error and returns code, one of the results.Exit…
// constants, for use in Run functions. The message goes through
// guesttext.Clean: an error may quote what a guest wrote.
func fatalf(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "kvmtest: %s\n", guesttext.Clean(fmt.Sprintf(format, args...)))
	return code
}
