package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/guest/proto"
)

// rootPATH is the PATH of a suite that runs in a shared root, and where
// the agent looks up a program named without a slash.
const rootPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// mountFunc is unix.Mount; a variable for tests.
var mountFunc = unix.Mount

// shareMounts are the ways to mount a share, by transport: the type and
// the data. 9p's loose cache is safe on a read-only share and lets
// programs be mapped and run from it.
var shareMounts = map[string][2]string{
	proto.TransportVirtiofs: {"virtiofs", ""},
	proto.Transport9P:       {"9p", "trans=virtio,version=9p2000.L,msize=262144,cache=loose"},
}

// mountShare mounts the share tag read-only at target, over transport
// first and the other transport next (the machine may have fallen back).
func mountShare(tag, transport, target string) error {
	order := []string{proto.TransportVirtiofs, proto.Transport9P}
	if transport == proto.Transport9P {
		order = []string{proto.Transport9P, proto.TransportVirtiofs}
	}
	var errs []string
	for _, tr := range order {
		m := shareMounts[tr]
		err := mountFunc(tag, target, m[0], unix.MS_RDONLY|unix.MS_NODEV, m[1])
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", tr, err))
	}
	return fmt.Errorf("mounting share %s on %s: %s", tag, target, strings.Join(errs, "; "))
}

// setupRoot builds the suites' root as proto.Root says, under base
// (proto.RootDir in the guest): the share read-only at base/lower, a
// tmpfs at base/rw, the overlay of both at base/root with fresh /proc,
// /sys, /dev (no event channel node: it is gone from devtmpfs already),
// /dev/pts, /dev/shm, /tmp and /run, and the initramfs's /init and
// /kvmtest bound at the same paths. It returns the root's path.
func setupRoot(r *proto.Root, base string) (string, error) {
	lower, rw, root := filepath.Join(base, "lower"), filepath.Join(base, "rw"), filepath.Join(base, "root")
	for _, d := range []string{lower, rw, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := mountShare(r.Tag, r.Transport, lower); err != nil {
		return "", err
	}
	if err := mount(mountSpec{source: "kvmtest-rw", target: rw, fstype: "tmpfs", data: "mode=0755"}); err != nil {
		return "", err
	}
	upper, work := filepath.Join(rw, "upper"), filepath.Join(rw, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := mount(mountSpec{source: "overlay", target: root, fstype: "overlay", data: data}); err != nil {
		return "", err
	}
	if err := mountSystem(root); err != nil {
		return "", err
	}
	return root, bindAgent(root)
}

// mountSystem mounts the file systems a suite expects in root.
func mountSystem(root string) error {
	const nodev = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, m := range []mountSpec{
		{source: "proc", target: "/proc", fstype: "proc", flags: nodev},
		{source: "sysfs", target: "/sys", fstype: "sysfs", flags: nodev},
		{source: "devtmpfs", target: "/dev", fstype: "devtmpfs", flags: unix.MS_NOSUID, data: "mode=0755"},
		{source: "devpts", target: "/dev/pts", fstype: "devpts", flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "mode=0620,ptmxmode=0666", optional: true},
		{source: "shm", target: "/dev/shm", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=1777", optional: true},
		{source: "tmpfs", target: "/tmp", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=1777"},
		{source: "tmpfs", target: "/run", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=0755"},
	} {
		m.target = filepath.Join(root, m.target)
		if err := mount(m); err != nil && !m.optional {
			return err
		}
	}
	mountKernelFS(root)
	return nil
}

// bindAgent makes the initramfs's /init and /kvmtest (not what is mounted
// below it, the root itself included) visible at the same paths in root.
func bindAgent(root string) error {
	for _, p := range []string{"/init", "/kvmtest"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // a host test's root has no initramfs
		}
		target := filepath.Join(root, p)
		if fi.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else if _, serr := os.Stat(target); errors.Is(serr, os.ErrNotExist) {
			err = os.WriteFile(target, nil, 0o755)
		}
		if err != nil {
			return fmt.Errorf("making %s in the root: %w", p, err)
		}
		if err := mountFunc(p, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s into the root: %w", p, err)
		}
	}
	return nil
}

// lookPathIn finds a program named without a slash in root's PATH
// (rootPATH) and returns its path inside root.
func lookPathIn(root, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(rootPATH) {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(filepath.Join(root, p))
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in the root's PATH (%s)", name, rootPATH)
}

// prepareRoot builds the manifest's root, if it asks for one: its path,
// or why it could not be built (then logged; every suite ends with it as
// an error, none runs in the initramfs instead).
func prepareRoot(sink Sink, manifest string) (root, rootErr string) {
	m, err := loadManifest(manifest)
	if err != nil || m.Root == nil {
		return "", ""
	}
	root, err = setupRoot(m.Root, proto.RootDir)
	if err != nil {
		logf(sink, "root file system: %v", err)
		return "", "the root file system could not be set up: " + err.Error()
	}
	return root, ""
}
