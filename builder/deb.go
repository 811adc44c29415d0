package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Directories of the cache's Debian kernels, under Root.
const (
	debsSub     = "debs"     // debs/DIGEST: an unpacked .deb (dpkg-deb -x), depmod'ed
	downloadSub = "download" // debs/download/NAME_VERSION_ARCH.deb: what apt-get download fetched
)

// debNameRe is a Debian package name (Debian Policy 5.6.1): it also keeps
// an option (-o...) from reaching apt-get.
var debNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// unpackDeb returns the directory a .deb is unpacked in, unpacking it
// the first time its content is seen (dpkg-deb -x: files only, no
// maintainer scripts, nothing installed into the host). The modules trees
// it holds get modules.dep (depmod, as the package's postinst would run
// it). As with tarballs, concurrent callers wait on a lock and an
// interrupted unpack leaves only a temporary directory the next removes.
func (c *Cache) unpackDeb(ctx context.Context, deb string, logf func(string, ...any)) (string, error) {
	digest, err := c.memoDigest(deb)
	if err != nil {
		return "", fmt.Errorf("kernel package: %w", err)
	}
	dir := c.Path(debsSub, digest)
	if _, err := os.Stat(dir); err == nil {
		markUsed(dir)
		return dir, nil
	}
	unlock, err := c.Lock("deb-" + digest)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(dir); err == nil { // another process finished while we waited
		markUsed(dir)
		return dir, nil
	}
	logf("unpacking %s (once; later runs reuse %s)", deb, dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if err := unpackInto(ctx, deb, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	markUsed(dir)
	return dir, nil
}

// unpackInto unpacks deb into dir and runs depmod on each modules tree
// that has no modules.dep.
func unpackInto(ctx context.Context, deb, dir string) error {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return fmt.Errorf("unpacking %s: dpkg-deb not found (install dpkg)", deb)
	}
	if _, err := runOutputCtx(ctx, "dpkg-deb", "-x", deb, dir); err != nil {
		return fmt.Errorf("unpacking %s: %w", deb, err)
	}
	for _, root := range []string{"lib/modules", "usr/lib/modules"} {
		ents, _ := os.ReadDir(filepath.Join(dir, root))
		for _, e := range ents {
			tree := filepath.Join(dir, root, e.Name())
			if !e.IsDir() || !isModulesTree(tree) {
				continue
			}
			if _, err := os.Stat(filepath.Join(tree, "modules.dep")); err == nil {
				continue
			}
			if err := depmodTree(ctx, tree); err != nil {
				return fmt.Errorf("unpacking %s: %w", deb, err)
			}
		}
	}
	return nil
}

// debKernel finds the kernel in an unpacked linux-image .deb:
// boot/vmlinuz-RELEASE, with boot/config-RELEASE and lib/modules/RELEASE
// (or usr/lib/modules/RELEASE) when it has them.
func debKernel(deb, dir string) (Source, error) {
	imgs, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	switch len(imgs) {
	case 0:
		msg := fmt.Sprintf("%s holds no boot/vmlinuz-*: not a linux-image package", deb)
		if dep, err := runOutput("dpkg-deb", "-f", deb, "Depends"); err == nil && len(strings.TrimSpace(string(dep))) > 0 {
			msg += fmt.Sprintf(" (a metapackage? it depends on %s: name the linux-image package there)", strings.TrimSpace(string(dep)))
		}
		return Source{}, errors.New(msg)
	case 1:
	default:
		return Source{}, fmt.Errorf("%s holds %d kernels (%s), want one", deb, len(imgs), strings.Join(imgs, ", "))
	}
	rel := strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	src := Source{Image: imgs[0]}
	if p := filepath.Join(dir, "boot", "config-"+rel); fileExists(p) {
		src.Config = p
	}
	for _, root := range []string{"lib/modules", "usr/lib/modules"} {
		if d := filepath.Join(dir, root, rel); isModulesTree(d) {
			src.Modules = d
			break
		}
	}
	return src, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// downloadedPackage returns the .deb of package name that apt-get download
// fetched before (debs/download/NAME_*.deb, the newest when there are
// several), or "".
func (c *Cache) downloadedPackage(name string) string {
	if !debNameRe.MatchString(name) {
		return ""
	}
	debs, _ := filepath.Glob(c.Path(debsSub, downloadSub, name+"_*.deb"))
	var best string
	var bestTime time.Time
	for _, d := range debs {
		if fi, err := os.Stat(d); err == nil && fi.Mode().IsRegular() && (best == "" || fi.ModTime().After(bestTime)) {
			best, bestTime = d, fi.ModTime()
		}
	}
	return best
}

// downloadPackage returns the .deb of a Debian package (a real package,
// such as linux-image-6.1.0-50-cloud-amd64), fetched with apt-get download
// into debs/download/ the first time and reused after: nothing is
// installed. apt-get's output goes to logw.
func (c *Cache) downloadPackage(ctx context.Context, name string, logw io.Writer, logf func(string, ...any)) (string, error) {
	if !debNameRe.MatchString(name) {
		return "", fmt.Errorf("kernel package %q: not a Debian package name", name)
	}
	if p := c.downloadedPackage(name); p != "" {
		return p, nil
	}
	unlock, err := c.Lock("deb-download-" + name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if p := c.downloadedPackage(name); p != "" {
		return p, nil
	}
	dir := c.Path(debsSub, downloadSub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Into a directory of its own, renamed into place when whole.
	tmp, err := os.MkdirTemp(dir, "tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	logf("downloading package %s (once; later runs reuse it from %s)", name, dir)
	fmt.Fprintf(logw, "kvmtest: apt-get download %s\n", name)
	cmd := exec.CommandContext(ctx, "apt-get", "download", name)
	cmd.Dir = tmp
	var out strings.Builder
	cmd.Stdout = io.MultiWriter(logw, &out)
	cmd.Stderr = io.MultiWriter(logw, &out)
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("apt-get download %s: %w: %s (is it a package name apt-cache show knows? apt-get update may be needed)", name, err, aptError(out.String()))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, name+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d %s_*.deb files, want one", name, len(debs), name)
	}
	dst := filepath.Join(dir, filepath.Base(debs[0]))
	if err := os.Rename(debs[0], dst); err != nil {
		return "", err
	}
	syncDir(dir)
	return dst, nil
}

// aptError picks apt's error lines (E: ...) from its output, or its last line.
func aptError(out string) string {
	var errs []string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "E: ") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 {
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return strings.Join(errs, "; ")
}
