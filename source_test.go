package kvmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/matrices"
)

// repoFiles lists, from the checkout, the files the embedded tree must
// hold: go.mod, go.sum, guest/ and the shipped matrices with their configs
// and patches (names starting with . or _ are not embedded).
func repoFiles(t *testing.T) []string {
	t.Helper()
	out := []string{"go.mod", "go.sum"}
	globs, err := filepath.Glob("matrices/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, globs...)
	for _, root := range []string{"guest", "matrices/configs", "matrices/patches"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				out = append(out, filepath.ToSlash(p))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

// TestDigestCoversTheRepository recomputes the digest from the checkout's
// files: the embeds hold exactly those files, at the paths they have in
// the repository.
func TestDigestCoversTheRepository(t *testing.T) {
	h := sha256.New()
	for _, p := range repoFiles(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
	}
	want := hex.EncodeToString(h.Sum(nil))[:24]
	got, err := Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Digest() = %s, the checkout's files give %s", got, want)
	}
}

func TestMaterialize(t *testing.T) {
	self := filepath.Join(t.TempDir(), "self") // not there yet
	dir, err := Materialize(self)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := Digest()
	if dir != filepath.Join(self, d) {
		t.Errorf("materialized into %s, want %s", dir, filepath.Join(self, d))
	}
	for _, p := range repoFiles(t) {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: materialized copy differs from the checkout's (%v)", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		t.Errorf("no .complete marker: %v", err)
	}
	if ents, _ := os.ReadDir(self); len(ents) != 1 {
		t.Errorf("%s holds %d entries, want the tree alone (a temporary left?)", self, len(ents))
	}

	// A second call finds the tree and touches it, for cache gc.
	long := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(dir, long, long)
	again, err := Materialize(self)
	if err != nil || again != dir {
		t.Fatalf("second Materialize = %s, %v; want %s", again, err, dir)
	}
	if fi, err := os.Stat(dir); err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Errorf("a reused tree was not touched (%v)", err)
	}
}

// TestMaterializeRace runs Materialize in several goroutines at once: all
// get the same complete tree.
func TestMaterializeRace(t *testing.T) {
	self := t.TempDir()
	var wg sync.WaitGroup
	dirs := make([]string, 4)
	errs := make([]error, 4)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = Materialize(self)
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("Materialize %d = %s, %v; want %s", i, dirs[i], errs[i], dirs[0])
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "guest", "agent", "main.go")); err != nil {
		t.Error(err)
	}
}

func TestBuiltinMatrix(t *testing.T) {
	dir, err := Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want bool // a path is returned
	}{
		{"default", true},
		{"quick", true},
		{"vmsplice", false}, // an alias: matrices.Canonical names its file
		{"nope", false},
		{"../go", false},
	}
	for _, tt := range tests {
		p := BuiltinMatrix(dir, tt.name)
		if (p != "") != tt.want {
			t.Errorf("BuiltinMatrix(%q) = %q, want a path: %v", tt.name, p, tt.want)
			continue
		}
		if p == "" {
			continue
		}
		want, err := fs.ReadFile(matrices.FS, tt.name+".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: not the shipped matrix %s (%v)", p, tt.name, err)
		}
	}
}
