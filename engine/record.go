package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kvmtest/kvmtest/internal/atomicfile"
	"github.com/kvmtest/kvmtest/results"
)

// RecordError is a result that could not be written whole: the file at
// Path (a cell's console.log, events.jsonl..., run.json, bisect.json) is
// missing or incomplete. It is an infrastructure failure.
type RecordError struct {
	Path string
	Err  error
}

func (e *RecordError) Error() string {
	err := e.Err
	// The path (or that of its temporary file) is said once.
	ours := func(p string) bool {
		return p == e.Path || strings.HasPrefix(filepath.Base(p), "."+filepath.Base(e.Path))
	}
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe) && ours(pe.Path):
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	case errors.As(err, &le) && ours(le.Old):
		err = fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return fmt.Sprintf("%s: %v (not written whole)", e.Path, err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// recordFile is a file of a result being written. It remembers the first
// write error and drops what follows, while telling the writer all was
// written: whoever copies into it (the builder, the VM's console reader)
// may ignore errors, and is not cut short by one; Close reports the
// remembered error, or that of syncing and closing the file.
type recordFile struct {
	mu   sync.Mutex
	w    io.WriteCloser
	path string
	err  error
}

// newRecordFile returns w, the file at path, as a recordFile.
func newRecordFile(path string, w io.WriteCloser) *recordFile {
	return &recordFile{w: w, path: path}
}

// Write writes p unless an earlier write failed; it always reports
// len(p) written and no error.
func (f *recordFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		if _, err := f.w.Write(p); err != nil {
			f.err = err
		}
	}
	return len(p), nil
}

// Close syncs (a regular file) and closes the file, and returns a
// *RecordError when any write, the sync or the close failed.
func (f *recordFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if osf, ok := f.w.(*os.File); ok && f.err == nil {
		if fi, err := osf.Stat(); err == nil && fi.Mode().IsRegular() {
			f.err = osf.Sync()
		}
	}
	if err := f.w.Close(); f.err == nil {
		f.err = err
	}
	if f.err != nil {
		return &RecordError{Path: f.path, Err: f.err}
	}
	return nil
}

// createRecord opens the cell's file name for writing (flag: os.O_TRUNC
// or os.O_APPEND). A failure is recorded as a lost part of the record
// and returned.
func (r *cellRun) createRecord(name string, flag int) (*recordFile, error) {
	path := filepath.Join(r.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		r.lose(path, err)
		return nil, err
	}
	return newRecordFile(path, f), nil
}

// closeFile closes a file of the cell's record; a failure (of any write
// to it) is recorded as a lost part of the record.
func (r *cellRun) closeFile(f *recordFile) {
	if err := f.Close(); err != nil {
		r.addLost(err.(*RecordError))
	}
}

// writeRecord writes the cell's file name whole, or records it as lost.
func (r *cellRun) writeRecord(name string, data []byte) {
	f, err := r.createRecord(name, os.O_TRUNC)
	if err != nil {
		return
	}
	f.Write(data)
	r.closeFile(f)
}

// lose records that the file at path could not be written.
func (r *cellRun) lose(path string, err error) {
	r.addLost(&RecordError{Path: path, Err: err})
}

// addLost adds e to the lost parts of the cell's record.
func (r *cellRun) addLost(e *RecordError) {
	r.lostMu.Lock()
	defer r.lostMu.Unlock()
	r.lost = append(r.lost, e)
}

// closeRecord, once the cell ended, makes a cell whose record lost a
// file an infrastructure failure: boot-failed, the files listed in
// Incomplete (relative to the run's directory), the reason naming them
// and saying what the cell had been. It may be called again after more
// files were lost (the test2json stream, written after it): the record
// then lists them all, and still says what the cell had been before the
// first loss.
func (r *cellRun) closeRecord() {
	r.lostMu.Lock()
	lost := r.lost
	r.lostMu.Unlock()
	if len(lost) == 0 {
		return
	}
	c := r.c
	if r.had == "" {
		r.had = c.Status
		if c.Reason != "" {
			r.had += ": " + firstLine(c.Reason)
		}
	}
	c.Incomplete = nil
	var why []string
	for _, l := range lost {
		rel, err := filepath.Rel(r.o.Out, l.Path)
		if err != nil {
			rel = l.Path
		}
		c.Incomplete = append(c.Incomplete, rel)
		why = append(why, l.Error())
	}
	r.fail(results.StatusBootFailed, fmt.Sprintf("the cell's record is incomplete: %s; the cell had %s", strings.Join(why, "; "), r.had))
}

// writeTest2JSON writes the cell's test2json stream
// (cells/ID/test2json.jsonl, results.Test2JSON) atomically, from its
// final record; a failure is a lost part of the record (closeRecord
// again).
func (r *cellRun) writeTest2JSON() {
	if r.dir == "" {
		return // the cell has no directory: nothing of it was written
	}
	path := filepath.Join(r.dir, results.Test2JSONFile)
	if err := atomicfile.WriteFile(path, results.Test2JSON(r.c), 0o644); err != nil {
		// atomicfile names the path; the record says it once.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		r.lose(path, err)
		r.closeRecord()
	}
}

// OutInUseError says that a results directory already holds a run: a
// new run there would overwrite it, or mix with its cells.
type OutInUseError struct {
	Dir string
	// Unfinished says why the run there did not finish (cells
	// interrupted, skipped by a stop, or with an incomplete record), so
	// that it can be continued (Options.Previous, run --resume); "" for
	// a finished run.
	Unfinished string
	// Err is why its run.json could not be read, when it has none.
	Err error
}

func (e *OutInUseError) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("%s already holds the cells of a run, without a readable run.json (%v): choose a new directory", e.Dir, e.Err)
	case e.Unfinished != "":
		return fmt.Sprintf("%s already holds a run that did not finish (%s): continue it with --resume %s, or choose a new directory", e.Dir, e.Unfinished, e.Dir)
	}
	return fmt.Sprintf("%s already holds a run: choose a new directory", e.Dir)
}

// CheckOut returns an *OutInUseError when dir holds a run (a run.json,
// or a non-empty cells/), nil when it is absent, empty or holds
// anything else.
func CheckOut(dir string) error {
	_, err := os.Lstat(filepath.Join(dir, "run.json"))
	if errors.Is(err, fs.ErrNotExist) && !nonEmptyDir(filepath.Join(dir, "cells")) {
		return nil
	}
	e := &OutInUseError{Dir: dir}
	run, err := results.Read(dir)
	if err != nil {
		e.Err = err
		return e
	}
	e.Unfinished = unfinished(run)
	return e
}

// unfinished says which of run's cells a --resume would run again, ""
// for none.
func unfinished(run *results.Run) string {
	var interrupted, stopped, incomplete int
	for _, c := range run.Cells {
		switch {
		case len(c.Incomplete) > 0:
			incomplete++
		case c.Status == results.StatusInterrupted:
			interrupted++
		case stoppedEarly(c):
			stopped++
		}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{interrupted, "interrupted"}, {stopped, "skipped by --keep-going=false"}, {incomplete, "with an incomplete record"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d cell(s) %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

// nonEmptyDir says whether dir is a directory with an entry.
func nonEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}
