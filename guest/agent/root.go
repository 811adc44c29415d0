package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// The suites' root (proto.Root)
//
// When the manifest has a Root, PID 1 builds it before the first suite,
// under proto.RootDir (base below), in this order:
//
//  1. the share (Root.Tag) read-only at base/lower, over Root.Transport,
//     the other transport next (the host may have fallen back);
//  2. a tmpfs at base/rw with the overlay's upper/ and work/;
//  3. the overlay (lower: the share; upper: the tmpfs) at base/root;
//  4. in base/root, fresh system mounts (setupSystemAt: /proc, /sys,
//     /dev, /tmp, /run, ...; no event channel node);
//  5. the initramfs's /init and /kvmtest bound at the same paths in it.
//
// The mounts are PID 1's, so the worker and the suites see them; each
// suite is chrooted into base/root (runner.root, SysProcAttr.Chroot).
// Anything that fails stops the set-up: it is logged, and every suite
// ends as an error with it (runner.rootErr), none runs in the initramfs.

// rootPATH is the PATH of a suite that runs in a shared root, and where
// the agent looks up a program named without a slash.
const rootPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// shareMount is how a share is mounted over one transport.
type shareMount struct {
	fstype string
	flags  uintptr
	data   string
}

// shareMounts are the ways to mount a share, by transport. The share is
// read-only and nothing else changes it while the VM runs, so 9p's
// loose cache (meant for "exclusive, read-only mounts") is safe, and the
// fastest; every 9p cache mode maps files privately, which is all exec
// and the dynamic loader need (cache=mmap is for shared writable maps).
// msize stays within what every kernel's virtio transport takes.
var shareMounts = map[string]shareMount{
	proto.TransportVirtiofs: {"virtiofs", unix.MS_RDONLY | unix.MS_NODEV, ""},
	proto.Transport9P:       {"9p", unix.MS_RDONLY | unix.MS_NODEV, "trans=virtio,version=9p2000.L,msize=262144,cache=loose"},
}

// mountShare mounts the share r.Tag read-only at target with mnt, over
// r.Transport first and the other transport next. The error says what
// each transport answered.
func mountShare(mnt mounter, r *proto.Root, target string) error {
	order := []string{proto.TransportVirtiofs, proto.Transport9P}
	if r.Transport == proto.Transport9P {
		order = []string{proto.Transport9P, proto.TransportVirtiofs}
	}
	var errs []string
	for _, tr := range order {
		m := shareMounts[tr]
		err := mnt(r.Tag, target, m.fstype, m.flags, m.data)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", tr, err))
	}
	return fmt.Errorf("mounting share %q read-only on %s: %s", r.Tag, target, strings.Join(errs, "; "))
}

// bind is a path of the initramfs made visible in the root.
type bind struct {
	from string // outside the root
	to   string // inside the root
}

// rootOps are the operations setupRoot performs, to be replaced in tests.
type rootOps struct {
	// mount does every mount but the share's.
	mount mounter
	// mountShare mounts the share read-only at target.
	mountShare func(r *proto.Root, target string) error
	// binds are bound into the root, in order.
	binds []bind
}

// guestRootOps are the operations of PID 1: the real mounts, the share
// over virtiofs or 9p, and the initramfs's /init and /kvmtest.
func guestRootOps() rootOps {
	return rootOps{
		mount:      unix.Mount,
		mountShare: func(r *proto.Root, target string) error { return mountShare(unix.Mount, r, target) },
		binds:      []bind{{"/init", "/init"}, {"/kvmtest", "/kvmtest"}},
	}
}

