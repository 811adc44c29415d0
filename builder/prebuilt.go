package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/internal/kimage"
)

// Prebuilt reports whether s names a kernel that is imported, not built:
// an image, a .deb or a Debian package.
func (s Source) Prebuilt() bool { return s.Image != "" || s.Deb != "" || s.Package != "" }

// errPrebuiltPatches refuses a patch series on a kernel that is not built.
var errPrebuiltPatches = errors.New("patch series cannot apply to a prebuilt kernel")

// prebuiltKernel is a prebuilt kernel's files, found and checked.
type prebuiltKernel struct {
	Image   string // an x86_64 bzImage
	Release string // read from the image
	Config  string // its .config; "" when unknown
	Modules string // its modules tree (a /lib/modules/RELEASE, with modules.dep); "" when none
	Notes   []string
	// scratch holds what the import made (an embedded config written out,
	// a modules tree given without modules.dep, copied and depmod'ed);
	// removed when the import is done.
	scratch string
}

func (k *prebuiltKernel) cleanup() {
	if k.scratch != "" {
		os.RemoveAll(k.scratch)
	}
}

// importPrebuilt returns the artifact of a prebuilt kernel (req.Source is
// an Image, a Deb or a Package), importing it into the cache the first
// time: the image, its config (given, the .deb's, or embedded in the
// image) and its modules, content-addressed like a built kernel's. Nothing
// is built; req.Config is not applied. A failure is a *BuildError.
func (b *Builder) importPrebuilt(ctx context.Context, req Request, logw io.Writer) (*Artifact, error) {
	if len(req.Patches) > 0 {
		return nil, &BuildError{Phase: PhasePatch, Err: errPrebuiltPatches}
	}
	if s := req.Source; s.Image == "" && (s.Modules != "" || s.Config != "") {
		return nil, &BuildError{Phase: PhaseSource, Err: fmt.Errorf("%s: modules and config go with an image, not alone", s)}
	}
	b.phase(req, PhaseSource)
	start := time.Now()
	src := req.Source
	if src.Package != "" {
		deb, err := b.Cache.downloadPackage(ctx, src.Package, logw, b.logf)
		if err != nil {
			return nil, &BuildError{Phase: PhaseSource, Err: err}
		}
		src = Source{Deb: deb}
	}
	ikey, err := b.Cache.prebuiltInputKey(src)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	a, unlock, err := b.hitOrLock(req, ikey, "import", logw)
	if a != nil || err != nil {
		return a, err
	}
	defer unlock()
	k, err := b.Cache.resolvePrebuilt(ctx, src, b.logf)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	defer k.cleanup()
	a, err = b.storePrebuilt(req, k, ikey, start, logw)
	if err != nil {
		return nil, &BuildError{Phase: PhaseSource, Err: err}
	}
	return a, nil
}

// lookupPrebuilt is Lookup for a prebuilt source: a Package counts only
// when its .deb was downloaded before.
func (b *Builder) lookupPrebuilt(req Request) *Artifact {
	if len(req.Patches) > 0 {
		return nil
	}
	src := req.Source
	if src.Package != "" {
		deb := b.Cache.downloadedPackage(src.Package)
		if deb == "" {
			return nil
		}
		src = Source{Deb: deb}
	}
	ikey, err := b.Cache.prebuiltInputKey(src)
	if err != nil {
		return nil
	}
	return b.lookup(ikey)
}

