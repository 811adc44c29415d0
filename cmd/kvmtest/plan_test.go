package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// planMatrix writes a matrix of one kernel tree, two patchsets and one
// config, with body added, and returns its path.
func planMatrix(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("KVMTEST_CACHE", filepath.Join(dir, "cache"))
	os.MkdirAll(filepath.Join(dir, "linux"), 0o755)
	os.WriteFile(filepath.Join(dir, "linux", "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION =\n"), 0o644)
	p := filepath.Join(dir, "m.yaml")
	os.WriteFile(p, []byte(`name: m
kernels: [{name: k, source: {path: linux}}]
patchsets: [{name: base}, {name: other}]
configs: [{name: c, base: tinyconfig}]
`+body), 0o644)
	return p
}

// planJSON runs plan --format json and returns its cells.
func planJSON(t *testing.T, p string) []map[string]any {
	t.Helper()
	code, out, errOut := outputOf(t, "plan", p, "--format", "json")
	if code != results.ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	var v struct {
		Cells []map[string]any `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return v.Cells
}

// TestPlanArch: with several architectures, plan shows each cell's (and
// the suites requires.arch leaves it), in text and in JSON; with one,
// the text is as it was, and JSON has each cell's arch all the same.
func TestPlanArch(t *testing.T) {
	p := planMatrix(t, `arch: [x86_64, arm64]
suites:
  - {name: all, command: [/bin/true]}
  - {name: x86, command: [/bin/true], requires: {arch: [x86_64]}}
exclude: [{patchset: other, arch: arm64}]
`)
	code, out, errOut := outputOf(t, "plan", p, "--format", "text")
	if code != results.ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 || !strings.HasSuffix(lines[0], ": 3 cell(s), 3 kernel build(s) of which 0 cached, suites: all, x86, arches: x86_64, arm64") {
		t.Fatalf("plan:\n%s", out)
	}
	for i, want := range []string{
		"  k-base-c-x86_64                  x86_64   to build ",
		"  k-base-c-arm64                   arm64    to build ",
		"  k-other-c-x86_64                 x86_64   to build ",
		"  k-other-c-arm64                  arm64    excluded: excluded by the rule at ",
	} {
		if !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("line %d:\n%q\nwant a line starting\n%q", i+2, lines[i+1], want)
		}
	}
	if !strings.HasSuffix(lines[2], "; suites: all") || strings.Contains(lines[1], "suites:") {
		t.Errorf("suites of the cells:\n%s\n%s", lines[1], lines[2])
	}
	if !strings.HasSuffix(lines[3], "; compared with k-base-c-x86_64") {
		t.Errorf("baseline of the x86_64 cell: %s", lines[3])
	}

	type cell struct{ id, arch, suites string }
	var got []cell
	for _, c := range planJSON(t, p) {
		var suites []string
		for _, s := range c["suites"].([]any) {
			suites = append(suites, s.(string))
		}
		got = append(got, cell{c["id"].(string), c["arch"].(string), strings.Join(suites, ",")})
	}
	want := []cell{
		{"k-base-c-x86_64", "x86_64", "all,x86"},
		{"k-base-c-arm64", "arm64", "all"},
		{"k-other-c-x86_64", "x86_64", "all,x86"},
		{"k-other-c-arm64", "arm64", "all"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("json cells %+v\nwant %+v", got, want)
	}

	// One architecture: ids and text as before; JSON names it.
	p = planMatrix(t, "suites: [{name: all, command: [/bin/true]}]\n")
	code, out, _ = outputOf(t, "plan", p, "--format", "text")
	if code != results.ExitOK || strings.Contains(out, "x86_64") || strings.Contains(out, "arches") ||
		!strings.Contains(out, "\n  k-base-c                         to build ") {
		t.Errorf("one-arch plan (exit %d):\n%s", code, out)
	}
	for _, c := range planJSON(t, p) {
		if c["arch"] != "x86_64" || strings.HasSuffix(c["id"].(string), "x86_64") {
			t.Errorf("one-arch json cell %v", c)
		}
	}
}
