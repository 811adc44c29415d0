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

// archMatrix is testMatrix with two architectures and a kernel that runs
// on arm64 only.
func archMatrix() *Matrix {
	m := testMatrix()
	m.Arches = []string{"x86_64", "arm64"}
	m.Kernels = append(m.Kernels, &Kernel{Name: "arm", Version: "6.12", Arches: []string{"arm64"}})
	m.Configs = m.Configs[:1]
	m.Patchsets = m.Patchsets[:1]
	return m
}

// TestArchCells: arches are the innermost axis, a kernel has the cells
// of its own arches only, and ids end in -ARCH when the matrix has
// several (and only then).
func TestArchCells(t *testing.T) {
	m := archMatrix()
	want := []string{"6.12-base-minimal-x86_64", "6.12-base-minimal-arm64", "6.1-base-minimal-x86_64", "6.1-base-minimal-arm64", "arm-base-minimal-arm64"}
	if got := ids(m.Cells()); !reflect.DeepEqual(got, want) {
		t.Errorf("cells:\n%q\nwant\n%q", got, want)
	}
	for _, c := range m.Cells() {
		if !strings.HasSuffix(c.ID, "-"+c.Arch) || c.ID != m.CellID(c.Kernel.Name, c.Patchset.Name, c.Config.Name, c.Arch) {
			t.Errorf("cell %s: arch %q", c.ID, c.Arch)
		}
	}
	for _, tc := range []struct {
		arches []string
		want   string
	}{
		{nil, "k-p-c"},
		{[]string{"x86_64"}, "k-p-c"},
		{[]string{"arm64"}, "k-p-c"},
		{[]string{"x86_64", "arm64"}, "k-p-c-arm64"},
	} {
		m := &Matrix{Arches: tc.arches}
		if got := m.CellID("k", "p", "c", "arm64"); got != tc.want || m.MultiArch() != (len(tc.arches) > 1) {
			t.Errorf("arches %q: CellID = %q, want %q", tc.arches, got, tc.want)
		}
	}
	// A matrix built without arches has arch.Default's cells, with the
	// ids of old.
	one := testMatrix()
	for _, c := range one.Cells() {
		if c.Arch != "x86_64" || strings.HasSuffix(c.ID, "x86_64") {
			t.Errorf("one-arch cell %s: arch %q", c.ID, c.Arch)
		}
	}
}

// TestArchRules: rules, expectations and baselines see a cell's arch.
func TestArchRules(t *testing.T) {
	m := archMatrix()
	m.Exclude = []Rule{{Kernel: "6.1", Arch: "arm*"}}
	if got, want := ids(m.Cells()), []string{"6.12-base-minimal-x86_64", "6.12-base-minimal-arm64", "6.1-base-minimal-x86_64", "arm-base-minimal-arm64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("exclude by arch: %q, want %q", got, want)
	}
	if c := m.AllCells()[3]; c.Excluded != "excluded by rule {kernel=6.1 arch=arm*}" {
		t.Errorf("reason %q", c.Excluded)
	}
	m.Exclude = nil
	m.Include = []Rule{{Arch: "x86_64"}}
	if got, want := ids(m.Cells()), []string{"6.12-base-minimal-x86_64", "6.1-base-minimal-x86_64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("include by arch: %q, want %q", got, want)
	}
	// A Cell built by hand without Arch is arch.Default's.
	if r := (Rule{Arch: "x86_64"}); !r.Match(Cell{Kernel: &Kernel{}, Patchset: &Patchset{}, Config: &Config{}}) {
		t.Error("a cell without Arch is not x86_64's")
	}

	m = archMatrix()
	m.Expect = []*Expectation{
		{Suite: "vmsplice", Status: "fail"},
		{Arch: "arm64", Suite: "vmsplice", Status: "skip"},
		{Kernel: "6.12", Suite: "vmsplice", Status: "pass"},               // as specific as the arm64 one, and later
		{Arch: "arm*", Kernel: "6.12", Suite: "vmsplice", Status: "fail"}, // glob arch + exact kernel + suite beats kernel + suite
	}
	for _, tc := range []struct{ cell, want string }{
		{"6.1-base-minimal-x86_64", "fail"},
		{"6.1-base-minimal-arm64", "skip"},
		{"6.12-base-minimal-x86_64", "pass"},
		{"6.12-base-minimal-arm64", "fail"},
	} {
		c, _ := m.Cell(tc.cell)
		if st, _ := m.Expected(c, "vmsplice", ""); st != tc.want {
			t.Errorf("Expected(%s) = %q, want %q", tc.cell, st, tc.want)
		}
	}

	// The baseline is the same kernel, config and arch's; or, with
	// Baseline.Arch, that arch's.
	m = archMatrix()
	m.Patchsets = append(m.Patchsets, &Patchset{Name: "fix"})
	for _, tc := range []struct {
		arch, cell, want string
	}{
		{"", "6.12-fix-minimal-arm64", "6.12-base-minimal-arm64"},
		{"", "6.12-fix-minimal-x86_64", "6.12-base-minimal-x86_64"},
		{"", "arm-fix-minimal-arm64", "arm-base-minimal-arm64"},
		{"x86_64", "6.12-fix-minimal-arm64", "6.12-base-minimal-x86_64"},
		{"x86_64", "6.12-base-minimal-arm64", "6.12-base-minimal-x86_64"},
		{"x86_64", "6.12-base-minimal-x86_64", ""}, // the baseline itself
		{"x86_64", "arm-fix-minimal-arm64", ""},    // arm has no x86_64 cell
	} {
		m.Baseline = Baseline{Patchset: "base", Arch: tc.arch}
		c, ok := m.Cell(tc.cell)
		if !ok {
			t.Fatalf("no cell %s", tc.cell)
		}
		b, ok := m.BaselineOf(c)
		if ok != (tc.want != "") || b.ID != tc.want {
			t.Errorf("baseline arch %q: BaselineOf(%s) = %q, %v; want %q", tc.arch, tc.cell, b.ID, ok, tc.want)
		}
	}
}

// TestFragmentsFor: a cell's fragments are the config's, then its arch's;
// the result is the caller's.
func TestFragmentsFor(t *testing.T) {
	c := &Config{Fragments: make([]string, 1, 4), ArchFragments: map[string][]string{"arm64": {"/a.config", "/b.config"}}}
	c.Fragments[0] = "/common.config"
	for _, tc := range []struct {
		arch string
		want []string
	}{
		{"arm64", []string{"/common.config", "/a.config", "/b.config"}},
		{"x86_64", []string{"/common.config"}},
		{"", []string{"/common.config"}},
	} {
		got := c.FragmentsFor(tc.arch)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FragmentsFor(%q) = %q, want %q", tc.arch, got, tc.want)
		}
		_ = append(got, "/caller.config")
	}
	if got := c.FragmentsFor("x86_64"); len(got) != 1 || c.Fragments[:2][1] == "/caller.config" {
		t.Errorf("FragmentsFor shares its slice with the config: %q", c.Fragments[:2])
	}
	if got := (&Config{}).FragmentsFor("arm64"); len(got) != 0 {
		t.Errorf("no fragments: %q", got)
	}
}
