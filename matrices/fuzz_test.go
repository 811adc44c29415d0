package matrices

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to Load as a matrix file placed beside
// the test fixtures (so relative paths can name real files). Load must not
// panic or hang, must return either a matrix or a sorted, well-formed
// ErrorList, and never both.
//
//	go test ./matrices -run '^$' -fuzz FuzzLoad -fuzztime 30s
func FuzzLoad(f *testing.F) {
	for _, pat := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml", "testdata/bad/inc/*.yaml", "*.yaml"} {
		files, _ := filepath.Glob(pat)
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("a: &a [*a]\nkernels: *a\n"))
	f.Add([]byte("kernels: &k {<<: *k}\n"))
	f.Add([]byte("\xef\xbb\xbfname: bom\n"))
	// The architecture axis through anchors and merge keys.
	f.Add([]byte("arch: &a [x86_64, arm64]\nkernels: [{name: k, version: '6.1', arch: *a, source: {path: files/kernel-tree}}]\npatchsets: [{name: base}]\n" +
		"x-f: &f {arm64: [files/debug.config]}\nconfigs: [{name: c, base: tinyconfig, arch-fragments: {<<: *f, x86_64: []}}]\nexclude: [{arch: 'x*'}]\n"))
	dir, err := filepath.Abs("testdata/good")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		// Reading versions from tarballs or git would make the fuzzer slow
		// and depend on the machine: with the path-only reader, a matrix
		// that needs one reports it.
		tmp := t.TempDir()
		p := filepath.Join(tmp, "fuzz.yaml")
		// Relative paths resolve against the fixtures through a symlink.
		os.Symlink(filepath.Join(dir, "..", "files"), filepath.Join(tmp, "files"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m, err := LoadWith(p, LoadOptions{ReadMakefile: ReadPathMakefile})
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Load took %v", d)
		} else if d > 500*time.Millisecond && os.Getenv("FUZZ_DEBUG") != "" {
			t.Logf("slow (%v): %q", d, data)
		}
		if (m == nil) == (err == nil) {
			t.Fatalf("Load returned %v and %v", m, err)
		}
		if err != nil {
			el, ok := err.(ErrorList)
			if !ok || len(el) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			checkErrorList(t, el)
			for _, e := range el {
				if strings.Contains(e.Msg, "\n") {
					t.Errorf("multi-line message %q", e.Msg)
				}
			}
			return
		}
		// A loaded matrix expands without panicking, each cell of an
		// architecture of the matrix and its kernel, under the id
		// Matrix.CellID gives it.
		for _, c := range m.AllCells() {
			m.Expected(c, "s", "t")
			m.BaselineOf(c)
			c.Config.FragmentsFor(c.Arch)
			if c.ID != m.CellID(c.Kernel.Name, c.Patchset.Name, c.Config.Name, c.Arch) || !contains(m.Arches, c.Arch) || !contains(c.Kernel.Arches, c.Arch) {
				t.Errorf("cell %s: arch %q of %q (kernel's %q)", c.ID, c.Arch, m.Arches, c.Kernel.Arches)
			}
		}
	})
}
