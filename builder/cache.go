package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/internal/atomicfile"
)

// Cache is kvmtest's on-disk cache: extracted kernel sources, build
// directories and content-addressed kernel artifacts, and the other
// packages' content-keyed files (compiled guest programs, the materialized
// kvmtest source). Cache is the one owner of this layout: other packages
// ask it for their directory (GuestDir, SelfDir) and GC removes what has
// gone unused in every part of it.
//
// Layout under Root:
//
//	src/DIGEST/tree        extracted source trees; src/git-COMMIT: git worktrees; shared read-only
//	debs/DIGEST/           unpacked linux-image .debs (dpkg-deb -x, then depmod), the prebuilt kernels' sources
//	debs/download/         .debs fetched by apt-get download (Source.Package)
//	git/HASH.git           bare clones of git sources given as URLs
//	work/slot-KEY/         build slots: out-of-tree build directories (kept for incremental rebuilds)
//	work/logs/             the build log of each input key
//	artifacts/KEY/         bzImage, config, build.log, modules/RELEASE/ (when it has modules), meta.json (with digests of each file)
//	index/INPUTKEY         maps a build's inputs to its artifact key, so a warm run skips even the config step
//	locks/NAME.lock        flock(2) files serialising work on one key across processes
//	tmp/                   scratch directories, renamed into place when complete
//	run/PREFIXPID-N/       a process's scratch directories (VM sockets, a boot's initramfs), with
//	                       their owner's pid: removed once it is gone (NewTempDir, RemoveStaleTemp)
//	ccache/                ccache's files
//	kselftest/KEY/         built kselftest programs (KselftestDir)
//	guest/KEY              compiled guest programs: agent, test2json, go-test suites (GuestDir)
//	self/DIGEST/           kvmtest's own source, materialized for guest builds (SelfDir)
//
// The entries of kselftest/, guest/ and self/ are keyed by their content
// and touched when used; GC removes those idle for a week.
type Cache struct {
	Root string
}

// Directories of the cache's content-keyed parts, under Root.
const (
	guestSub     = "guest"
	kselftestSub = "kselftest"
	selfSub      = "self"
)

// GuestDir is the directory of compiled guest programs, one file per
// content key, whose modification time says when it was last used. It may
// not exist yet: its writer creates it.
func (c *Cache) GuestDir() string { return c.Path(guestSub) }

// SelfDir is the directory of materialized kvmtest sources, one
// directory per content digest, whose modification time says when it was
// last used. It may not exist yet: its writer creates it.
func (c *Cache) SelfDir() string { return c.Path(selfSub) }

// KselftestDir is the directory of built kselftest sets, one directory
// per key, whose modification time says when it was last used.
func (c *Cache) KselftestDir() string { return c.Path(kselftestSub) }

// DefaultCacheDir returns $KVMTEST_CACHE, or the user cache directory's
// kvmtest subdirectory (~/.cache/kvmtest).
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("KVMTEST_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locating the user cache directory: %w", err)
	}
	return filepath.Join(d, "kvmtest"), nil
}

// OpenCache returns the cache rooted at root, creating its directories,
// and removes the scratch directories of processes that are gone
// (RemoveStaleTemp): what a killed run left behind goes with the next.
func OpenCache(root string) (*Cache, error) {
	for _, d := range []string{"src", "work", "artifacts", "index", "locks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating cache directory: %w", err)
		}
	}
	c := &Cache{Root: root}
	c.RemoveStaleTemp()
	return c, nil
}

// Path joins elem to the cache root.
func (c *Cache) Path(elem ...string) string {
	return filepath.Join(append([]string{c.Root}, elem...)...)
}

// Meta describes one stored artifact.
type Meta struct {
	Key       string            `json:"key"`
	Kernel    string            `json:"kernel"`  // the matrix kernel name it was built for
	Version   string            `json:"version"` // kernelrelease
	Inputs    map[string]string `json:"inputs"`  // what went into the key
	Files     map[string]string `json:"files"`   // file name (slash-separated, relative to the artifact) -> hex sha256
	BuiltAt   time.Time         `json:"built_at"`
	BuildSecs float64           `json:"build_secs"`
	// Objects is how many objects make reported building (ObjectCounter).
	Objects int `json:"objects,omitempty"`
}

// ErrCorrupt reports an artifact whose files do not match their recorded digests.
var ErrCorrupt = errors.New("corrupt cache entry")

