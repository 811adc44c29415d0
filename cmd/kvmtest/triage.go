package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

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
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(all)
		return code
	}
	for _, r := range all {
		if len(r.Findings) == 0 {
			fmt.Printf("%s: clean\n", r.File)
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
			fmt.Printf("%s:%d: %s (%s%s)\n", r.File, f.Line, f.Title, f.Class, fatal)
			fmt.Printf("%s\n\n", indent(f.Excerpt, "    "))
		}
	}
	return code
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
