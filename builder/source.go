package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Source names where a kernel comes from: a source to build (Tarball,
// Path, or GitRepo with GitRef), or a prebuilt kernel to import as it is
// (Image with its optional Modules and Config, Deb, or Package). Exactly
// one form is set.
type Source struct {
	Tarball string // a .tar.xz/.tar.gz/.tar such as Debian's /usr/src/linux-source-6.12.tar.xz
	Path    string // a local kernel tree, never written to
	GitRepo string // a git repository (path or URL) ...
	GitRef  string // ... and a ref in it: tag, branch or commit

	// Image is a prebuilt x86_64 bzImage, such as /boot/vmlinuz-RELEASE.
	Image string
	// Modules, with Image, is its modules: /lib/modules/RELEASE itself or
	// a directory holding RELEASE/, of the image's release. Optional.
	Modules string
	// Config, with Image, is its .config. Optional: without it the image's
	// embedded one (CONFIG_IKCONFIG) is used, when it has one.
	Config string
	// Deb is a Debian linux-image-*.deb file, unpacked into the cache
	// (never installed): its boot/vmlinuz-RELEASE, boot/config-RELEASE and
	// lib/modules/RELEASE.
	Deb string
	// Package is a Debian package name such as
	// linux-image-6.1.0-50-cloud-amd64 (a real package, not a
	// metapackage), fetched once with apt-get download, then as Deb.
	Package string
}

// String describes the source for messages.
func (s Source) String() string {
	switch {
	case s.Tarball != "":
		return "tarball " + s.Tarball
	case s.Path != "":
		return "tree " + s.Path
	case s.GitRepo != "":
		return "git " + s.GitRepo + " " + s.GitRef
	case s.Image != "":
		d := "prebuilt image " + s.Image
		var with []string
		if s.Modules != "" {
			with = append(with, "modules "+s.Modules)
		}
		if s.Config != "" {
			with = append(with, "config "+s.Config)
		}
		if len(with) > 0 {
			d += " (" + strings.Join(with, ", ") + ")"
		}
		return d
	case s.Deb != "":
		return "Debian package file " + s.Deb
	case s.Package != "":
		return "Debian package " + s.Package
	}
	return "no source"
}

// prepared is a source tree ready to build from.
type prepared struct {
	Digest string // identity of the content
	Tree   string // directory holding the top-level Makefile
	// GitDir is set for a commit of a git repository: every commit of it
	// shares one build slot, switched from commit to commit by the files
	// that differ (as git bisect does in one tree).
	GitDir string
}

// slotSource is the source part of a slot's identity: the content digest,
// or for git the repository and the kernel's name in the matrix, so that
// the commits one kernel is built at (a bisection's) share a slot, while
// two kernels of one repository (6.12 and next) keep a slot each.
func (p *prepared) slotSource(kernel string) string {
	if p.GitDir != "" {
		sum := sha256.Sum256([]byte(p.GitDir + "\x00" + kernel))
		return "gitrepo-" + hex.EncodeToString(sum[:8])
	}
	return p.Digest
}

// prepareSource returns the tree of src, extracting a tarball into the cache
// the first time it is seen. Extraction happens once per tarball content:
// concurrent callers wait on a lock, and an interrupted extraction leaves
// only a temporary directory that the next attempt removes.
func (c *Cache) prepareSource(ctx context.Context, src Source, logf func(string, ...any)) (*prepared, error) {
	var (
		p   *prepared
		err error
	)
	switch {
	case src.Tarball != "":
		p, err = c.prepareTarball(ctx, src.Tarball, logf)
	case src.Path != "":
		return preparePath(src.Path)
	case src.GitRepo != "":
		p, err = c.prepareGit(ctx, src.GitRepo, src.GitRef, logf)
	case src.Prebuilt():
		return nil, fmt.Errorf("%s is a prebuilt kernel: it has no source tree", src)
	default:
		return nil, fmt.Errorf("kernel source: none given")
	}
	if err == nil {
		markUsed(filepath.Dir(p.Tree)) // src/DIGEST: kept by cache gc
	}
	return p, err
}

func (c *Cache) prepareTarball(ctx context.Context, tarball string, logf func(string, ...any)) (*prepared, error) {
	digest, err := c.tarballDigest(tarball)
	if err != nil {
		return nil, err
	}
	dir := c.Path("src", digest)
	tree := filepath.Join(dir, "tree")
	if isKernelTree(tree) {
		return &prepared{Digest: digest, Tree: tree}, nil
	}
	unlock, err := c.Lock("src-" + digest)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if isKernelTree(tree) { // another process finished while we waited
		return &prepared{Digest: digest, Tree: tree}, nil
	}
	logf("extracting %s (once; later runs reuse %s)", tarball, tree)
	os.RemoveAll(dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "tar", "-xf", tarball, "-C", tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("extracting %s: %w: %s", tarball, err, strings.TrimSpace(stderr.String()))
	}
	top, err := findTop(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("extracting %s: %w", tarball, err)
	}
	if err := os.Rename(top, filepath.Join(tmp, "tree")); err != nil && top != filepath.Join(tmp, "tree") {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &prepared{Digest: digest, Tree: tree}, nil
}

// findTop returns the directory under root holding the kernel's Makefile:
// root itself or its single top-level directory.
func findTop(root string) (string, error) {
	if isKernelTree(root) {
		return root, nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.IsDir() && isKernelTree(filepath.Join(root, e.Name())) {
			return filepath.Join(root, e.Name()), nil
		}
	}
	return "", fmt.Errorf("no kernel tree (Makefile and Kconfig) at the top of the archive")
}

func isKernelTree(dir string) bool {
	for _, f := range []string{"Makefile", "Kconfig", "scripts/kconfig/merge_config.sh"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// tarballDigest returns the sha256 of a tarball's bytes (memoDigest).
func (c *Cache) tarballDigest(path string) (string, error) {
	d, err := c.memoDigest(path)
	if err != nil {
		return "", fmt.Errorf("kernel tarball: %w", err)
	}
	return d, nil
}

// memoDigest returns the sha256 of a file's bytes, remembered in index/
// per (path, size, mtime, inode) so that a warm run does not hash a 150 MB
// tarball or a 30 MB .deb again.
func (c *Cache) memoDigest(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	stamp := fmt.Sprintf("%s\x00%d\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano(), ino)
	sum := sha256.Sum256([]byte(stamp))
	memo := c.Path("index", "digest-"+hex.EncodeToString(sum[:16]))
	if b, err := os.ReadFile(memo); err == nil && len(bytes.TrimSpace(b)) == 64 {
		return string(bytes.TrimSpace(b)), nil
	}
	d, err := fileDigest(path)
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(memo, []byte(d+"\n")); err != nil {
		return "", err
	}
	return d, nil
}

// fileStamps lists "PATH SIZE MTIME" for every regular file under dir
// (paths relative to it, .git left out), sorted: what identifies a tree
// whose files may change in place.
func fileStamps(dir string) ([]string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, fmt.Sprintf("%s %d %d", rel, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	sort.Strings(lines)
	return lines, err
}

// preparePath identifies a local tree by the names, sizes and modification
// times of its files: editing any source file changes the digest.
func preparePath(dir string) (*prepared, error) {
	if !isKernelTree(dir) {
		return nil, fmt.Errorf("kernel source %s: not a kernel tree (no Makefile, Kconfig or scripts/kconfig)", dir)
	}
	h := sha256.New()
	lines, err := fileStamps(dir)
	if err != nil {
		return nil, fmt.Errorf("kernel source %s: %w", dir, err)
	}
	fmt.Fprintf(h, "path %s\n", dir)
	for _, l := range lines {
		fmt.Fprintln(h, l)
	}
	return &prepared{Digest: "tree-" + hex.EncodeToString(h.Sum(nil)), Tree: dir}, nil
}

// SourceTree returns the pristine tree of src: a tarball is extracted into
// the cache once, a git ref is checked out as a worktree once, a local tree
// is itself. The tree is shared and must never be written.
func (c *Cache) SourceTree(ctx context.Context, src Source, logf func(string, ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p, err := c.prepareSource(ctx, src, logf)
	if err != nil {
		return "", err
	}
	return p.Tree, nil
}