// Artifact file names and the Meta.Inputs entry that marks an imported kernel.
const (
	fileImage  = "bzImage" // x86's; see imageName
	fileConfig = "config"
	fileLog    = "build.log"
	modulesSub = "modules" // modules/RELEASE/...: the installed modules tree
	// inputKind is the Meta.Inputs key saying how the kernel came to be:
	// kindPrebuilt for an imported one, absent for a built one.
	inputKind    = "kind"
	kindPrebuilt = "prebuilt"
)

// imageName is the artifact's file name of a kernel image of the named
// architecture ("" is x86_64): bzImage for x86, Image (arm64's and
// riscv's make target) for the others.
func imageName(archName string) string {
	if archName == "" || archName == arch.Default {
		return fileImage
	}
	return "Image"
}

// LoadArtifact returns the artifact stored under key, after checking every
// file against its recorded digest. A built kernel's artifact has a
// bzImage and a config, and a modules tree (modules/RELEASE/, with
// modules.dep) when its config builds modules; an imported (prebuilt)
// kernel's has a bzImage, and a config and modules when they were known. It returns fs.ErrNotExist when there is none, and an
// error wrapping ErrCorrupt when it is damaged or incomplete (the caller
// rebuilds it).
func (c *Cache) LoadArtifact(key string) (*Artifact, error) {
	dir := c.Path("artifacts", key)
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s/meta.json: %v", ErrCorrupt, dir, err)
	}
	if m.Key != key {
		return nil, fmt.Errorf("%w: %s holds key %q", ErrCorrupt, dir, m.Key)
	}
	image := imageName(m.Inputs["arch"])
	required := []string{image, fileConfig}
	if m.Inputs[inputKind] == kindPrebuilt {
		required = required[:1]
	}
	for _, name := range required {
		if _, ok := m.Files[name]; !ok {
			return nil, fmt.Errorf("%w: %s: no digest for %s", ErrCorrupt, dir, name)
		}
	}
	for name := range m.Files {
		if err := checkArtifactName(name); err != nil {
			return nil, fmt.Errorf("%w: %s/meta.json: %v", ErrCorrupt, dir, err)
		}
	}
	if err := verifyFiles(dir, m.Files); err != nil {
		return nil, err
	}
	a := &Artifact{
		Key:    key,
		Dir:    dir,
		Kernel: filepath.Join(dir, image),
		Log:    filepath.Join(dir, fileLog),
		Meta:   m,
	}
	if _, ok := m.Files[fileConfig]; ok {
		a.Config = filepath.Join(dir, fileConfig)
	}
	if err := a.findModules(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, dir, err)
	}
	return a, nil
}

