package matrices

import (
	"reflect"
	"strings"
	"testing"
)

func testMatrix() *Matrix {
	k612 := &Kernel{Name: "6.12", Version: "6.12.57"}
	k61 := &Kernel{Name: "6.1", Version: "6.1.192-1~deb12u1"}
	base := &Patchset{Name: "base"}
	fix := &Patchset{Name: "vmsplice-copy", AppliesTo: ">= 6.12"}
	minimal := &Config{Name: "minimal", Base: "tinyconfig"}
	debug := &Config{Name: "debug", Base: "defconfig"}
	return &Matrix{
		Kernels:   []*Kernel{k612, k61},
		Patchsets: []*Patchset{base, fix},
		Configs:   []*Config{minimal, debug},
		Suites:    []*Suite{{Name: "vmsplice"}, {Name: "splice"}},
		Baseline:  Baseline{Patchset: "base"},
	}
}

func ids(cells []Cell) []string {
	var out []string
	for _, c := range cells {
		s := c.ID
		if c.Skip != "" {
			s += " (skip)"
		}
		out = append(out, s)
	}
	return out
}

func TestCellsOrderAndSkip(t *testing.T) {
	m := testMatrix()
	want := []string{
		"6.12-base-minimal", "6.12-base-debug",
		"6.12-vmsplice-copy-minimal", "6.12-vmsplice-copy-debug",
		"6.1-base-minimal", "6.1-base-debug",
		"6.1-vmsplice-copy-minimal (skip)", "6.1-vmsplice-copy-debug (skip)",
	}
	if got := ids(m.Cells()); !reflect.DeepEqual(got, want) {
		t.Errorf("cells:\n%q\nwant\n%q", got, want)
	}
	c := m.Cells()[6]
	if c.Skip != "patchset vmsplice-copy applies to >= 6.12; kernel 6.1 is 6.1.192-1~deb12u1" {
		t.Errorf("skip reason %q", c.Skip)
	}
	if c.Kernel.Name != "6.1" || c.Patchset.Name != "vmsplice-copy" || c.Config.Name != "minimal" {
		t.Errorf("cell parts %+v", c)
	}
}

func TestCellsRules(t *testing.T) {
	m := testMatrix()
	m.Exclude = []Rule{{Kernel: "6.1", Patchset: "vmsplice-copy", Reason: "not for 6.1"}, {Config: "deb*"}}
	if got, want := ids(m.Cells()), []string{"6.12-base-minimal", "6.12-vmsplice-copy-minimal", "6.1-base-minimal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("exclude: %q, want %q", got, want)
	}
	var reasons []string
	for _, c := range m.AllCells() {
		if c.Excluded != "" {
			reasons = append(reasons, c.ID+": "+c.Excluded)
		}
	}
	want := []string{
		"6.12-base-debug: excluded by rule {config=deb*}",
		"6.12-vmsplice-copy-debug: excluded by rule {config=deb*}",
		"6.1-base-debug: excluded by rule {config=deb*}",
		"6.1-vmsplice-copy-minimal: excluded by rule {kernel=6.1 patchset=vmsplice-copy}: not for 6.1",
		"6.1-vmsplice-copy-debug: excluded by rule {kernel=6.1 patchset=vmsplice-copy}: not for 6.1",
	}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("reasons:\n%s\nwant\n%s", strings.Join(reasons, "\n"), strings.Join(want, "\n"))
	}

	m = testMatrix()
	m.Include = []Rule{{Kernel: "6.12"}, {Patchset: "base", Config: "minimal"}}
	if got, want := ids(m.Cells()), []string{"6.12-base-minimal", "6.12-base-debug", "6.12-vmsplice-copy-minimal", "6.12-vmsplice-copy-debug", "6.1-base-minimal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("include: %q, want %q", got, want)
	}
	m.Exclude = []Rule{{Kernel: "6.12", Config: "debug"}}
	if got, want := ids(m.Cells()), []string{"6.12-base-minimal", "6.12-vmsplice-copy-minimal", "6.1-base-minimal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("include+exclude: %q, want %q", got, want)
	}
	if c, ok := m.Cell("6.1-base-minimal"); !ok || c.Kernel.Name != "6.1" {
		t.Errorf("Cell: %+v %v", c, ok)
	}
	if _, ok := m.Cell("6.1-base-debug"); ok {
		t.Error("Cell returned an excluded cell")
	}
}

