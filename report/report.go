package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kvmtest/kvmtest/internal/atomicfile"
	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// Files written into a run directory.
const (
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	JUnitFile    = "junit.xml"
	// Test2JSONFile is the run's test2json stream: the cells' streams
	// (cells/ID/test2json.jsonl) in matrix order (results.Test2JSON).
	Test2JSONFile = results.Test2JSONFile
)

// WriteAll writes DIR/report.md, DIR/report.html, DIR/junit.xml and
// DIR/test2json.jsonl for the run stored in dir, and when GITHUB_ACTIONS is "true" appends the report
// to $GITHUB_STEP_SUMMARY and prints ::error annotations to standard
// output. m may be nil: each cell's recorded Baseline then says what it is
// compared with.
func WriteAll(dir string, run *results.Run, m *matrices.Matrix) error {
	r := Build(dir, run, m)
	err := WriteFiles(dir, r, run)
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		err = errors.Join(err, r.GitHub(os.Stdout, os.Getenv("GITHUB_STEP_SUMMARY")))
	}
	return err
}

// WriteFiles writes the report files of r (built from run) into dir,
// each atomically.
func WriteFiles(dir string, r *Report, run *results.Run) error {
	var errs []error
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{MarkdownFile, r.Markdown},
		{HTMLFile, r.HTML},
		{JUnitFile, func(w io.Writer) error { return JUnit(w, dir, run) }},
		{Test2JSONFile, func(w io.Writer) error { return results.WriteTest2JSON(w, run.Cells) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			continue
		}
		if err := writeAtomic(filepath.Join(dir, f.name), b.Bytes()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// JSON writes the report as indented JSON (schema Schema), with the
// characters that could drive a terminal escaped (guesttext.EscapeJSON).
func (r *Report) JSON(w io.Writer) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	_, err := w.Write(guesttext.EscapeJSON(b.Bytes()))
	return err
}

// writeAtomic writes a report file with atomicfile.WriteFile: a reader
// sees the old report or the new one, never a part.
func writeAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}