// verifyFiles checks each file of an artifact directory against its
// recorded digest.
func verifyFiles(dir string, files map[string]string) error {
	for name, want := range files {
		got, err := fileDigest(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if got != want {
			return fmt.Errorf("%w: %s/%s: sha256 %s, recorded %s", ErrCorrupt, dir, name, got, want)
		}
	}
	return nil
}

// findModules sets a.Modules from the artifact's files: the one
// modules/RELEASE directory, which must hold modules.dep. A built
// kernel's artifact whose config builds modules but that holds none is
// incomplete (stored before kvmtest kept modules); a prebuilt kernel may
// have been imported without its modules.
func (a *Artifact) findModules() error {
	releases := map[string]bool{}
	for name := range a.Meta.Files {
		if rest, ok := strings.CutPrefix(name, modulesSub+"/"); ok {
			rel, _, _ := strings.Cut(rest, "/")
			releases[rel] = true
		}
	}
	switch len(releases) {
	case 0:
		if a.Config == "" || a.Meta.Inputs[inputKind] == kindPrebuilt {
			return nil
		}
		cfg, err := os.ReadFile(a.Config)
		if err != nil {
			return err
		}
		if configHasModules(cfg) {
			return errors.New("its config builds modules (CONFIG_MODULES=y and options =m) but it holds none")
		}
		return nil
	case 1:
		for rel := range releases {
			if _, ok := a.Meta.Files[modulesSub+"/"+rel+"/modules.dep"]; !ok {
				return fmt.Errorf("its modules (%s/%s) have no modules.dep", modulesSub, rel)
			}
			a.Modules = filepath.Join(a.Dir, modulesSub, rel)
		}
		return nil
	}
	return fmt.Errorf("it holds modules of %d releases", len(releases))
}

// checkArtifactName accepts the name of a file in an artifact: a
// slash-separated path inside the artifact directory (bzImage,
// modules/6.12.118/modules.dep), not meta.json, not escaping it.
func checkArtifactName(name string) error {
	if !filepath.IsLocal(name) || path.Clean(name) != name || strings.Contains(name, "\\") || name == "meta.json" {
		return fmt.Errorf("artifact file name %q is not a plain path inside the artifact", name)
	}
	return nil
}

// StoreArtifact copies files (name -> source path) into artifacts/KEY
// atomically: everything is written and fsynced under a temporary name,
// then renamed into place. A name may have directories
// (modules/RELEASE/kernel/fs/fuse/virtiofs.ko), created as needed; one
// that is absolute, has a .. or is not clean is refused before anything is
// written. An existing entry under key is replaced.
func (c *Cache) StoreArtifact(m Meta, files map[string]string) (*Artifact, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		if err := checkArtifactName(n); err != nil {
			return nil, fmt.Errorf("storing artifact %s: %w", m.Key, err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	tmp, err := os.MkdirTemp(c.Path("tmp"), "artifact-")
	if err != nil {
		return nil, fmt.Errorf("storing artifact: %w", err)
	}
	defer os.RemoveAll(tmp)
	// Many files (a modules tree) are synced at once, by syncfs(2): a
	// fsync each costs seconds for a distribution kernel's thousand.
	many := len(names) > manyFiles
	m.Files = map[string]string{}
	for _, name := range names {
		dst := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("storing artifact %s: %w", m.Key, err)
		}
		d, err := copyFileDigest(files[name], dst, !many)
		if err != nil {
			return nil, fmt.Errorf("storing artifact %s: %w", m.Key, err)
		}
		m.Files[name] = d
	}
	if many {
		if err := syncFS(tmp); err != nil {
			return nil, fmt.Errorf("storing artifact %s: %w", m.Key, err)
		}
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(tmp, "meta.json"), mb); err != nil {
		return nil, fmt.Errorf("storing artifact %s: %w", m.Key, err)
	}
	dst := c.Path("artifacts", m.Key)
	if err := os.RemoveAll(dst); err != nil {
		return nil, fmt.Errorf("replacing artifact %s: %w", m.Key, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("storing artifact %s: %w", m.Key, err)
	}
	syncDir(c.Path("artifacts"))
	return c.LoadArtifact(m.Key)
}

// ArtifactInfo is one entry listed by List.
type ArtifactInfo struct {
	Meta
	Dir   string
	Size  int64
	Error string // non-empty when the entry is damaged
}

// List returns every stored artifact, newest first.
func (c *Cache) List() ([]ArtifactInfo, error) {
	ents, err := os.ReadDir(c.Path("artifacts"))
	if err != nil {
		return nil, fmt.Errorf("listing cache: %w", err)
	}
	var out []ArtifactInfo
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		info := ArtifactInfo{Dir: c.Path("artifacts", e.Name())}
		a, err := c.LoadArtifact(e.Name())
		if err != nil {
			info.Key = e.Name()
			info.Error = err.Error()
		} else {
			info.Meta = a.Meta
		}
		info.Size = DirSize(info.Dir)
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BuiltAt.After(out[j].BuiltAt) })
	return out, nil
}

// GC removes artifacts beyond the newest keep, and those older than
// maxAge when maxAge > 0, together with their build directories; and the
// content-keyed entries, extracted sources, worktrees, build slots and
// build logs unused for a week (or maxAge, when shorter); and the scratch
// directories of processes that are gone (RemoveStaleTemp). It returns
// what it removed: artifact keys, and the others as SUBDIR/NAME (or the
// full path of a scratch directory outside the cache).
func (c *Cache) GC(keep int, maxAge time.Duration) ([]string, error) {
	removed, err := c.gcArtifacts(keep, maxAge)
	if err != nil {
		return removed, err
	}
	idle := 7 * 24 * time.Hour
	if maxAge > 0 && maxAge < idle {
		idle = maxAge
	}
	removed = append(removed, c.gcContent(idle)...)
	removed = append(removed, c.RemoveStaleTemp()...)
	locked, err := c.gcLocked(idle)
	removed = append(removed, locked...)
	if err != nil {
		return removed, err
	}
	c.gcLogs(idle)
	return removed, nil
}

// gcArtifacts removes artifacts beyond the newest keep, those older than
// maxAge (when > 0) and damaged ones, each under its build lock.
func (c *Cache) gcArtifacts(keep int, maxAge time.Duration) ([]string, error) {
	list, err := c.List()
	if err != nil {
		return nil, err
	}
	var removed []string
	for i, a := range list {
		old := maxAge > 0 && time.Since(a.BuiltAt) > maxAge
		if i < keep && !old && a.Error == "" {
			continue
		}
		unlock, err := c.Lock("build-" + a.Key)
		if err != nil {
			return removed, err
		}
		err = os.RemoveAll(a.Dir)
		unlock()
		if err != nil {
			return removed, fmt.Errorf("removing %s: %w", a.Dir, err)
		}
		removed = append(removed, a.Key)
	}
	return removed, nil
}

// gcContent removes compiled guest programs, kselftest sets and
// materialized kvmtest sources (keyed by content and touched when used)
// unused for idle, and the Debian packages apt-get downloaded longer ago
// than that (a later use downloads one again).
func (c *Cache) gcContent(idle time.Duration) []string {
	var removed []string
	for _, d := range []struct{ sub, dir string }{
		{guestSub, c.GuestDir()},
		{kselftestSub, c.KselftestDir()},
		{selfSub, c.SelfDir()},
		{debsSub + "/" + downloadSub, c.Path(debsSub, downloadSub)},
	} {
		ents, _ := os.ReadDir(d.dir)
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil || time.Since(fi.ModTime()) < idle {
				continue
			}
			if err := os.RemoveAll(filepath.Join(d.dir, e.Name())); err == nil {
				removed = append(removed, d.sub+"/"+e.Name())
			}
		}
	}
	return removed
}

