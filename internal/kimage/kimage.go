// Package kimage reads what a kernel image says about itself: its
// architecture, format and release (Probe), and the .config it carries
// when it was built with CONFIG_IKCONFIG (EmbeddedConfig). It reads files
// only; it runs nothing.
package kimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Info is what Probe learns from an image.
type Info struct {
	Arch    string // "x86_64", "i386", "arm64", "riscv64"
	Format  string // "bzImage", "zImage", "Image" (arm64, riscv64) or "vmlinux" (ELF)
	Release string // the first word of the kernel's version string: what uname -r says
}

// Bootable reports whether kvmtest can boot the image: an x86_64 bzImage,
// or an arm64 or riscv64 Image (what QEMU's -kernel loads on their virt
// machines).
func (i Info) Bootable() bool {
	switch i.Arch {
	case "x86_64":
		return i.Format == "bzImage"
	case "arm64", "riscv64":
		return i.Format == "Image"
	}
	return false
}

// ErrNotKernel is wrapped by Probe's error for a file that is no kernel
// image it knows.
var ErrNotKernel = errors.New("not a kernel image")

// Offsets in an x86 boot sector and setup header (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1F1 // u8: setup sectors after the boot sector (0 means 4)
	offHeaderMagic   = 0x202 // "HdrS"
	offVersion       = 0x206 // u16: boot protocol version
	offKernelVersion = 0x20E // u16: pointer to the version string, minus 0x200
	offLoadFlags     = 0x211 // u8: bit 0 LOADED_HIGH (a bzImage)
	offXLoadFlags    = 0x236 // u16: bit 0 XLF_KERNEL_64 (protocol 2.12+)
	offPayloadOffset = 0x248 // u32: compressed payload, from the protected-mode code (2.08+)
	offPayloadLength = 0x24C // u32
	arm64MagicOffset = 0x38  // "ARM\x64" in an arm64 Image header
	riscvMagicOffset = 0x38  // "RSC\x05" (magic2) in a riscv Image header (Documentation/arch/riscv/boot-image-header.rst)
)

// headerSize is how much of a file Probe reads to find any header it knows
// and an x86 kernel's version string (setup code is at most 64 sectors).
const headerSize = 65 * 512

// Probe reads the image's header. For an x86 bzImage the release comes
// from the setup header's kernel_version string; for an arm64 Image and an
// ELF vmlinux (both uncompressed) from the "Linux version " banner in the
// file. A file of no known kind gives an error wrapping ErrNotKernel that
// names the file.
func Probe(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	head := make([]byte, headerSize)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return Info{}, fmt.Errorf("reading %s: %w", path, err)
	}
	head = head[:n]
	switch {
	case isBzImage(head):
		return probeX86(path, head)
	case len(head) >= 4 && string(head[:4]) == "\x7fELF":
		return probeELF(path, f)
	case len(head) >= arm64MagicOffset+4 && string(head[arm64MagicOffset:arm64MagicOffset+4]) == "ARM\x64":
		rel, err := bannerRelease(f)
		if err != nil {
			return Info{}, fmt.Errorf("%s: arm64 Image: %w", path, err)
		}
		return Info{Arch: "arm64", Format: "Image", Release: rel}, nil
	case len(head) >= riscvMagicOffset+4 && string(head[riscvMagicOffset:riscvMagicOffset+4]) == "RSC\x05":
		rel, err := bannerRelease(f)
		if err != nil {
			return Info{}, fmt.Errorf("%s: riscv Image: %w", path, err)
		}
		return Info{Arch: "riscv64", Format: "Image", Release: rel}, nil
	}
	return Info{}, fmt.Errorf("%s is %w: no bzImage header (HdrS at 0x202)", path, ErrNotKernel)
}

func isBzImage(head []byte) bool {
	return len(head) >= offHeaderMagic+4 && string(head[offHeaderMagic:offHeaderMagic+4]) == "HdrS"
}

// probeX86 reads an x86 setup header: 64-bit when XLF_KERNEL_64 says so,
// a bzImage when LOADED_HIGH, the release from kernel_version.
func probeX86(path string, head []byte) (Info, error) {
	le := binary.LittleEndian
	info := Info{Arch: "i386", Format: "zImage"}
	proto := le.Uint16(head[offVersion:])
	if len(head) > offLoadFlags && head[offLoadFlags]&1 != 0 {
		info.Format = "bzImage"
	}
	if proto >= 0x20C && len(head) >= offXLoadFlags+2 && le.Uint16(head[offXLoadFlags:])&1 != 0 {
		info.Arch = "x86_64"
	}
	ptr := int(le.Uint16(head[offKernelVersion:]))
	if ptr == 0 {
		return info, fmt.Errorf("%s: the setup header has no kernel version string (kernel_version is 0)", path)
	}
	at := 0x200 + ptr
	if at >= len(head) {
		return info, fmt.Errorf("%s: the kernel version string (at %#x) is beyond the setup code", path, at)
	}
	s := head[at:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	fields := bytes.Fields(s)
	if len(fields) == 0 {
		return info, fmt.Errorf("%s: empty kernel version string at %#x", path, at)
	}
	info.Release = string(fields[0])
	return info, nil
}

// ELF machine numbers Probe names.
const (
	emX86_64  = 62
	emAArch64 = 183
	emRISCV   = 243
	em386     = 3
)

func probeELF(path string, f *os.File) (Info, error) {
	var h [20]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return Info{}, fmt.Errorf("%s: ELF header: %w", path, err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if h[5] == 2 {
		bo = binary.BigEndian
	}
	info := Info{Format: "vmlinux"}
	switch m := bo.Uint16(h[18:]); m {
	case emX86_64:
		info.Arch = "x86_64"
	case emAArch64:
		info.Arch = "arm64"
	case emRISCV:
		info.Arch = "riscv64"
	case em386:
		info.Arch = "i386"
	default:
		info.Arch = fmt.Sprintf("elf-machine-%d", m)
	}
	rel, err := bannerRelease(f)
	if err != nil {
		return Info{}, fmt.Errorf("%s: ELF vmlinux: %w", path, err)
	}
	info.Release = rel
	return info, nil
}

// bannerRelease finds the kernel's linux_banner ("Linux version RELEASE
// (...") in an uncompressed image and returns RELEASE.
func bannerRelease(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	if rel := findBanner(data); rel != "" {
		return rel, nil
	}
	return "", errors.New(`no "Linux version " banner`)
}

// findBanner returns the release of the first linux_banner in data: the
// word after "Linux version " that is followed by " (", as the banner's
// format string is not.
func findBanner(data []byte) string {
	const banner = "Linux version "
	for rest := data; ; {
		i := bytes.Index(rest, []byte(banner))
		if i < 0 {
			return ""
		}
		rest = rest[i+len(banner):]
		end := bytes.IndexAny(rest, " \x00\n")
		if end > 0 && end < 128 && bytes.HasPrefix(rest[end:], []byte(" (")) && !bytes.Contains(rest[:end], []byte("%")) {
			return string(rest[:end])
		}
	}
}
