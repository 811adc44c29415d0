package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvmtest/kvmtest/results"
)

// jenkinsSchemas state what Jenkins reads in a JUnit report (its xUnit
// plugin's JUnit 10 model: no skipped on <testsuites>, a name and a test
// count on every <testsuite>, numbers where numbers go), as kvmtest's own
// schema (testdata/junit-jenkins.xsd).
var jenkinsSchemas = []string{"testdata/junit-jenkins.xsd"}

// validJenkins checks junit.xml against Jenkins' schemas with xmllint
// (libxml2-utils); the test skips without it.
func validJenkins(t *testing.T, what string, doc []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (Debian's libxml2-utils: scripts/install-deps.sh)")
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, xsd := range jenkinsSchemas {
		if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, path).CombinedOutput(); err != nil {
			t.Errorf("%s is not valid against %s: %v\n%s", what, filepath.Base(xsd), err, out)
		}
	}
}

// junit.xml of every kind of cell (built, crashed, timed out, not built,
// not booted, skipped, with console findings and guest text of every
// sort) is valid against the schema Jenkins' xUnit plugin reads.
func TestJUnitJenkinsSchema(t *testing.T) {
	for _, name := range []string{"vmsplice", "before"} {
		dir, run := fixture(t, name)
		validJenkins(t, name, render(t, func(b *bytes.Buffer) error { return JUnit(b, dir, run) }))
	}
	dir, run := hostileRun(t)
	validJenkins(t, "the hostile run", render(t, func(b *bytes.Buffer) error { return JUnit(b, dir, run) }))
	empty := &results.Run{Matrix: results.Matrix{Name: "none"}}
	validJenkins(t, "a run without cells", render(t, func(b *bytes.Buffer) error { return JUnit(b, t.TempDir(), empty) }))
}

// Jenkins splits a classname at its last dot into package and class:
// every test is in the package of its cell (the id, dots made
// underscores) and the class of its suite; the testsuite keeps the
// cell's id as it is, and its timestamp is the cell's start.
func TestJUnitClassnames(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	run.Cells[1].Started = time.Date(2026, 12, 1, 5, 35, 44, 0, time.UTC)
	var doc junitSuites
	if err := xml.Unmarshal(render(t, func(b *bytes.Buffer) error { return JUnit(b, dir, run) }), &doc); err != nil {
		t.Fatal(err)
	}
	started := map[string]time.Time{}
	for _, c := range run.Cells {
		started[c.ID] = c.Started
	}
	seen := map[string]bool{}
	for _, s := range doc.Suites {
		cell, suite, _ := strings.Cut(s.Name, "/")
		if _, ok := started[cell]; !ok {
			t.Errorf("testsuite %q is not named after a cell", s.Name)
			continue
		}
		if want := started[cell].UTC().Format("2006-01-02T15:04:05"); s.Timestamp != want {
			t.Errorf("testsuite %s: timestamp %s, want the cell's start %s", s.Name, s.Timestamp, want)
		}
		if len(s.Properties) == 0 || s.Properties[0] != (junitProperty{"cell", cell}) {
			t.Errorf("testsuite %s: properties %v, want the cell's id first", s.Name, s.Properties)
		}
		if suite == "" {
			suite = "cell"
		}
		for _, tc := range s.Cases {
			i := strings.LastIndexByte(tc.Classname, '.')
			pkg, class := tc.Classname[:max(i, 0)], tc.Classname[i+1:]
			if pkg != strings.ReplaceAll(cell, ".", "_") || class != strings.ReplaceAll(suite, ".", "_") {
				t.Errorf("%s %s: classname %q: Jenkins sees package %q, class %q", s.Name, tc.Name, tc.Classname, pkg, class)
			}
			seen[tc.Classname] = true
		}
	}
	for _, want := range []string{"6_12-base-minimal.vmsplice", "6_1-base-minimal.cell", "6_12-vmsplice-copy-minimal.console"} {
		if !seen[want] {
			t.Errorf("no testcase of classname %s (seen %v)", want, seen)
		}
	}
}
