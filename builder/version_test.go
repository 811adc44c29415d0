package builder

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTarball writes a gzipped tarball holding files (name -> content).
func writeTarball(t *testing.T, path string, files map[string]string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVersionReader: SourceMakefile reads the top-level Makefile of every
// kind of source.
func TestVersionReader(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	const mk612 = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\nEXTRAVERSION =\n"
	const mk613 = "VERSION = 6\nPATCHLEVEL = 13\nSUBLEVEL = 0\nEXTRAVERSION = -rc1\n"
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.Mkdir(tree, 0o755)
	writeFile(t, tree, "Makefile", mk613)
	topDir := writeTarball(t, filepath.Join(dir, "linux.tar.gz"), map[string]string{
		"linux-6.12.3/Makefile": mk612, "linux-6.12.3/mm/Makefile": "obj-y += x.o\n"})
	flat := writeTarball(t, filepath.Join(dir, "flat.tar.gz"), map[string]string{"Makefile": mk613})
	empty := writeTarball(t, filepath.Join(dir, "empty.tar.gz"), map[string]string{"README": "x"})
	repo, git := newGitRepo(t)
	writeFile(t, repo, "Makefile", mk613)
	git("add", "Makefile")
	git("commit", "-qm", "rc1")
	git("tag", "v6.13-rc1")
	writeFile(t, repo, "Makefile", mk612)
	git("commit", "-qam", "other")

	for _, tc := range []struct {
		name    string
		src     Source
		want    string // Makefile content, or
		wantErr string // a part of the error
	}{
		{"path", Source{Path: tree}, mk613, ""},
		{"path without Makefile", Source{Path: dir}, "", "no such file"},
		{"tarball with a top directory", Source{Tarball: topDir}, mk612, ""},
		{"tarball without a top directory", Source{Tarball: flat}, mk613, ""},
		{"tarball without Makefile", Source{Tarball: empty}, "", "no top-level Makefile in the tarball"},
		{"missing tarball", Source{Tarball: filepath.Join(dir, "nope.tar.gz")}, "", "tar: "},
		{"git tag", Source{GitRepo: repo, GitRef: "v6.13-rc1"}, mk613, ""},
		{"git HEAD", Source{GitRepo: repo, GitRef: "HEAD"}, mk612, ""},
		{"git bad ref", Source{GitRepo: repo, GitRef: "v9"}, "", "git: "},
		{"remote git", Source{GitRepo: "https://example.org/linux.git", GitRef: "v6.12"}, "", "cannot read the Makefile of remote repository https://example.org/linux.git without fetching it"},
		{"no source", Source{}, "", "kernel has no source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SourceMakefile(tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("SourceMakefile = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("SourceMakefile = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestVersionReaderCache: the cache does not hide a tarball that changed.
func TestVersionReaderCache(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	p := filepath.Join(t.TempDir(), "k.tar.gz")
	writeTarball(t, p, map[string]string{"k/Makefile": "VERSION = 6\nPATCHLEVEL = 1\n"})
	if got, err := SourceMakefile(Source{Tarball: p}); err != nil || !strings.Contains(string(got), "PATCHLEVEL = 1\n") {
		t.Fatalf("first read %q, %v", got, err)
	}
	// Another content, size and mtime: read again.
	writeTarball(t, p, map[string]string{"k/Makefile": "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 9\n"})
	os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	if got, err := SourceMakefile(Source{Tarball: p}); err != nil || !strings.Contains(string(got), "PATCHLEVEL = 12\n") {
		t.Errorf("after a change: %q, %v", got, err)
	}
}

// TestVersionReaderDebianTarball reads the real tarball's Makefile
// (skipped when the package is not installed); the second read comes from
// the cache.
func TestVersionReaderDebianTarball(t *testing.T) {
	const tb = "/usr/src/linux-source-6.12.tar.xz"
	if _, err := os.Stat(tb); err != nil {
		t.Skip(err)
	}
	start := time.Now()
	mk, err := SourceMakefile(Source{Tarball: tb})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "VERSION = 6\nPATCHLEVEL = 12\n") {
		t.Errorf("Makefile starts %q", mk[:min(len(mk), 200)])
	}
	t.Logf("read the Makefile of %s in %v", tb, time.Since(start))
	start = time.Now()
	if mk2, _ := SourceMakefile(Source{Tarball: tb}); string(mk2) != string(mk) || time.Since(start) > 100*time.Millisecond {
		t.Errorf("not cached: %d bytes in %v", len(mk2), time.Since(start))
	}
}
