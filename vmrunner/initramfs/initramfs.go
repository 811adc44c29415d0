// Package initramfs writes initramfs images: cpio archives in the "newc"
// format (the only one the kernel's init/initramfs.c unpacks), uncompressed.
//
// An Archive is built in memory and written in one go. The output depends on
// the entries only: entries are sorted by path, every parent directory is
// present, timestamps, owners and device numbers of the archive itself are
// zero, and inode numbers follow the sorted order, so the same inputs always
// give byte-identical images (and the same Digest).
package initramfs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// File type bits of the newc mode field (see <sys/stat.h>).
const (
	typeMask = 0o170000
	typeDir  = 0o040000
	typeReg  = 0o100000
	typeLink = 0o120000
	typeChr  = 0o020000
)

const (
	magic      = "070701"
	headerSize = 110 // magic + 13 fields of 8 hex digits
	trailer    = "TRAILER!!!"
	// blockSize is what the archive's total length is padded to, as cpio(1)
	// does; the kernel does not need it but other readers expect it.
	blockSize = 512
	// defaultDirMode is the mode of directories added implicitly as parents.
	defaultDirMode = 0o755
)

type entry struct {
	mode       uint32 // type and permission bits, as in st_mode
	data       []byte // file content or symlink target
	rmaj, rmin uint32 // device numbers of character devices
	name       string // normalized: relative, no leading "/", cleaned
}

// Archive is an in-memory list of initramfs entries. The zero value is an
// empty archive ready to use. An Archive is not safe for concurrent use.
//
// Adding an entry at a path that already has one replaces it, except that a
// directory added implicitly as a parent never replaces anything.
type Archive struct {
	entries map[string]*entry
}

// normalize turns a guest path into the relative, cleaned name stored in
// the archive ("/dev/console" -> "dev/console"). It panics on the root
// directory, which cannot be an entry.
func normalize(guestPath string) string {
	p := strings.TrimPrefix(path.Clean("/"+guestPath), "/")
	if p == "" {
		panic(fmt.Sprintf("initramfs: %q is the root directory, not an entry", guestPath))
	}
	return p
}

func (a *Archive) put(e *entry) {
	if a.entries == nil {
		a.entries = make(map[string]*entry)
	}
	for dir := path.Dir(e.name); dir != "."; dir = path.Dir(dir) {
		if _, ok := a.entries[dir]; !ok {
			a.entries[dir] = &entry{name: dir, mode: typeDir | defaultDirMode}
		}
	}
	a.entries[e.name] = e
}

// permBits converts the permission, setuid, setgid and sticky bits of an
// os.FileMode to their st_mode values; the type bits of mode are ignored.
// Both spellings of the special bits are accepted: os.ModeSticky and the
// octal 0o1000 of chmod(2), so 0o1777 means what it says.
func permBits(mode os.FileMode) uint32 {
	m := uint32(mode & 0o7777)
	if mode&os.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&os.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&os.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// AddFile adds a regular file at guestPath with the permission bits of mode
// (type bits in mode are ignored) and the given content. The archive keeps
// a reference to data: do not modify it afterwards.
func (a *Archive) AddFile(guestPath string, mode os.FileMode, data []byte) {
	a.put(&entry{name: normalize(guestPath), mode: typeReg | permBits(mode), data: data})
}

// AddHostFile adds the content of the host file hostPath as a regular file at
// guestPath. If mode is 0, the permission bits of the host file are used.
func (a *Archive) AddHostFile(guestPath, hostPath string, mode os.FileMode) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("initramfs: adding %s: %w", guestPath, err)
	}
	if mode == 0 {
		fi, err := os.Stat(hostPath)
		if err != nil {
			return fmt.Errorf("initramfs: adding %s: %w", guestPath, err)
		}
		mode = fi.Mode()
	}
	a.AddFile(guestPath, mode, data)
	return nil
}