func TestBaselineOf(t *testing.T) {
	m := testMatrix()
	c, _ := m.Cell("6.12-vmsplice-copy-debug")
	if b, ok := m.BaselineOf(c); !ok || b.ID != "6.12-base-debug" {
		t.Errorf("BaselineOf = %v %v", b.ID, ok)
	}
	c, _ = m.Cell("6.12-base-debug")
	if _, ok := m.BaselineOf(c); ok {
		t.Error("the baseline has a baseline")
	}
	m.Baseline = Baseline{Cell: "6.1-base-minimal"}
	c, _ = m.Cell("6.12-vmsplice-copy-debug")
	if b, ok := m.BaselineOf(c); !ok || b.ID != "6.1-base-minimal" {
		t.Errorf("BaselineOf(cell baseline) = %v %v", b.ID, ok)
	}
}

func TestExpected(t *testing.T) {
	m := testMatrix()
	m.Expect = []*Expectation{
		{Patchset: "base", Test: "TestVmspliceBufferIsStable", Status: "fail"},
		{Kernel: "6.1", Patchset: "base", Suite: "vmsplice", Test: "TestVmspliceBufferIsStable", Status: "pass"},
		{Suite: "splice", Status: "skip"},
		{Suite: "vmsplice", Test: "TestBench/*", Status: "skip"},
		{Config: "debug", Suite: "vmsplice", Test: "TestBench/size=4k", Status: "fail"},
		{Kernel: "6.*", Patchset: "vmsplice-copy", Test: "TestVmspliceBufferIsStable", Status: "pass"},
		{Patchset: "vmsplice-copy", Test: "TestVmspliceBufferIsStable", Status: "fail"}, // later, but less specific than the one above
	}
	cell := func(id string) Cell {
		for _, c := range m.AllCells() {
			if c.ID == id {
				return c
			}
		}
		t.Fatalf("no cell %s", id)
		return Cell{}
	}
	for _, tc := range []struct {
		cell, suite, test string
		status            string
		ok                bool
	}{
		{"6.12-base-minimal", "vmsplice", "TestVmspliceBufferIsStable", "fail", true},
		{"6.12-base-minimal", "splice", "TestVmspliceBufferIsStable", "fail", true},  // no suite: any suite
		{"6.1-base-minimal", "vmsplice", "TestVmspliceBufferIsStable", "pass", true}, // more specific wins
		{"6.1-base-minimal", "splice", "TestVmspliceBufferIsStable", "fail", true},
		{"6.12-base-minimal", "vmsplice", "TestOther", "pass", false},
		{"6.12-base-minimal", "splice", "", "skip", true},       // whole suite
		{"6.12-base-minimal", "splice", "TestX", "pass", false}, // suite-level entries do not match tests
		{"6.12-base-minimal", "vmsplice", "", "pass", false},
		{"6.12-base-minimal", "vmsplice", "TestBench/size=4k", "skip", true},
		{"6.12-base-debug", "vmsplice", "TestBench/size=4k", "fail", true},
		{"6.12-vmsplice-copy-minimal", "vmsplice", "TestVmspliceBufferIsStable", "pass", true}, // glob kernel + exact patchset (1+2) beats exact patchset alone (2)
	} {
		st, ok := m.Expected(cell(tc.cell), tc.suite, tc.test)
		if st != tc.status || ok != tc.ok {
			t.Errorf("Expected(%s, %s, %q) = %q, %v; want %q, %v", tc.cell, tc.suite, tc.test, st, ok, tc.status, tc.ok)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"6.*", "6.12", true},
		{"6.*", "5.15", false},
		{"*", "", true},
		{"Test*/size=?k", "TestBench/size=4k", true},
		{"Test*/size=?k", "TestBench/size=16k", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestErrorList(t *testing.T) {
	l := ErrorList{
		{File: "b.yaml", Line: 1, Col: 1, Msg: "x"},
		{File: "a.yaml", Line: 10, Col: 2, Msg: "y"},
		{File: "a.yaml", Line: 2, Col: 9, Msg: "z"},
		{File: "a.yaml", Line: 2, Col: 3, Msg: "w"},
	}
	err := l.Err()
	want := "a.yaml:2:3: w\na.yaml:2:9: z\na.yaml:10:2: y\nb.yaml:1:1: x"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	if (ErrorList{}).Err() != nil {
		t.Error("empty list is an error")
	}
}

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want string
	}{
		{"fragmets", "fragments"},
		{"kernel", "kernels"},
		{"timout", "timeout"},
		{"xyzzy", ""},
		{"Name", "name"},
	} {
		if got := nearest(tc.s, append(append(append([]string{}, topFields...), suiteFields...), configFields...)); got != tc.want {
			t.Errorf("nearest(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestPrebuiltCells: a prebuilt kernel's cells take the pseudo-config
// "prebuilt" whatever the config axis holds, a series never applies to
// it, and rules, expectations and baselines see the pseudo-config by name.
func TestPrebuiltCells(t *testing.T) {
	m := testMatrix()
	img := &Kernel{Name: "img", Source: Source{Prebuilt: &PrebuiltSource{Image: "/boot/vmlinuz"}}}
	m.Kernels = append(m.Kernels, img)
	m.Patchsets[1].Series = "/patches/vmsplice-copy"
	var got []string
	for _, c := range m.Cells() {
		if c.Kernel == img {
			got = append(got, c.ID+" skip="+c.Skip)
			if !c.Config.Prebuilt || c.Config.Name != PrebuiltConfigName || c.Config.Base != "" {
				t.Errorf("%s: config %+v", c.ID, c.Config)
			}
		} else if c.Config.Prebuilt {
			t.Errorf("%s: a built kernel's cell has the prebuilt config", c.ID)
		}
	}
	want := []string{"img-base-prebuilt skip=", "img-vmsplice-copy-prebuilt skip=patch series cannot apply to a prebuilt kernel"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prebuilt cells %q, want %q", got, want)
	}
	c, ok := m.Cell("img-base-prebuilt")
	if !ok {
		t.Fatal("no cell img-base-prebuilt")
	}
	for _, tc := range []struct {
		r    Rule
		want bool
	}{
		{Rule{Config: "prebuilt"}, true},
		{Rule{Config: "pre*"}, true},
		{Rule{Config: "minimal"}, false},
		{Rule{Kernel: "img"}, true},
	} {
		if got := tc.r.Match(c); got != tc.want {
			t.Errorf("%+v.Match(%s) = %v", tc.r, c.ID, got)
		}
	}
	m.Expect = []*Expectation{{Config: "minimal", Suite: "vmsplice", Status: "fail"}, {Config: "prebuilt", Suite: "vmsplice", Status: "skip"}}
	if st, _ := m.Expected(c, "vmsplice", ""); st != "skip" {
		t.Errorf("Expected on %s = %q, want skip", c.ID, st)
	}
	if st, _ := m.Expected(m.Cells()[0], "vmsplice", ""); st != "fail" {
		t.Errorf("Expected on %s = %q, want fail", m.Cells()[0].ID, st)
	}
	// A patchset without series applies; its baseline is the prebuilt base.
	m.Patchsets[1].Series = ""
	m.Patchsets[1].AppliesTo = ""
	c2, _ := m.Cell("img-vmsplice-copy-prebuilt")
	if b, ok := m.BaselineOf(c2); c2.Skip != "" || !ok || b.ID != "img-base-prebuilt" {
		t.Errorf("cell %+v: baseline %s, %v", c2, b.ID, ok)
	}
	// With no config axis at all, a prebuilt kernel still has its cells.
	m.Configs = nil
	if got := ids(m.Cells()); !reflect.DeepEqual(got, []string{"img-base-prebuilt", "img-vmsplice-copy-prebuilt"}) {
		t.Errorf("cells without configs: %q", got)
	}
}
