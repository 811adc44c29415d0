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
//	version    print kvmtest's version, Go version and VCS revision
//	completion print a shell completion script (bash, zsh or fish)
//
// Run `kvmtest help COMMAND` for a command's usage, flags and exit status.
// `kvmtest --version` is `kvmtest version`.
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
	// Hidden commands (the completion scripts' __complete) are left out
	// of the command list and of completion.
	Hidden bool
}

var commands = map[string]*Command{}

func register(c *Command) {
	if c.Flags == nil {
		c.Flags = flag.NewFlagSet(c.Name, flag.ContinueOnError)
	}
	// mainExit prints the usage: the whole help on stdout when it is
	// asked for (-h, --help), a pointer to it on stderr after a flag
	// error (which the flag package prints).
	c.Flags.Usage = func() {}
	commands[c.Name] = c
}

// usageOf prints c's whole help: usage line, description and flags.
func usageOf(c *Command, w io.Writer) {
	fmt.Fprintf(w, "usage: kvmtest %s\n\n%s\n", c.UsageLine, strings.TrimSpace(c.Long))
	var hasFlags bool
	c.Flags.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		c.Flags.SetOutput(w)
		c.Flags.PrintDefaults()
		c.Flags.SetOutput(nil) // flag errors go to os.Stderr
	}
}

func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "kvmtest builds kernels, boots them under QEMU and tests them.\n\nUsage:\n\n\tkvmtest <command> [arguments]\n\nCommands:\n\n")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.Hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "\t%-10s %s\n", n, commands[n].Short)
	}
	fmt.Fprintf(w, "\nUse \"kvmtest help <command>\" for more about a command, \"kvmtest --version\" for the version.\n")
}

func main() {
	os.Exit(mainExit(os.Args[1:]))
}

// mainExit runs the command line args (without the program name) and
// returns the exit status. Help that is asked for (kvmtest help [COMMAND],
// -h, --help, COMMAND -h) goes to stdout with status 0, as go's; usage
// after a mistake goes to stderr with status 2.
func mainExit(args []string) int {
	if len(args) == 0 {
		mainUsage(os.Stderr)
		return results.ExitBadInput
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		return helpExit(args[1:])
	case "--version", "-version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kvmtest %s: unknown command\nRun 'kvmtest help' for usage.\n", guesttext.Line(name))
		return results.ExitBadInput
	}
	if c == completeCmd {
		return c.Run(c, args[1:]) // the words of a command line, flags among them
	}
	if err := c.Flags.Parse(interspersed(c.Flags, args[1:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usageOf(c, os.Stdout)
			return results.ExitOK
		}
		fmt.Fprintf(os.Stderr, "usage: kvmtest %s\nRun 'kvmtest help %s' for details.\n", c.UsageLine, c.Name)
		return results.ExitBadInput
	}
	return c.Run(c, c.Flags.Args())
}

// helpExit is `kvmtest help [TOPIC]`: the command list, or a command's
// help, on stdout; an unknown topic is an error (status 2), as `go help
// nosuch` is.
func helpExit(args []string) int {
	switch {
	case len(args) == 0:
		mainUsage(os.Stdout)
		return results.ExitOK
	case len(args) > 1:
		fmt.Fprintf(os.Stderr, "usage: kvmtest help COMMAND\n\nToo many arguments given.\n")
		return results.ExitBadInput
	}
	c, ok := commands[args[0]]
	if !ok || c.Hidden {
		fmt.Fprintf(os.Stderr, "kvmtest help %s: unknown help topic. Run 'kvmtest help'.\n", guesttext.Line(args[0]))
		return results.ExitBadInput
	}
	usageOf(c, os.Stdout)
	return results.ExitOK
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