// setupRoot builds the suites' root that r describes under base
// (proto.RootDir in the guest), with ops, in the order the comment at
// the top of root.go gives. It returns the root's path (base/root), and
// the problems that do not stop the suites (warnings: the event
// channel's node could not be removed from the root's /dev). Any other
// problem is the error, and the set-up stops there.
func setupRoot(r *proto.Root, base string, ops rootOps) (root string, warnings []string, err error) {
	lower, rw, root := filepath.Join(base, "lower"), filepath.Join(base, "rw"), filepath.Join(base, "root")
	for _, d := range []string{lower, rw, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, fmt.Errorf("making %s: %w", d, err)
		}
	}
	if err := ops.mountShare(r, lower); err != nil {
		return "", nil, err
	}
	if err := mount(ops.mount, mountSpec{source: "kvmtest-rw", target: rw, fstype: "tmpfs", data: "mode=0755"}); err != nil {
		return "", nil, err
	}
	upper, work := filepath.Join(rw, "upper"), filepath.Join(rw, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", nil, fmt.Errorf("making the overlay's %s: %w", d, err)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := mount(ops.mount, mountSpec{source: "overlay", target: root, fstype: "overlay", data: data}); err != nil {
		return "", nil, err
	}
	if errs := setupSystemAt(root, ops.mount, true); len(errs) > 0 {
		return "", nil, fmt.Errorf("system mounts in the root: %w", errors.Join(errs...))
	}
	// A devtmpfs is one file system however often mounted: PID 1 removed
	// the node already. Make sure, whatever /dev the root got.
	evDev, _ := devices()
	if err := os.Remove(root + evDev); err != nil && !errors.Is(err, fs.ErrNotExist) {
		warnings = append(warnings, fmt.Sprintf("removing the event channel's node from the root: %v", err))
	}
	for _, b := range ops.binds {
		if err := bindInto(ops.mount, root, b); err != nil {
			return "", nil, err
		}
	}
	return root, warnings, nil
}

// bindInto binds b.from (what is mounted below it not included) at b.to
// in root, making the mount point in the root first: a directory or an
// empty file like b.from, replacing a symbolic link (which would lead
// out of the root).
func bindInto(mnt mounter, root string, b bind) error {
	fi, err := os.Stat(b.from)
	if err != nil {
		return fmt.Errorf("binding into the root: %w", err)
	}
	target := filepath.Join(root, b.to)
	if err := unlinkSymlink(target); err != nil {
		return err
	}
	switch ti, err := os.Lstat(target); {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("making %s in the root: %w", b.to, err)
		}
		if fi.IsDir() {
			err = os.Mkdir(target, 0o755)
		} else {
			err = os.WriteFile(target, nil, 0o755)
		}
		if err != nil {
			return fmt.Errorf("making %s in the root: %w", b.to, err)
		}
	case err != nil:
		return fmt.Errorf("binding %s into the root: %w", b.to, err)
	case ti.IsDir() != fi.IsDir():
		return fmt.Errorf("binding %s into the root: the root's %s is a %v, not like %s", b.from, b.to, ti.Mode().Type(), b.from)
	}
	if err := mnt(b.from, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s at %s in the root: %w", b.from, b.to, err)
	}
	return nil
}

// maxSymlinks bounds the symbolic links followed resolving one path, as
// the kernel's.
const maxSymlinks = 40

// resolveIn resolves name, a path inside root, as the kernel does for a
// process chrooted into root: symbolic links are followed, an absolute
// one from root, and ".." never leads above root. It returns the path of
// the file outside root, every link resolved, or an error if a component
// is missing.
func resolveIn(root, name string) (string, error) {
	resolved, rest, links := "/", name, 0
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(strings.TrimLeft(rest, "/"), "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, comp)
		host := filepath.Join(root, next)
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", &fs.PathError{Op: "resolve", Path: name, Err: unix.ELOOP}
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = target + "/" + rest
	}
	return filepath.Join(root, resolved), nil
}

