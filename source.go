// Package kvmtest embeds the parts of kvmtest's own source that a run needs
// at run time: the guest agent and guest test suites, which are compiled for
// the guest on the machine that runs them, with the module's go.mod and
// go.sum; and, through package matrices (which embeds them), the shipped
// matrices with their config fragments and patch series. Materialize writes
// them out as one Go module so that `kvmtest run` works from any directory,
// with no checkout.
package kvmtest

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/kvmtest/kvmtest/matrices"
)

// module is the embedded module source but for the matrices, which
// package matrices embeds (matrices.FS) and writes out (WriteBuiltin).
//
//go:embed go.mod go.sum guest
var module embed.FS

// matricesDir is where the shipped matrices go in a materialized tree, as
// in the repository: their relative paths (../guest/tests/...) resolve there.
const matricesDir = "matrices"

// part is one embedded file system and where it goes in a materialized tree.
type part struct {
	dir  string // slash-separated, "." for the top
	fsys fs.FS
}

var parts = []part{{".", module}, {matricesDir, matrices.FS}}

// file is one embedded file: its path in the materialized tree, and
// where to read it.
type file struct {
	path string // slash-separated, in the materialized tree
	fsys fs.FS
	name string // in fsys
}

// files lists every embedded file, in path order.
func files() ([]file, error) {
	var out []file
	for _, p := range parts {
		err := fs.WalkDir(p.fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, file{path: path.Join(p.dir, name), fsys: p.fsys, name: name})
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// Digest identifies the embedded tree's content: every file's path in the
// materialized tree, size and bytes, in path order.
func Digest() (string, error) {
	fl, err := files()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range fl {
		b, err := fs.ReadFile(f.fsys, f.name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f.path, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// Materialize writes the embedded tree under selfDir/DIGEST (once per
// content; the cache's SelfDir) and returns that directory: a Go module
// holding matrices/ and guest/. A tree already there is touched, so that
// cache gc keeps it. The tree is written under a temporary name in selfDir
// and renamed into place, so a reader never sees a part of one; two
// processes may race, one wins.
func Materialize(selfDir string) (string, error) {
	d, err := Digest()
	if err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	dir := filepath.Join(selfDir, d)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		now := time.Now()
		os.Chtimes(dir, now, now) // used: kept by cache gc
		return dir, nil
	}
	if err := os.MkdirAll(selfDir, 0o755); err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	tmp, err := os.MkdirTemp(selfDir, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := writeTree(tmp); err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("embedded source: %w", err)
	}
	return dir, nil
}

// writeTree writes the embedded tree into the empty directory dir and
// marks it complete.
func writeTree(dir string) error {
	if err := os.CopyFS(dir, module); err != nil {
		return err
	}
	if err := matrices.WriteBuiltin(filepath.Join(dir, matricesDir)); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

// BuiltinMatrix returns the path, inside a materialized tree dir, of the
// shipped matrix called name ("default", "quick"; see matrices.Builtin), or
// "" if there is none.
func BuiltinMatrix(dir, name string) string {
	if !matrices.IsBuiltin(name) {
		return ""
	}
	return filepath.Join(dir, matricesDir, name+".yaml")
}
