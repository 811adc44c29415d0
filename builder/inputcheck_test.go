package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tarBytes is a small kernel-like tar archive.
func tarBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range []struct{ name, body string }{
		{"linux-6.9/Makefile", "VERSION = 6\nPATCHLEVEL = 9\n"},
		{"linux-6.9/README", strings.Repeat("kernel\n", 2000)},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return b.Bytes()
}

// compressWith pipes data through a compressor command, skipping the
// test when it is not installed.
func compressWith(t *testing.T, data []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func gzipBytes(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// TestCheckTarball: what CheckTarball accepts and what it says of the
// rest.
func TestCheckTarball(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want string // "" = a tarball
	}{
		{"tar", tarBytes, ""},
		{"tar.gz", func(t *testing.T) []byte { return gzipBytes(tarBytes(t)) }, ""},
		{"tar.xz", func(t *testing.T) []byte { return compressWith(t, tarBytes(t), "xz", "-c") }, ""},
		{"tar.bz2", func(t *testing.T) []byte { return compressWith(t, tarBytes(t), "bzip2", "-c") }, ""},
		{"tar.zst", func(t *testing.T) []byte { return compressWith(t, tarBytes(t), "zstd", "-q", "-c") }, ""},
		{"text", func(*testing.T) []byte { return []byte("just some notes\nmore\n") }, `not a tarball: neither a tar archive nor compressed with gzip, xz, bzip2, zstd, lz4, lzip (it is a text file starting "just some notes")`},
		{"empty", func(*testing.T) []byte { return nil }, "not a tarball: neither a tar archive nor compressed with gzip, xz, bzip2, zstd, lz4, lzip (it is empty)"},
		{"binary", func(*testing.T) []byte { return []byte{0, 1, 2, 3, 0xff, 0xfe, 9, 9, 9} }, "(it starts with the bytes 00 01 02 03 ff fe 09 09)"},
		{"truncated xz", func(t *testing.T) []byte {
			x := compressWith(t, tarBytes(t), "xz", "-c")
			return x[:len(x)*2/3]
		}, "truncated: the xz stream has no end (an interrupted download or copy?)"},
		{"truncated bzip2", func(t *testing.T) []byte {
			x := compressWith(t, tarBytes(t), "bzip2", "-c")
			return x[:len(x)-6]
		}, "truncated: the bzip2 stream has no end"},
		{"gzip of text", func(*testing.T) []byte { return gzipBytes([]byte(strings.Repeat("not a tar\n", 100))) }, "not a tarball: tar: This does not look like a tar archive"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(p, tt.data(t), 0o644); err != nil {
				t.Fatal(err)
			}
			err := CheckTarball(p)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckTarball: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckTarball: %v, want an error with %q", err, tt.want)
			}
		})
	}
	if err := CheckTarball(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file passed")
	}
}

// TestCheckTarballDebian checks the real Debian source tarball quickly
// (skipped when it is not installed).
func TestCheckTarballDebian(t *testing.T) {
	const tb = "/usr/src/linux-source-6.12.tar.xz"
	if _, err := os.Stat(tb); err != nil {
		t.Skip(err)
	}
	if err := CheckTarball(tb); err != nil {
		t.Error(err)
	}
}

// TestCheckGit: a local repository and its refs, as the builder resolves
// them.
func TestCheckGit(t *testing.T) {
	repo, first, _ := gitKernelRepo(t)
	if err := CheckGitRepo(repo); err != nil {
		t.Errorf("CheckGitRepo(repo): %v", err)
	}
	if err := CheckGitRepo(t.TempDir()); err == nil || err.Error() != "not a git repository" {
		t.Errorf("CheckGitRepo(empty dir): %v", err)
	}
	for _, tt := range []struct {
		ref  string
		good bool
	}{
		{"v6.12", true}, {"HEAD", true}, {first, true}, {first[:10], true}, {"HEAD~1", true},
		{"v6.99", false}, {"no-such-branch", false}, {"HEAD~5", false}, {"--all", false},
	} {
		err := CheckGitRef(repo, tt.ref)
		if (err == nil) != tt.good {
			t.Errorf("CheckGitRef(%q) = %v, want good=%v", tt.ref, err, tt.good)
		}
		if err != nil && err.Error() != `no commit, branch or tag "`+tt.ref+`"` {
			t.Errorf("CheckGitRef(%q): message %q", tt.ref, err)
		}
	}
}
