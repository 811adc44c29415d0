package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// configHasModules reports whether a .config builds loadable modules:
// CONFIG_MODULES=y and at least one option =m.
func configHasModules(config []byte) bool {
	vals, _ := parseConfig(config)
	if vals["CONFIG_MODULES"] != "y" {
		return false
	}
	for _, v := range vals {
		if v == "m" {
			return true
		}
	}
	return false
}

// errNoDepmod is the error for a modules build on a host without depmod.
var errNoDepmod = errors.New("depmod not found (in PATH, /usr/sbin or /sbin): install kmod; make modules_install needs it to write modules.dep")

// sbinDirs are where depmodPath looks when PATH has no depmod.
var sbinDirs = []string{"/usr/sbin", "/sbin"}

// depmodPath finds depmod: in PATH, or in /usr/sbin or /sbin, which a
// user's PATH may lack. Without it the kernel's modules_install only warns
// and leaves no modules.dep.
func depmodPath() (string, error) {
	if p, err := exec.LookPath("depmod"); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, "depmod")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNoDepmod
}

// buildModules runs make modules, then make modules_install into a
// scratch directory (stripped, with depmod), and returns the installed
// tree as artifact files (modules/RELEASE/...) and the scratch directory,
// which the caller removes once the files are stored.
func (b *Builder) buildModules(ctx context.Context, req Request, tree, work, depmod string, jobs int, out io.Writer) (files map[string]string, scratch string, err error) {
	mk := append(b.makeArgs(req, tree, work), "DEPMOD="+depmod)
	argv := append(append([]string(nil), mk...), fmt.Sprintf("-j%d", jobs), "modules")
	fmt.Fprintf(out, "kvmtest: %s\n", strings.Join(argv, " "))
	if err := b.run(ctx, work, out, argv...); err != nil {
		return nil, "", err
	}
	scratch, err = b.Cache.NewTempDir("modules-", 0)
	if err != nil {
		return nil, "", err
	}
	argv = append(append([]string(nil), mk...), "modules_install", "INSTALL_MOD_PATH="+scratch, "INSTALL_MOD_STRIP=1")
	fmt.Fprintf(out, "kvmtest: %s\n", strings.Join(argv, " "))
	if err := b.run(ctx, work, out, argv...); err != nil {
		os.RemoveAll(scratch)
		return nil, "", err
	}
	dir, err := installedRelease(filepath.Join(scratch, "lib", "modules"))
	if err == nil {
		files, err = moduleFiles(dir)
	}
	if err != nil {
		os.RemoveAll(scratch)
		return nil, "", fmt.Errorf("make modules_install: %w", err)
	}
	return files, scratch, nil
}

// installedRelease returns the one RELEASE directory under a modules
// root (INSTALL_MOD_PATH/lib/modules).
func installedRelease(root string) (string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return "", err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 1 {
		return "", fmt.Errorf("%s holds %d releases (%s), want one", root, len(dirs), strings.Join(dirs, ", "))
	}
	return filepath.Join(root, dirs[0]), nil
}

// moduleFiles lists an installed modules tree (a /lib/modules/RELEASE) as
// artifact files: modules/RELEASE/PATH -> its path, for each regular file;
// symbolic links (build, source: the kernel tree) are left out. The tree
// must have modules.dep.
func moduleFiles(dir string) (map[string]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "modules.dep")); err != nil {
		return nil, fmt.Errorf("modules %s: no modules.dep (was depmod run?)", dir)
	}
	prefix := modulesSub + "/" + filepath.Base(dir) + "/"
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[prefix+filepath.ToSlash(rel)] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules %s: %w", dir, err)
	}
	return files, nil
}
