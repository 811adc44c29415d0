package builder

import (
	"errors"
	"fmt"
	"maps"
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

// storeFake stores an artifact made of fake files (name -> content) and
// returns it.
func storeFake(t *testing.T, c *Cache, key string, inputs map[string]string, files map[string]string) (*Artifact, error) {
	t.Helper()
	src := t.TempDir()
	paths := map[string]string{}
	for name, content := range files {
		p := filepath.Join(src, fmt.Sprintf("file%d", len(paths)))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return c.StoreArtifact(Meta{Key: key, Version: "6.12.118", Inputs: inputs}, paths)
}

const (
	modConfig   = "CONFIG_MODULES=y\nCONFIG_LKDTM=m\n"
	noModConfig = "# CONFIG_MODULES is not set\nCONFIG_LKDTM=y\n"
)

// TestArtifactModules checks the storage of a modules tree: nested names
// come back under Artifact.Modules, each file digest-checked, and the
// artifacts that cannot be whole are corrupt.
func TestArtifactModules(t *testing.T) {
	withModules := map[string]string{
		"bzImage": "kernel",
		"config":  modConfig,
		"modules/6.12.118/kernel/drivers/misc/lkdtm/lkdtm.ko": "lkdtm module",
		"modules/6.12.118/modules.dep":                        "kernel/drivers/misc/lkdtm/lkdtm.ko:\n",
		"modules/6.12.118/modules.builtin":                    "",
	}
	without := func(name string, files map[string]string) map[string]string {
		m := maps.Clone(files)
		delete(m, name)
		return m
	}
	with := func(name, content string, files map[string]string) map[string]string {
		m := maps.Clone(files)
		m[name] = content
		return m
	}
	prebuilt := map[string]string{"kind": "prebuilt"}
	tests := []struct {
		name    string
		inputs  map[string]string
		files   map[string]string
		modules bool   // Artifact.Modules set
		corrupt string // in LoadArtifact's error
	}{
		{"modules", nil, withModules, true, ""},
		{"no modules", nil, map[string]string{"bzImage": "k", "config": noModConfig}, false, ""},
		{"=m without modules", nil, map[string]string{"bzImage": "k", "config": modConfig}, false, "builds modules"},
		{"no modules.dep", nil, without("modules/6.12.118/modules.dep", withModules), false, "no modules.dep"},
		{"two releases", nil, with("modules/6.13/modules.dep", "", withModules), false, "modules of 2 releases"},
		{"built without config", nil, without("config", withModules), false, "no digest for config"},
		{"prebuilt without config", prebuilt, without("config", withModules), true, ""},
		{"prebuilt without config or modules", prebuilt, map[string]string{"bzImage": "k"}, false, ""},
		{"prebuilt =m without modules", prebuilt, map[string]string{"bzImage": "k", "config": modConfig}, false, ""},
		{"prebuilt without bzImage", prebuilt, without("bzImage", withModules), false, "no digest for bzImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := OpenCache(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			a, err := storeFake(t, c, "k1", tt.inputs, tt.files)
			if tt.corrupt != "" {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.corrupt) {
					t.Fatalf("StoreArtifact = %v, want corrupt: %q", err, tt.corrupt)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(a.Dir, "modules", "6.12.118"); tt.modules != (a.Modules == want) {
				t.Errorf("Modules = %q, want %q: %v", a.Modules, want, tt.modules)
			}
			if _, ok := tt.files["config"]; ok != (a.Config != "") {
				t.Errorf("Config = %q", a.Config)
			}
			for name, content := range tt.files {
				if b, err := os.ReadFile(filepath.Join(a.Dir, filepath.FromSlash(name))); err != nil || string(b) != content {
					t.Errorf("%s: %q, %v; want %q", name, b, err, content)
				}
			}
		})
	}
}

// TestArtifactModuleCorrupt damages one module file of a stored artifact
// in each way: LoadArtifact says corrupt and names it.
func TestArtifactModuleCorrupt(t *testing.T) {
	ko := "modules/6.12.118/kernel/drivers/misc/lkdtm/lkdtm.ko"
	for name, damage := range map[string]func(string) error{
		"changed":   func(p string) error { return os.WriteFile(p, []byte("other module"), 0o644) },
		"removed":   os.Remove,
		"truncated": func(p string) error { return os.Truncate(p, 2) },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := OpenCache(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			a, err := storeFake(t, c, "k1", nil, map[string]string{"bzImage": "k", "config": modConfig,
				ko: "lkdtm module", "modules/6.12.118/modules.dep": "kernel/drivers/misc/lkdtm/lkdtm.ko:\n"})
			if err != nil {
				t.Fatal(err)
			}
			if err := damage(filepath.Join(a.Dir, filepath.FromSlash(ko))); err != nil {
				t.Fatal(err)
			}
			_, err = c.LoadArtifact("k1")
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "lkdtm.ko") {
				t.Errorf("LoadArtifact = %v, want corrupt naming lkdtm.ko", err)
			}
		})
	}
}

// TestArtifactNames checks that StoreArtifact refuses a name that would
// escape the artifact (or is not clean) before writing anything, and that
// LoadArtifact treats such a name in meta.json as corruption.
func TestArtifactNames(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../escape", "modules/../../escape", "/etc/passwd", "modules/./x", "modules//x", "modules/x/", "", "meta.json", `modules\x`} {
		_, err := storeFake(t, c, "k1", nil, map[string]string{"bzImage": "k", "config": noModConfig, name: "x"})
		if err == nil || !strings.Contains(err.Error(), "not a plain path inside the artifact") {
			t.Errorf("name %q: StoreArtifact = %v, want refused", name, err)
		}
	}
	if ents, _ := os.ReadDir(c.Path("artifacts")); len(ents) != 0 {
		t.Errorf("refused names left %d entries in artifacts/", len(ents))
	}
	if _, err := os.Stat(filepath.Join(c.Root, "escape")); err == nil {
		t.Error("a refused name was written outside the artifact")
	}
	a, err := storeFake(t, c, "k1", nil, map[string]string{"bzImage": "k", "config": noModConfig})
	if err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(a.Dir, "meta.json")
	b, _ := os.ReadFile(meta)
	b = []byte(strings.Replace(string(b), `"files": {`, `"files": {"../../escape": "00",`, 1))
	os.WriteFile(meta, b, 0o644)
	if _, err := c.LoadArtifact("k1"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "escape") {
		t.Errorf("LoadArtifact of an escaping name = %v, want corrupt", err)
	}
}

func TestConfigHasModules(t *testing.T) {
	tests := []struct {
		config string
		want   bool
	}{
		{modConfig, true},
		{noModConfig, false},
		{"CONFIG_MODULES=y\nCONFIG_LKDTM=y\n", false},
		{"# CONFIG_MODULES is not set\nCONFIG_LKDTM=m\n", false},
		{"CONFIG_LKDTM=m\nCONFIG_MODULES=y\n", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := configHasModules([]byte(tt.config)); got != tt.want {
			t.Errorf("configHasModules(%q) = %v, want %v", tt.config, got, tt.want)
		}
	}
}
