package main

import (
	"flag"
	"fmt"

	"github.com/kvmtest/kvmtest/matrices"
)

var validateCmd = &Command{
	Name:      "validate",
	UsageLine: "validate MATRIX...",
	Short:     "check matrix files without building anything",
	Flags:     flag.NewFlagSet("validate", flag.ContinueOnError),
	Long: `
Validate loads each matrix strictly and prints every problem found, one
per line, as FILE:LINE:COL: message. It exits 0 when all are valid and 2
otherwise. A shipped matrix can be named instead of a file.`,
}

func init() {
	validateCmd.Run = runValidate
	register(validateCmd)
}

func runValidate(cmd *Command, args []string) int {
	if len(args) == 0 {
		return fatalf(2, "validate: name at least one matrix")
	}
	cache, err := openCache()
	if err != nil {
		return fatalf(3, "%v", err)
	}
	var files []string
	for _, a := range args {
		f, _, err := resolveMatrix(cache, a)
		if err != nil {
			return fatalf(2, "%v", err)
		}
		files = append(files, f)
	}
	ms, err := matrices.LoadFiles(files...)
	if err != nil {
		return printMatrixError(err)
	}
	for _, m := range ms {
		fmt.Printf("%s: ok: matrix %s, %d cell(s)\n", m.File, m.Name, len(m.Cells()))
	}
	return 0
}
