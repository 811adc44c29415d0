package matrices

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/builder"
)

// cliReader is the Makefile reader kvmtest's command installs
// (cmd/kvmtest/matrix.go): the builder's, which opens tarballs and runs git.
func cliReader(src Source) ([]byte, error) {
	b := builder.Source{Tarball: src.Tarball, Path: src.Path}
	if src.Git != nil {
		b.GitRepo, b.GitRef = src.Git.Repo, src.Git.Ref
	}
	return builder.SourceMakefile(b)
}

// cliSources are the source checks kvmtest's command installs
// (cmd/kvmtest/matrix.go): the builder's, which run tar and git.
var cliSources = SourceChecker{Tarball: builder.CheckTarball, GitRepo: builder.CheckGitRepo, GitRef: builder.CheckGitRef}

// testHost stands for the machine the command runs on, fixed so that the
// golden files do not depend on it: 24 GiB and 2 CPUs.
var testHost = Host{MemTotalMiB: 24 << 10, CPUs: 2}

// loadCLI loads a matrix as the command does.
func loadCLI(path string) (*Matrix, error) {
	return LoadWith(path, LoadOptions{ReadMakefile: cliReader, CheckSource: &cliSources, Host: &testHost})
}

// fakeReader serves Makefiles from memory, keyed by the source's kind and
// path or repository, and records what it was asked for.
type fakeReader struct {
	makefiles map[string]string
	asked     []string
}

func (r *fakeReader) read(src Source) ([]byte, error) {
	key := src.Kind() + ":" + src.Tarball + src.Path
	if src.Git != nil {
		key += src.Git.Repo + "@" + src.Git.Ref
	}
	r.asked = append(r.asked, key)
	mk, ok := r.makefiles[filepath.Base(key)]
	if !ok {
		return nil, errors.New("no Makefile here")
	}
	return []byte(mk), nil
}

// TestLoadReadsVersionsThroughReader: Load learns undeclared versions only
// from the reader it is given, only when something needs them (always for
// a path source), never for a declared version or a remote repository,
// and reports a reader's failure at the kernel's source.
func TestLoadReadsVersionsThroughReader(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"tree", "repo"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "k.tar.gz"), nil, 0o644)
	r := &fakeReader{makefiles: map[string]string{
		"tree":      "VERSION = 6\nPATCHLEVEL = 13\nSUBLEVEL = 0\nEXTRAVERSION = -rc1\n",
		"k.tar.gz":  "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 12\nEXTRAVERSION =\n",
		"repo@v6.1": "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n",
	}}
	write := func(patchsets string) string {
		p := filepath.Join(dir, "m.yaml")
		os.WriteFile(p, []byte(`kernels:
  - {name: tree, source: {path: tree}}
  - {name: tar, source: {tarball: k.tar.gz}}
  - {name: git, source: {git: {repo: repo, ref: v6.1}}}
  - {name: declared, version: "6.6", source: {tarball: k.tar.gz}}
  - {name: remote, version: "6.12", source: {git: {repo: "https://example.org/linux.git", ref: v6.12}}}
patchsets: [`+patchsets+`]
configs: [{name: c, base: tinyconfig}]
`), 0o644)
		return p
	}

	// Nothing needs a version: only the path source is read.
	m, err := LoadWith(write("{name: base}"), LoadOptions{ReadMakefile: r.read})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range m.Kernels {
		got = append(got, k.Version)
	}
	if want := []string{"6.13.0-rc1", "", "", "6.6", "6.12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("versions %q, want %q", got, want)
	}
	if len(r.asked) != 1 || !strings.HasPrefix(r.asked[0], "path:") {
		t.Errorf("asked for %q, want only the path source", r.asked)
	}

	// An applies-to needs every version: the tarball and the local git
	// repository are read, the declared and the remote kernels are not.
	r.asked = nil
	m, err = LoadWith(write(`{name: base}, {name: new, applies-to: ">= 6.12"}`), LoadOptions{ReadMakefile: r.read})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, k := range m.Kernels {
		got = append(got, k.Version)
	}
	if want := []string{"6.13.0-rc1", "6.12.12", "6.1.0", "6.6", "6.12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("versions %q, want %q", got, want)
	}
	if len(r.asked) != 3 {
		t.Errorf("asked for %q, want the path, tarball and git sources", r.asked)
	}
	var skipped []string
	for _, c := range m.Cells() {
		if c.Skip != "" {
			skipped = append(skipped, c.ID)
		}
	}
	if want := []string{"git-new-c", "declared-new-c"}; !reflect.DeepEqual(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}

	// Without a reader that opens tarballs, the load says so at the source.
	p := write(`{name: base}, {name: new, applies-to: ">= 6.12"}`)
	_, err = LoadWith(p, LoadOptions{ReadMakefile: ReadPathMakefile})
	for _, want := range []string{
		p + `:3:25: cannot read the version of kernel "tar" (needed by applies-to of patchset "new"): reading the Makefile of a tarball source needs a Makefile reader (LoadOptions.ReadMakefile); add version:`,
		p + `:4:25: cannot read the version of kernel "git" (needed by applies-to of patchset "new"): reading the Makefile of a git source needs a Makefile reader (LoadOptions.ReadMakefile); add version:`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant a line %s", err, want)
		}
	}
}

// TestDefaultMakefileReader: Load, with no reader of its own, uses the
// installed default.
func TestDefaultMakefileReader(t *testing.T) {
	defer func(r MakefileReader) { DefaultMakefileReader = r }(DefaultMakefileReader)
	calls := 0
	DefaultMakefileReader = func(src Source) ([]byte, error) {
		calls++
		return []byte("VERSION = 6\nPATCHLEVEL = 9\n"), nil
	}
	p := filepath.Join(t.TempDir(), "m.yaml")
	os.Mkdir(filepath.Join(filepath.Dir(p), "tree"), 0o755)
	os.WriteFile(p, []byte("kernels: [{name: k, source: {path: tree}}]\npatchsets: [{name: base}]\nconfigs: [{name: c, base: tinyconfig}]\n"), 0o644)
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || m.Kernels[0].Version != "6.9" {
		t.Errorf("version %q after %d reads, want 6.9 after 1", m.Kernels[0].Version, calls)
	}
}

// TestDebianTarballVersion reads the version of the real tarball with the
// command's reader (skipped when the package is not installed).
func TestDebianTarballVersion(t *testing.T) {
	const tb = "/usr/src/linux-source-6.12.tar.xz"
	if _, err := os.Stat(tb); err != nil {
		t.Skip(err)
	}
	v, err := SourceVersion(Source{Tarball: tb}, cliReader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "6.12.") {
		t.Errorf("version %q", v)
	}
}