// gcLocked removes extracted sources, git worktrees (one per commit a
// bisection visited), build slots and unpacked .debs, stamped when used (markUsed), idle
// for idle, each under the lock its users take. A source that is needed
// again is extracted or checked out again; a slot whose pristine tree went
// is rebuilt from scratch.
func (c *Cache) gcLocked(idle time.Duration) ([]string, error) {
	var removed []string
	for _, d := range []struct{ sub, prefix, lock string }{
		{"src", "", "src-"},
		{"work", "slot-", ""},
		{debsSub, "", "deb-"},
	} {
		ents, _ := os.ReadDir(c.Path(d.sub))
		for _, e := range ents {
			name := e.Name()
			if !e.IsDir() || !strings.HasPrefix(name, d.prefix) || strings.HasSuffix(name, ".tmp") || d.sub == debsSub && name == downloadSub {
				continue
			}
			dir := c.Path(d.sub, name)
			if !idleFor(dir, idle) {
				continue
			}
			unlock, err := c.Lock(d.lock + name)
			if err != nil {
				return removed, err
			}
			still := idleFor(dir, idle) // not taken while we waited
			if still {
				err = os.RemoveAll(dir)
			}
			unlock()
			if err != nil {
				return removed, fmt.Errorf("removing %s: %w", dir, err)
			}
			if still {
				removed = append(removed, d.sub+"/"+name)
			}
		}
	}
	return removed, nil
}

// gcLogs removes build logs older than idle.
func (c *Cache) gcLogs(idle time.Duration) {
	ents, _ := os.ReadDir(c.Path("work", "logs"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > idle {
			os.Remove(c.Path("work", "logs", e.Name()))
		}
	}
}

// usedStamp is the file whose modification time says when a cached source
// tree or build slot was last used.
const usedStamp = ".used"

// markUsed records that dir (a source tree's or a slot's directory) is in
// use now, so that cache gc keeps it.
func markUsed(dir string) {
	p := filepath.Join(dir, usedStamp)
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		os.WriteFile(p, nil, 0o644)
	}
}

// idleFor reports whether dir has not been used for d: its stamp, or the
// directory itself when it has none, is older than that.
func idleFor(dir string, d time.Duration) bool {
	fi, err := os.Stat(filepath.Join(dir, usedStamp))
	if err != nil {
		fi, err = os.Stat(dir)
		if err != nil {
			return false
		}
	}
	return time.Since(fi.ModTime()) > d
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFileSync(src, dst string) (digest string, err error) {
	return copyFileDigest(src, dst, true)
}

// copyFileDigest copies src to a new file dst, fsynced when sync, and
// returns the sha256 of what it copied.
func copyFileDigest(src, dst string, sync bool) (digest string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	if sync {
		if err := out.Sync(); err != nil {
			out.Close()
			return "", err
		}
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFileAtomic writes data to path with atomicfile.WriteFile, mode 0644.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

// manyFiles is the number of files above which StoreArtifact syncs the
// file system once instead of each file.
const manyFiles = 64

// syncFS writes out the file system holding dir (syncfs(2)).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// DirSize is the size of the regular files under dir, what could be
// read of it.
func DirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
