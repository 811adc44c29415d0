package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/matrices"
)

// tinyModule writes a module with one main package and returns its directory.
func tinyModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	return dir
}

// TestGoCacheRebuildsDamaged: a cached program whose bytes do not match
// the digest recorded beside it (truncated), or that has no digest, is
// rebuilt with a log line, not reused.
func TestGoCacheRebuildsDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a program")
	}
	src := tinyModule(t)
	for _, tc := range []struct {
		name   string
		damage func(path string)
		want   string
	}{
		{"truncated", func(p string) { os.Truncate(p, 100) }, "recorded"},
		{"no digest", func(p string) { os.Remove(p + digestSuffix) }, "no recorded digest"},
		{"digest garbled", func(p string) { os.WriteFile(p+digestSuffix, []byte("0000\n"), 0o644) }, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged []string
			c := &goCache{dir: t.TempDir(), logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
			build := func() string {
				p, err := c.build(context.Background(), src, filepath.Join(t.TempDir(), "x"), "build", "-o", "OUT", ".")
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			p := build()
			good, err := fileSHA256(p)
			if err != nil {
				t.Fatal(err)
			}
			if rec, _ := os.ReadFile(p + digestSuffix); strings.TrimSpace(string(rec)) != good {
				t.Fatalf("recorded digest %q, program's %s", rec, good)
			}
			if len(logged) != 0 {
				t.Fatalf("a fresh build logged %q", logged)
			}
			tc.damage(p)
			if ok, _ := c.intact(p); ok {
				t.Fatal("a damaged entry is taken for intact")
			}
			if p2 := build(); p2 != p {
				t.Fatalf("rebuilt at %s, want %s", p2, p)
			}
			if got, _ := fileSHA256(p); got != good {
				t.Errorf("after the rebuild the program's sha256 is %s, want %s", got, good)
			}
			if ok, why := c.intact(p); !ok {
				t.Errorf("the rebuilt entry is not intact: %s", why)
			}
			if len(logged) != 1 || !strings.Contains(logged[0], tc.want) || !strings.Contains(logged[0], "rebuilding") {
				t.Errorf("logged %q, want one line saying %q and rebuilding", logged, tc.want)
			}
		})
	}
}

// TestCompileGuestNamesTheSuite: a go-test package that does not compile
// is a *GuestCompileError naming the suite and carrying the compiler's
// message; a good one is left in the cache, where a run reuses it.
func TestCompileGuestNamesTheSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles programs")
	}
	src := tinyModule(t)
	os.MkdirAll(filepath.Join(src, "guest", "agent"), 0o755)
	os.WriteFile(filepath.Join(src, "guest", "agent", "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	bad := filepath.Join(src, "bad")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "bad_test.go"), []byte("package bad\nimport \"testing\"\nfunc TestX(t *testing.T) { undefinedThing() }\n"), 0o644)
	good := filepath.Join(src, "good")
	os.MkdirAll(good, 0o755)
	os.WriteFile(filepath.Join(good, "good_test.go"), []byte("package good\nimport \"testing\"\nfunc TestX(t *testing.T) {}\n"), 0o644)
	cache := t.TempDir()
	ok := &matrices.Suite{Name: "fine", GoTest: good}
	if err := CompileGuest(context.Background(), src, cache, nil, []*matrices.Suite{ok}, nil); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cache)
	if len(ents) != 6 { // agent, test2json, the suite, each with its digest
		t.Errorf("the cache holds %d files after CompileGuest, want 6", len(ents))
	}
	s := &matrices.Suite{Name: "broken", GoTest: bad, Pos: matrices.Position{File: "m.yaml", Line: 7, Col: 5}}
	err := CompileGuest(context.Background(), src, cache, nil, []*matrices.Suite{ok, s}, nil)
	var ge *GuestCompileError
	if !errors.As(err, &ge) || ge.Suite != s {
		t.Fatalf("CompileGuest = %v, want a *GuestCompileError for suite broken", err)
	}
	if !strings.Contains(err.Error(), "undefinedThing") || !strings.Contains(err.Error(), "suite broken") {
		t.Errorf("the error does not carry the suite and the compiler's message: %v", err)
	}
}

// TestStartGuestRunsAtOnce: the guest programs compile as soon as
// startGuest is called (while the kernel builds), not when first needed.
func TestStartGuestRunsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles programs")
	}
	src := tinyModule(t)
	os.MkdirAll(filepath.Join(src, "guest", "agent"), 0o755)
	os.WriteFile(filepath.Join(src, "guest", "agent", "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	logged := make(chan string, 4)
	wait := startGuest(context.Background(), src, t.TempDir(), t.TempDir(), "x86_64", nil, func(f string, a ...any) { logged <- fmt.Sprintf(f, a...) })
	// Not called yet: it must be compiling already.
	select {
	case l := <-logged:
		if !strings.Contains(l, "compiling") {
			t.Fatalf("first log line %q", l)
		}
	case <-time.After(time.Minute):
		t.Fatal("nothing compiles before the programs are asked for")
	}
	g, err := wait()
	if err != nil || g.Agent == "" || g.Test2JSON == "" {
		t.Fatalf("wait() = %+v, %v", g, err)
	}
	if g2, _ := wait(); g2 != g {
		t.Error("a second wait gives another set")
	}
}
