package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the path to write
		data    string
		perm    os.FileMode
		wantErr bool
		want    string // the file's content afterwards
	}{
		{
			name:  "new file",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "a.json") },
			data:  "{}\n", perm: 0o644, want: "{}\n",
		},
		{
			name: "replaces an existing file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "run.json")
				if err := os.WriteFile(p, []byte("old content, longer than the new"), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			data: "new", perm: 0o644, want: "new",
		},
		{
			name:  "mode is perm exactly",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "secret") },
			data:  "x", perm: 0o600, want: "x",
		},
		{
			name:  "empty data",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "empty") },
			data:  "", perm: 0o644, want: "",
		},
		{
			name:  "missing directory",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "no", "such", "f") },
			data:  "x", perm: 0o644, wantErr: true,
		},
		{
			name: "path is a non-empty directory",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "d")
				if err := os.MkdirAll(filepath.Join(p, "inside"), 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			},
			data: "x", perm: 0o644, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := listDir(t, dir)
			err := WriteFile(path, []byte(tt.data), tt.perm)
			if tt.wantErr {
				if err == nil {
					t.Fatal("WriteFile succeeded")
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
				if after := listDir(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
					t.Errorf("directory changed from %v to %v: a temporary file was left", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("content %q, want %q", got, tt.want)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			if ents := listDir(t, dir); len(ents) != 1 || ents[0] != filepath.Base(path) {
				t.Errorf("directory holds %v, want only %s", ents, filepath.Base(path))
			}
		})
	}
}

// TestWriteFileRelative writes a bare file name: the temporary file goes in
// the current directory.
func TestWriteFileRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("f", []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("f"); err != nil || string(b) != "data" {
		t.Fatalf("read %q, %v", b, err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