// AddDir adds a directory with the permission bits of mode. Directories
// that are parents of other entries are added implicitly with mode 0755;
// AddDir is only needed for empty directories or other modes.
func (a *Archive) AddDir(guestPath string, mode os.FileMode) {
	a.put(&entry{name: normalize(guestPath), mode: typeDir | permBits(mode)})
}

// AddSymlink adds a symbolic link at guestPath pointing to target.
func (a *Archive) AddSymlink(guestPath, target string) {
	a.put(&entry{name: normalize(guestPath), mode: typeLink | 0o777, data: []byte(target)})
}

// AddCharDev adds a character device node, for example
// AddCharDev("/dev/console", 0o600, 5, 1).
func (a *Archive) AddCharDev(guestPath string, mode os.FileMode, major, minor uint32) {
	a.put(&entry{name: normalize(guestPath), mode: typeChr | permBits(mode), rmaj: major, rmin: minor})
}

// AddBaseDevices adds the device nodes a Go /init needs before it can
// mount anything: /dev/console (5:1), which the kernel opens as the
// standard input, output and error of init, and /dev/null (1:3), which the
// Go runtime opens instead when those are closed, and without which it
// aborts at startup (and the kernel panics, init having died).
func (a *Archive) AddBaseDevices() {
	a.AddCharDev("/dev/console", 0o600, 5, 1)
	a.AddCharDev("/dev/null", 0o666, 1, 3)
}

// Len returns the number of entries, parent directories included, without
// the trailer.
func (a *Archive) Len() int { return len(a.entries) }

// sorted returns the entries in archive order: by path, which puts every
// directory before its contents (a prefix sorts before its extensions).
func (a *Archive) sorted() []*entry {
	es := make([]*entry, 0, len(a.entries))
	for _, e := range a.entries {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var zeros [blockSize]byte

// pad writes zero bytes up to the next multiple of align.
func (c *countingWriter) pad(align int64) error {
	if r := c.n % align; r != 0 {
		_, err := c.Write(zeros[:align-r])
		return err
	}
	return nil
}

// writeEntry writes one newc header, the NUL-terminated name and the data,
// each padded to 4 bytes.
func (c *countingWriter) writeEntry(ino uint32, e *entry) error {
	nlink := uint32(1)
	if e.mode&typeMask == typeDir {
		nlink = 2
	}
	// Field order of the newc header: ino, mode, uid, gid, nlink, mtime,
	// filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check.
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.rmaj, e.rmin, len(e.name)+1, 0)
	if _, err := io.WriteString(c, hdr); err != nil {
		return err
	}
	if _, err := io.WriteString(c, e.name+"\x00"); err != nil {
		return err
	}
	if err := c.pad(4); err != nil {
		return err
	}
	if _, err := c.Write(e.data); err != nil {
		return err
	}
	return c.pad(4)
}

// WriteTo writes the archive to w in the newc format, followed by the
// TRAILER!!! entry and zero padding to a multiple of 512 bytes. It
// implements io.WriterTo.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	c := &countingWriter{w: bw}
	var ino uint32 = 1
	for _, e := range a.sorted() {
		if err := c.writeEntry(ino, e); err != nil {
			return c.n, fmt.Errorf("initramfs: writing %s: %w", e.name, err)
		}
		ino++
	}
	if err := c.writeEntry(0, &entry{name: trailer}); err != nil {
		return c.n, fmt.Errorf("initramfs: writing trailer: %w", err)
	}
	if err := c.pad(blockSize); err != nil {
		return c.n, fmt.Errorf("initramfs: padding: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return c.n, fmt.Errorf("initramfs: %w", err)
	}
	return c.n, nil
}

// WriteFile writes the archive to the host file name, replacing it.
func (a *Archive) WriteFile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if _, err := a.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// Digest returns the hex SHA-256 of the bytes WriteTo would write.
func (a *Archive) Digest() string {
	h := sha256.New()
	if _, err := a.WriteTo(h); err != nil {
		// A hash.Hash never returns an error from Write.
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
