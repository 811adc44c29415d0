package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCacheContentDirs checks each content-keyed directory the cache hands
// out: it is its own subdirectory of Root, and GC removes its idle
// entries (files or directories) and keeps the fresh ones.
func TestCacheContentDirs(t *testing.T) {
	tests := []struct {
		name string
		dir  func(*Cache) string
		sub  string // the name GC reports entries under
		kind string // "file" or "dir" entries
	}{
		{"guest programs", (*Cache).GuestDir, "guest", "file"},
		{"materialized sources", (*Cache).SelfDir, "self", "dir"},
		{"kselftest sets", (*Cache).KselftestDir, "kselftest", "dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			c, err := OpenCache(root)
			if err != nil {
				t.Fatal(err)
			}
			dir := tt.dir(c)
			if rel, err := filepath.Rel(root, dir); err != nil || rel != tt.sub {
				t.Fatalf("dir %s is not %s under the root %s", dir, tt.sub, root)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			mk := func(name string) string {
				p := filepath.Join(dir, name)
				if tt.kind == "dir" {
					if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(p, []byte(name), 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			}
			old, fresh := mk("old"), mk("fresh")
			long := time.Now().Add(-30 * 24 * time.Hour)
			os.Chtimes(old, long, long)
			removed, err := c.GC(10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(removed, ","), tt.sub+"/old"; got != want {
				t.Errorf("GC removed %q, want %q", got, want)
			}
			if _, err := os.Stat(old); !os.IsNotExist(err) {
				t.Errorf("idle entry %s kept (%v)", old, err)
			}
			if _, err := os.Stat(fresh); err != nil {
				t.Errorf("fresh entry removed: %v", err)
			}
		})
	}
}

// TestWriteFileAtomicReplaces checks the index writer: the new content
// replaces the old and no temporary file is left beside it.
func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "INPUTKEY")
	for _, key := range []string{"first\n", "second\n"} {
		if err := writeFileAtomic(p, []byte(key)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != key {
			t.Fatalf("read %q, %v; want %q", b, err, key)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
}
