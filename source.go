// Package kvmtest embeds the parts of kvmtest's own source that a run needs
// at run time: the shipped matrices with their config fragments and patch
// series, and the guest agent and guest test suites, which are compiled for
// the guest on the machine that runs them. Materialize writes them out so
// that `kvmtest run` works from any directory, with no checkout.
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
)

//go:embed go.mod go.sum guest matrices/*.yaml matrices/configs matrices/patches
var tree embed.FS

// Tree returns the embedded source tree.
func Tree() fs.FS { return tree }

// Digest identifies the embedded tree's content.
func Digest() (string, error) {
	h := sha256.New()
	var files []string
	err := fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := tree.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// Materialize writes the embedded tree under cacheDir/self/DIGEST (once per
// content) and returns that directory: a Go module holding matrices/ and
// guest/.
func Materialize(cacheDir string) (string, error) {
	d, err := Digest()
	if err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	dir := filepath.Join(cacheDir, "self", d)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		now := time.Now()
		os.Chtimes(dir, now, now) // used: kept by cache gc
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(cacheDir), "self-tmp-")
	if err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	defer os.RemoveAll(tmp)
	err = fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if de.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := tree.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("embedded source: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("embedded source: %w", err)
	}
	return dir, nil
}

// BuiltinMatrix returns the path, inside a materialized tree, of the shipped
// matrix called name ("default", "vmsplice"), or "" if there is none.
func BuiltinMatrix(dir, name string) string {
	p := filepath.Join(dir, "matrices", name+".yaml")
	if _, err := fs.Stat(tree, path.Join("matrices", name+".yaml")); err != nil {
		return ""
	}
	return p
}
