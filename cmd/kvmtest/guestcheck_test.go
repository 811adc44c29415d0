package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/engine"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// TestCheckGuest: a go-test package that does not compile is bad input
// reported at its suite's matrix line with the compiler's message; the
// agent not compiling is infrastructure; the programs go to the cache's
// guest directory, where a run finds them.
func TestCheckGuest(t *testing.T) {
	cache, err := builder.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	broken := &matrices.Suite{Name: "broken", GoTest: "/src/bad", Pos: matrices.Position{File: "m.yaml", Line: 7, Col: 5}}
	m := &matrices.Matrix{File: "m.yaml", Suites: []*matrices.Suite{broken}}
	defer func(f func(context.Context, string, string, []string, []*matrices.Suite, func(string, ...any)) error) {
		compileGuest = f
	}(compileGuest)
	for _, tc := range []struct {
		name string
		err  error
		code int
		want []string
	}{
		{"compiles", nil, results.ExitOK, nil},
		{"a suite does not compile", &engine.GuestCompileError{Suite: broken, Program: "/src/bad", Err: errors.New("./bad_test.go:3:30: undefined: undefinedThing")},
			results.ExitBadInput, []string{"m.yaml:7:5: suite broken: go-test package /src/bad does not compile", "  ./bad_test.go:3:30: undefined: undefinedThing"}},
		{"the agent does not compile", &engine.GuestCompileError{Program: "the guest agent", Err: errors.New("boom")},
			results.ExitInfra, []string{"m.yaml: building the guest agent: boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotDir string
			compileGuest = func(_ context.Context, _, cacheDir string, _ []string, suites []*matrices.Suite, _ func(string, ...any)) error {
				gotDir = cacheDir
				return tc.err
			}
			var out bytes.Buffer
			if code := checkGuest(context.Background(), &out, cache, m); code != tc.code {
				t.Errorf("exit %d, want %d (output %q)", code, tc.code, out.String())
			}
			if gotDir != cache.GuestDir() {
				t.Errorf("compiled into %q, want the cache's guest dir %q", gotDir, cache.GuestDir())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
			if tc.want == nil && out.Len() != 0 {
				t.Errorf("printed %q for programs that compile", out.String())
			}
		})
	}
}
