package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/triage"
)

var triageCmd = &Command{
	Name:      "triage",
	UsageLine: "triage [--format text|json] FILE...",
	Short:     "classify crashes in saved console logs",
	Flags:     flag.NewFlagSet("triage", flag.ContinueOnError),
	Long: `
Triage runs the console classifier kvmtest uses while a VM runs over saved
console logs (ours, a CI artifact, a bug report) and prints, per file, each
finding's class, headline and excerpt, or "clean". "-" reads standard input.
A console log is the guest's text: what triage prints of it goes through
the rule of docs/results.md ("Guest text is sanitised"): no escape
sequence or control character reaches the terminal. --format json keeps
the text whole (JSON-escaped, C1 and bidi controls as \u escapes too).
Exit status 0 when every file is clean, 1 when something was found.`,
}

var triageFormat = triageCmd.Flags.String("format", "text", "output format: text or json")

func init() {
	triageCmd.Run = runTriage
	register(triageCmd)
}

type triageResult struct {
	File     string           `json:"file"`
	Findings []triage.Finding `json:"findings"`
}

func runTriage(cmd *Command, args []string) int {
	if len(args) == 0 {
		return fatalf(results.ExitBadInput, "triage: name at least one console log")
	}
	if *triageFormat != "text" && *triageFormat != "json" {
		return fatalf(results.ExitBadInput, "triage: --format %q: want text or json", *triageFormat)
	}
	var all []triageResult
	code := results.ExitOK
	for _, f := range args {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return fatalf(results.ExitBadInput, "triage: %v", err)
		}
		r := triageResult{File: f, Findings: triage.Scan(data)}
		if r.Findings == nil {
			r.Findings = []triage.Finding{}
		}
		if len(r.Findings) > 0 {
			code = results.ExitFailed
		}
		all = append(all, r)
	}
	if *triageFormat == "json" {
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return fatalf(results.ExitInfra, "triage: encoding the findings: %v", err)
		}
		if _, err := os.Stdout.Write(append(guesttext.EscapeJSON(b), '\n')); err != nil {
			return fatalf(results.ExitInfra, "triage: %v", err)
		}
		return code
	}
	printTriage(os.Stdout, all)
	return code
}

// printTriage prints findings as text: each finding's file, line,
// headline and class on one line (guesttext.Line), its excerpt indented
// below (guesttext.Clean).
func printTriage(w io.Writer, all []triageResult) {
	l := guesttext.Line
	for _, r := range all {
		if len(r.Findings) == 0 {
			fmt.Fprintf(w, "%s: clean\n", l(r.File))
			continue
		}
		for _, f := range r.Findings {
			fatal := ""
			if f.Fatal {
				fatal = ", fatal"
			}
			if f.Panicked {
				fatal += ", panicked"
			}
			fmt.Fprintf(w, "%s:%d: %s (%s%s)\n", l(r.File), f.Line, l(f.Title), l(string(f.Class)), fatal)
			fmt.Fprintf(w, "%s\n\n", indent(guesttext.Clean(f.Excerpt), "    "))
		}
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