// storePrebuilt stores a resolved prebuilt kernel as an artifact, under
// the key of its content: keyVersion, the image's digest, the config's and
// each module file's. An artifact of the same content stored before (by
// another source form) is reused.
func (b *Builder) storePrebuilt(req Request, k *prebuiltKernel, ikey string, start time.Time, logw io.Writer) (*Artifact, error) {
	files := map[string]string{fileImage: k.Image}
	if k.Config != "" {
		files[fileConfig] = k.Config
	}
	if k.Modules != "" {
		mods, err := moduleFiles(k.Modules)
		if err != nil {
			return nil, err
		}
		for n, p := range mods {
			files[n] = p
		}
	}
	digests, err := fileDigests(files)
	if err != nil {
		return nil, err
	}
	key := prebuiltKey(digests)
	if a, err := b.Cache.LoadArtifact(key); err == nil {
		fmt.Fprintf(logw, "kvmtest: prebuilt kernel %s is artifact %s, imported before\n", k.Release, key)
		a.Cached = true
		return a, writeFileAtomic(b.Cache.Path("index", ikey), []byte(key+"\n"))
	}
	logDir := b.Cache.Path("work", "logs")
	os.MkdirAll(logDir, 0o755)
	logPath := filepath.Join(logDir, ikey+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	out := io.MultiWriter(lf, logw)
	fmt.Fprintf(out, "kvmtest: importing the prebuilt kernel %s from %s (nothing is built)\n", k.Release, req.Source)
	fmt.Fprintf(out, "kvmtest: image %s\n", k.Image)
	if k.Config != "" {
		fmt.Fprintf(out, "kvmtest: config %s\n", k.Config)
	}
	if k.Modules != "" {
		fmt.Fprintf(out, "kvmtest: modules %s (%d files)\n", k.Modules, countModules(files))
	}
	if c := req.Config; c.Base != "" || len(c.Fragments) > 0 || len(c.Options) > 0 {
		k.Notes = append(k.Notes, "the requested config (base "+c.Base+") is not applied: a prebuilt kernel is not built")
	}
	for _, n := range k.Notes {
		fmt.Fprintf(out, "kvmtest: %s\n", n)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(out, "kvmtest: imported %s in %.1fs\n", k.Release, secs)
	lf.Sync()
	files[fileLog] = logPath
	meta := Meta{
		Key:     key,
		Kernel:  req.Kernel,
		Version: k.Release,
		Inputs: map[string]string{
			inputKind:   kindPrebuilt,
			"source":    req.Source.String(),
			"input_key": ikey,
			"arch":      "x86_64",
			"image":     digests[fileImage],
			"config":    digests[fileConfig],
		},
		BuiltAt:   time.Now().UTC(),
		BuildSecs: secs,
	}
	a, err := b.Cache.StoreArtifact(meta, files)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(b.Cache.Path("index", ikey), []byte(key+"\n")); err != nil {
		return nil, err
	}
	return a, nil
}

func countModules(files map[string]string) int {
	n := 0
	for name := range files {
		if strings.HasPrefix(name, modulesSub+"/") {
			n++
		}
	}
	return n
}

// fileDigests returns the sha256 of each file (name -> path).
func fileDigests(files map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(files))
	for name, p := range files {
		d, err := fileDigest(p)
		if err != nil {
			return nil, err
		}
		out[name] = d
	}
	return out, nil
}

// prebuiltKey is the artifact key of a prebuilt kernel: keyVersion and the
// digest of each of its files (bzImage, config, modules/...).
func prebuiltKey(digests map[string]string) string {
	names := make([]string, 0, len(digests))
	for n := range digests {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\nprebuilt\n", keyVersion)
	for _, n := range names {
		fmt.Fprintf(h, "file %s %s\n", n, digests[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// prebuiltInputKey identifies a prebuilt source cheaply, without
// unpacking or reading more than headers: a .deb by its content digest
// (remembered per path, size and mtime), an image by its digest, its
// config's and the names, sizes and modification times of its modules
// tree's files. It maps to the artifact key in index/, as a build's input
// key does. A Package must have been resolved to its .deb first.
func (c *Cache) prebuiltInputKey(src Source) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nprebuilt-input\n", keyVersion)
	switch {
	case src.Deb != "":
		d, err := c.memoDigest(src.Deb)
		if err != nil {
			return "", fmt.Errorf("kernel package: %w", err)
		}
		fmt.Fprintf(h, "deb %s\n", d)
	case src.Image != "":
		info, err := probeBootable(src.Image)
		if err != nil {
			return "", err
		}
		d, err := c.memoDigest(src.Image)
		if err != nil {
			return "", fmt.Errorf("kernel image: %w", err)
		}
		fmt.Fprintf(h, "image %s\n", d)
		if src.Config != "" {
			d, err := c.memoDigest(src.Config)
			if err != nil {
				return "", fmt.Errorf("kernel config: %w", err)
			}
			fmt.Fprintf(h, "config %s\n", d)
		}
		if src.Modules != "" {
			dir, err := modulesDirFor(src.Modules, info.Release)
			if err != nil {
				return "", err
			}
			stamp, err := treeStamp(dir)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "modules %s\n", stamp)
		}
	default:
		return "", errors.New("not a prebuilt kernel source")
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// treeStamp digests the path, names, sizes and modification times of a
// tree's files: any change to a file changes it.
func treeStamp(dir string) (string, error) {
	lines, err := fileStamps(dir)
	if err != nil {
		return "", fmt.Errorf("modules %s: %w", dir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", dir, strings.Join(lines, "\n"))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// probeBootable probes a kernel image and refuses one kvmtest cannot boot.
func probeBootable(image string) (kimage.Info, error) {
	info, err := kimage.Probe(image)
	if err != nil {
		return info, err
	}
	if !info.Bootable() {
		return info, fmt.Errorf("%s is an %s %s (%s): kvmtest boots x86_64 bzImages only", image, info.Arch, info.Format, info.Release)
	}
	return info, nil
}

// resolvePrebuilt finds and checks a prebuilt kernel's files: a .deb is
// unpacked into the cache (once) and its boot/vmlinuz-RELEASE,
// boot/config-RELEASE and lib/modules/RELEASE taken; an image's release
// is read from it and its modules must be of that release. Without a
// config file, the image's embedded one (CONFIG_IKCONFIG) is used, or the
// configs.ko of its modules (CONFIG_IKCONFIG=m).
func (c *Cache) resolvePrebuilt(ctx context.Context, src Source, logf func(string, ...any)) (*prebuiltKernel, error) {
	if src.Deb != "" {
		dir, err := c.unpackDeb(ctx, src.Deb, logf)
		if err != nil {
			return nil, err
		}
		if src, err = debKernel(src.Deb, dir); err != nil {
			return nil, err
		}
	}
	info, err := probeBootable(src.Image)
	if err != nil {
		return nil, err
	}
	k := &prebuiltKernel{Image: src.Image, Release: info.Release, Config: src.Config}
	ok := false
	defer func() {
		if !ok {
			k.cleanup()
		}
	}()
	if src.Modules != "" {
		if k.Modules, err = modulesDirFor(src.Modules, info.Release); err != nil {
			return nil, err
		}
		if err := c.ensureModulesDep(ctx, k); err != nil {
			return nil, err
		}
	}
	if k.Config == "" {
		if err := c.embeddedConfig(k); err != nil {
			return nil, err
		}
	}
	if k.Config != "" && k.Modules == "" {
		if cfg, err := os.ReadFile(k.Config); err == nil && configHasModules(cfg) {
			k.Notes = append(k.Notes, "warning: its config builds modules (options =m) but no modules were given: the guest has none of them")
		}
	}
	ok = true
	return k, nil
}

// scratchDir returns the import's scratch directory, making it.
func (c *Cache) scratchDir(k *prebuiltKernel) (string, error) {
	if k.scratch == "" {
		d, err := c.NewTempDir("import-", 0)
		if err != nil {
			return "", err
		}
		k.scratch = d
	}
	return k.scratch, nil
}

// embeddedConfig sets k.Config to the config embedded in the image, or in
// the modules' configs.ko, written to the scratch directory; it leaves it
// "" (with a note) when there is none or it cannot be read.
func (c *Cache) embeddedConfig(k *prebuiltKernel) error {
	from := []string{k.Image}
	if k.Modules != "" {
		ko, _ := filepath.Glob(filepath.Join(k.Modules, "kernel", "kernel", "configs.ko*"))
		from = append(from, ko...)
	}
	var why []string
	for _, f := range from {
		cfg, err := kimage.EmbeddedConfig(f)
		if err != nil {
			if !errors.Is(err, kimage.ErrNoConfig) {
				why = append(why, err.Error())
			}
			continue
		}
		dir, err := c.scratchDir(k)
		if err != nil {
			return err
		}
		k.Config = filepath.Join(dir, "config")
		k.Notes = append(k.Notes, "config: the one embedded in "+f+" (CONFIG_IKCONFIG)")
		return os.WriteFile(k.Config, cfg, 0o644)
	}
	note := "no config: none was given and the kernel carries none (no CONFIG_IKCONFIG)"
	if len(why) > 0 {
		note = "no config: none was given, and " + strings.Join(why, "; ")
	}
	k.Notes = append(k.Notes, note)
	return nil
}

// ensureModulesDep gives k a modules tree with modules.dep: one without
// (as a .deb ships it, before its postinst runs depmod) is copied into the
// scratch directory and depmod'ed there; the given tree is never written.
func (c *Cache) ensureModulesDep(ctx context.Context, k *prebuiltKernel) error {
	if _, err := os.Stat(filepath.Join(k.Modules, "modules.dep")); err == nil {
		return nil
	}
	dir, err := c.scratchDir(k)
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, "modules", k.Release)
	if err := copyTree(k.Modules, dst); err != nil {
		return fmt.Errorf("copying modules %s: %w", k.Modules, err)
	}
	if err := depmodTree(ctx, dst); err != nil {
		return err
	}
	k.Notes = append(k.Notes, "modules "+k.Modules+" had no modules.dep: depmod made it on a copy")
	k.Modules = dst
	return nil
}

// copyTree copies the regular files and directories of src to dst;
// symbolic links are left out.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, to)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// depmodTree runs depmod on a modules tree (a directory named RELEASE),
// which gets modules.dep, modules.alias and the other indexes: depmod -b
// on a scratch root whose lib/modules/RELEASE and usr/lib/modules/RELEASE
// (where a depmod of either kind looks) link to the tree.
func depmodTree(ctx context.Context, tree string) error {
	depmod, err := depmodPath()
	if err != nil {
		return err
	}
	release := filepath.Base(tree)
	root, err := os.MkdirTemp(filepath.Dir(tree), ".depmod-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(tree, filepath.Join(root, d, release)); err != nil {
			return err
		}
	}
	if _, err := runOutputCtx(ctx, depmod, "-b", root, release); err != nil {
		return fmt.Errorf("depmod on %s: %w", tree, err)
	}
	if _, err := os.Stat(filepath.Join(tree, "modules.dep")); err != nil {
		return fmt.Errorf("depmod on %s left no modules.dep", tree)
	}
	return nil
}

// modulesDirFor returns the modules tree of release in dir: dir itself
// when it is a modules tree (a /lib/modules/RELEASE, its name the
// release), or dir/RELEASE (dir a /lib/modules). A tree of another
// release is an error that names both.
func modulesDirFor(dir, release string) (string, error) {
	if isModulesTree(dir) {
		if rel := filepath.Base(filepath.Clean(dir)); rel != release {
			return "", fmt.Errorf("modules %s are for %s, the image is %s", dir, rel, release)
		}
		return dir, nil
	}
	if sub := filepath.Join(dir, release); isModulesTree(sub) {
		return sub, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("kernel modules: %w", err)
	}
	var rels []string
	for _, e := range ents {
		if isModulesTree(filepath.Join(dir, e.Name())) {
			rels = append(rels, e.Name())
		}
	}
	switch len(rels) {
	case 0:
		return "", fmt.Errorf("modules %s: no modules tree (modules.order, modules.builtin or kernel/) in it or in %s/%s", dir, dir, release)
	case 1:
		return "", fmt.Errorf("modules %s are for %s, the image is %s", dir, rels[0], release)
	}
	return "", fmt.Errorf("modules %s are for %s, the image is %s", dir, strings.Join(rels, ", "), release)
}

// isModulesTree reports whether dir looks like a /lib/modules/RELEASE.
func isModulesTree(dir string) bool {
	for _, f := range []string{"modules.order", "modules.builtin", "modules.dep", "kernel"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// KernelCompanions returns the config and modules that go with a kernel
// image installed the Debian way, for kvmtest boot --kernel
// /boot/vmlinuz-RELEASE: /boot/config-RELEASE beside it and
// /lib/modules/RELEASE (with its modules.dep), each "" when it does not
// exist. RELEASE is the one read from the image, or else the file name's
// suffix after "vmlinuz-"; modules of another release than the image's
// are not returned.
func KernelCompanions(image string) (config, modules string) {
	return kernelCompanions(image, "/lib/modules")
}

func kernelCompanions(image, modRoot string) (config, modules string) {
	var names []string
	if info, err := kimage.Probe(image); err == nil && info.Release != "" {
		names = append(names, info.Release)
	}
	if suffix, ok := strings.CutPrefix(filepath.Base(image), "vmlinuz-"); ok && suffix != "" {
		names = append(names, suffix)
	}
	for _, rel := range names {
		p := filepath.Join(filepath.Dir(image), "config-"+rel)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && config == "" {
			config = p
		}
	}
	if len(names) > 0 {
		// The first name is the image's release when it could be read.
		if d := filepath.Join(modRoot, names[0]); fileExists(filepath.Join(d, "modules.dep")) {
			modules = d
		}
	}
	return config, modules
}