// lookPathIn finds a program named without a slash in root's PATH
// (rootPATH), resolving symbolic links inside root, and returns its path
// inside root (a name with a slash is returned as it is). The error
// names the program and the root.
func lookPathIn(root, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(rootPATH) {
		p := path.Join(dir, name)
		host, err := resolveIn(root, p)
		if err != nil {
			continue
		}
		fi, err := os.Stat(host)
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in the root's PATH (%s) in the shared root %s", name, rootPATH, root)
}

// loadBootModules loads the manifest's boot modules (Modules.Boot), if
// any, logging what fails: the mount that needs a module then fails and
// says so.
func loadBootModules(sink Sink, manifest string) {
	m, err := loadManifest(manifest)
	if err != nil || m.Modules == nil || len(m.Modules.Boot) == 0 {
		return
	}
	idx, err := loadModuleIndex(path.Join(proto.ModulesDir, m.Modules.Release))
	if err == nil {
		for _, name := range m.Modules.Boot {
			if _, err := idx.probe(name, "", finitModule); err != nil {
				logf(sink, "boot modules: %v", err)
			}
		}
		return
	}
	logf(sink, "boot modules: %v", err)
}

// prepareRoot builds the manifest's root, if it asks for one, with the
// guest's operations: its path, or why it could not be built (logged
// too; every suite then ends with it as an error, none runs in the
// initramfs instead). A manifest that cannot be loaded asks for nothing
// here: the worker reports it.
func prepareRoot(sink Sink, manifest string) (root, rootErr string) {
	m, err := loadManifest(manifest)
	if err != nil || m.Root == nil {
		return "", ""
	}
	ops := guestRootOps()
	if m.Modules != nil {
		// The kernel's modules are in the initramfs: a shared root's
		// modprobe (the host's kmod) finds them at the same path.
		d := path.Join(proto.ModulesDir, m.Modules.Release)
		from := d
		if m.Modules.Shared != "" {
			from = filepath.Join(proto.RootDir, "lower", m.Modules.Shared)
		}
		ops.binds = append(ops.binds, bind{from, d})
	}
	root, warnings, err := setupRoot(m.Root, proto.RootDir, ops)
	for _, w := range warnings {
		logf(sink, "root file system: %s", w)
	}
	if err != nil {
		logf(sink, "root file system: %v", err)
		return "", "the root file system could not be set up: " + err.Error()
	}
	return root, ""
}

// mkdirIn makes the directory name, a path inside root, with its
// parents, as a process chrooted into root would (resolveIn: links are
// followed inside root, never out of it), and returns its path outside
// root.
func mkdirIn(root, name string) (string, error) {
	cur := "/"
	for _, comp := range strings.Split(path.Clean("/"+name), "/") {
		if comp == "" {
			continue
		}
		next := path.Join(cur, comp)
		if _, err := resolveIn(root, next); errors.Is(err, fs.ErrNotExist) {
			parent, err := resolveIn(root, cur)
			if err != nil {
				return "", err
			}
			if err := os.Mkdir(filepath.Join(parent, comp), 0o755); err != nil {
				return "", err
			}
		} else if err != nil {
			return "", err
		}
		cur = next
	}
	host, err := resolveIn(root, name)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s in the root is not a directory", name)
	}
	return host, nil
}

// copyTree copies the directory src (nothing when it does not exist) into
// dst, which exists: directories, regular files (with their permission
// bits) and symbolic links, merged with what dst holds. It does not
// follow links in dst: it is used where dst is inside a root that the
// guest's programs may have changed (the suite's workdir, made by
// mkdirIn), and each file is created there with O_NOFOLLOW|O_EXCL.
func copyTree(src, dst string) error {
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, fi.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if ti, err := os.Lstat(target); err != nil || !ti.IsDir() {
				return fmt.Errorf("%s: not a directory in the root", target)
			}
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFileTo(p, target, fi.Mode().Perm())
		}
		return nil
	})
}

// copyFileTo copies the regular file src to a new file dst (never
// through a link: O_NOFOLLOW|O_EXCL) with mode perm.
func copyFileTo(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(perm); err != nil { // past the umask
		out.Close()
		return err
	}
	return out.Close()
}
