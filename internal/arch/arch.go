// Package arch is kvmtest's one table of guest architectures: for each,
// the names the kernel, Go, QEMU, ELF and Debian give it, how a kernel is
// cross-built for it and which image boots, and which QEMU machine runs it.
//
// A matrix names an architecture by Name (x86_64, arm64, riscv64). Every
// other package asks here rather than keep its own copy of these facts.
package arch

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
)

// Arch is one guest architecture.
type Arch struct {
	// Name is kvmtest's name, as a matrix writes it: x86_64, arm64, riscv64.
	Name string
	// Uname is what uname -m prints in the guest (aarch64 for arm64).
	Uname string
	// GOARCH builds the agent and go-test suites for it.
	GOARCH string
	// ELF is elfcheck's name of the architecture (elfcheck.ArchByName).
	ELF string

	// KernelArch is make's ARCH= (x86_64, arm64, riscv); SrcArch the
	// directory under arch/ (x86, arm64, riscv).
	KernelArch, SrcArch string
	// ImageTarget is the make target of the bootable image and ImagePath
	// where it lands, relative to the build directory.
	ImageTarget, ImagePath string
	// CrossPrefix is CROSS_COMPILE= when the host is another architecture
	// (Debian's cross toolchain); CrossPackage the Debian package with
	// that compiler, CrossLibcPackage the one with the static libc that
	// kselftests link against.
	CrossPrefix, CrossPackage, CrossLibcPackage string

	// QEMU is the system emulator and QEMUPackage the Debian package
	// holding it.
	QEMU, QEMUPackage string
	// Machine is QEMU's -machine; TCGCPU the -cpu under TCG (under KVM
	// it is "host").
	Machine, TCGCPU string
	// Console is the kernel's console device (console=), the machine's
	// first UART.
	Console string
	// SerialEvents says whether the machine has a second UART for the
	// agent's event line (ttyS1 on x86's pc); without one the events go
	// over a virtio console port (hvc0).
	SerialEvents bool
	// Firmware is QEMU's -bios when the machine needs one to start a
	// kernel (riscv64's OpenSBI), "" when QEMU loads the kernel itself;
	// FirmwarePackage the Debian package holding it.
	Firmware, FirmwarePackage string
	firmwareFile              string // see FirmwareFile
}

// archs are the architectures kvmtest builds and boots, in the order
// Names gives.
var archs = []Arch{
	{
		Name: "x86_64", Uname: "x86_64", GOARCH: "amd64", ELF: "x86_64",
		KernelArch: "x86_64", SrcArch: "x86",
		ImageTarget: "bzImage", ImagePath: "arch/x86/boot/bzImage",
		CrossPrefix: "x86_64-linux-gnu-", CrossPackage: "gcc-x86-64-linux-gnu", CrossLibcPackage: "libc6-dev-amd64-cross",
		QEMU: "qemu-system-x86_64", QEMUPackage: "qemu-system-x86",
		Machine: "pc", TCGCPU: "max", Console: "ttyS0", SerialEvents: true,
	},
	{
		Name: "arm64", Uname: "aarch64", GOARCH: "arm64", ELF: "aarch64",
		KernelArch: "arm64", SrcArch: "arm64",
		ImageTarget: "Image", ImagePath: "arch/arm64/boot/Image",
		CrossPrefix: "aarch64-linux-gnu-", CrossPackage: "gcc-aarch64-linux-gnu", CrossLibcPackage: "libc6-dev-arm64-cross",
		QEMU: "qemu-system-aarch64", QEMUPackage: "qemu-system-arm",
		// pauth-impdef: QEMU's own pointer-authentication algorithm,
		// several times faster to emulate than the architected QARMA.
		Machine: "virt", TCGCPU: "max,pauth-impdef=on", Console: "ttyAMA0",
	},
	{
		Name: "riscv64", Uname: "riscv64", GOARCH: "riscv64", ELF: "riscv64",
		KernelArch: "riscv", SrcArch: "riscv",
		ImageTarget: "Image", ImagePath: "arch/riscv/boot/Image",
		CrossPrefix: "riscv64-linux-gnu-", CrossPackage: "gcc-riscv64-linux-gnu", CrossLibcPackage: "libc6-dev-riscv64-cross",
		QEMU: "qemu-system-riscv64", QEMUPackage: "qemu-system-misc",
		Machine: "virt", TCGCPU: "rv64", Console: "ttyS0",
		Firmware: "default", FirmwarePackage: "qemu-system-data",
		firmwareFile: "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin",
	},
}

// FirmwareFile is the file QEMU loads for Firmware "default" (Debian's
// path of it), "" when the machine needs no firmware.
func (a Arch) FirmwareFile() string {
	if a.Firmware == "" {
		return ""
	}
	return a.firmwareFile
}

// Default is the architecture of a matrix that names none.
const Default = "x86_64"

// ByName returns the architecture called name. Besides kvmtest's names it
// accepts the other names of the same architecture (amd64, aarch64,
// riscv), so that uname -m, GOARCH and ARCH= values all resolve.
func ByName(name string) (Arch, bool) {
	for _, a := range archs {
		if name == a.Name || name == a.Uname || name == a.GOARCH || name == a.KernelArch {
			return a, true
		}
	}
	return Arch{}, false
}

// MustByName is ByName for names known to be valid; it panics otherwise.
func MustByName(name string) Arch {
	a, ok := ByName(name)
	if !ok {
		panic(fmt.Sprintf("arch: unknown architecture %q", name))
	}
	return a
}

// Names returns kvmtest's names of every architecture, in table order.
func Names() []string {
	out := make([]string, len(archs))
	for i, a := range archs {
		out[i] = a.Name
	}
	return out
}

// UnknownError is the message for a name ByName does not know.
func UnknownError(name string) error {
	return fmt.Errorf("unknown architecture %q (kvmtest knows %s)", name, strings.Join(Names(), ", "))
}

// Host returns the architecture of the machine kvmtest runs on, and false
// when it is none of the table's.
func Host() (Arch, bool) { return ByName(runtime.GOARCH) }

// Native reports whether a is the host's architecture: its kernel builds
// without a cross compiler and KVM can run it.
func (a Arch) Native() bool {
	h, ok := Host()
	return ok && h.Name == a.Name
}

// MakeVars returns make's ARCH= and, for a foreign architecture,
// CROSS_COMPILE= words.
func (a Arch) MakeVars() []string {
	v := []string{"ARCH=" + a.KernelArch}
	if !a.Native() {
		v = append(v, "CROSS_COMPILE="+a.CrossPrefix)
	}
	return v
}

// CC returns the C compiler that builds for a: gcc natively, the cross
// compiler otherwise.
func (a Arch) CC() string {
	if a.Native() {
		return "gcc"
	}
	return a.CrossPrefix + "gcc"
}

// Toolchain names the compiler a kernel of a is built with and the
// Debian packages that provide it and its static libc: used in cache
// keys, doctor and messages.
func (a Arch) Toolchain() (cc string, packages []string) {
	if a.Native() {
		return "gcc", []string{"build-essential"}
	}
	return a.CC(), []string{a.CrossPackage, a.CrossLibcPackage}
}

// Packages returns the Debian packages that building and booting a needs
// on this host, sorted: the toolchain's, QEMU's and the firmware's.
func (a Arch) Packages() []string {
	_, p := a.Toolchain()
	p = append(p, a.QEMUPackage)
	if a.FirmwarePackage != "" {
		p = append(p, a.FirmwarePackage)
	}
	sort.Strings(p)
	return p
}
