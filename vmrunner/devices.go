package vmrunner

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/internal/arch"
)

// Device is one feature of a QEMU machine: the QEMU arguments it needs and
// the kernel command-line words it needs, given together by one value so
// that neither lives apart from the other (the second serial port and the
// 8250.nr_uarts=2 that lets the kernel see it are one EventChannel).
//
// A machine is an ordered list of devices (see machineArgv). A new QEMU
// feature (a shared directory, modules, another machine type) is a new
// value in that list, not a new branch in the code that builds argv.
type Device interface {
	// QEMUArgs returns the feature's QEMU arguments, each value its own
	// element (nothing passes through a shell).
	QEMUArgs() []string
	// KArgs returns the words the feature adds to the kernel command line.
	KArgs() []string
}

// machineOption marks the devices that make the machine itself (type,
// accelerator, memory, CPUs, defaults, boot) rather than being plugged
// into it: QEMU's command line gives them first, before -append.
type machineOption interface {
	Device
	machineOption()
}

// machineArgv returns QEMU's command line for a machine made of devs: the
// binary, the QEMU arguments of the machine options (in list order),
// "-append" and the kernel command line, then the QEMU arguments of the
// other devices (in list order). The kernel command line is every
// device's KArgs in list order (see kernelCmdline); without any there is
// no -append.
func machineArgv(bin string, devs []Device) []string {
	argv := []string{bin}
	var plugged []string
	for _, d := range devs {
		if _, ok := d.(machineOption); ok {
			argv = append(argv, d.QEMUArgs()...)
		} else {
			plugged = append(plugged, d.QEMUArgs()...)
		}
	}
	if c := kernelCmdline(devs); c != "" {
		argv = append(argv, "-append", c)
	}
	return append(argv, plugged...)
}

// kernelCmdline joins every device's KArgs, in list order, with spaces.
func kernelCmdline(devs []Device) string {
	var words []string
	for _, d := range devs {
		words = append(words, d.KArgs()...)
	}
	return strings.Join(words, " ")
}

// devices returns the machine a spec describes under accel, its sockets in
// dir, for a QEMU with caps. The order is the kernel command line's (the
// console's console=ttyS0 first, the spec's own words last); machineArgv
// puts the machine options first on QEMU's. When QEMU has them and the
// machine has a PCI bus, PVPanic lets the guest report its panics.
func (s *Spec) devices(accel, dir string, caps qemuCaps) []Device {
	var mem Device = Memory{MiB: s.MemoryMiB}
	if len(s.Shares) > 0 && s.shareTransport == proto.TransportVirtiofs {
		mem = SharedMemory{MiB: s.MemoryMiB} // virtiofsd maps the guest's RAM
	}
	a := s.arch()
	devs := []Device{
		MachineType{Name: a.Machine},
		Accelerator{Name: accel, TCGCPU: a.TCGCPU},
		mem,
		SMP{CPUs: s.CPUs},
		Bare{},
		SerialConsole{Socket: filepath.Join(dir, conSock), Device: a.Console},
		EndOnPanic{},
		Paused{},
	}
	if a.Firmware != "" {
		devs = append(devs, Firmware{BIOS: a.Firmware})
	}
	devs = append(devs,
		DirectBoot{Kernel: s.Kernel, Initrd: s.Initrd},
		EventChannel{Socket: filepath.Join(dir, evSock), Virtio: !a.SerialEvents},
		QMPSocket{Path: filepath.Join(dir, qmpSock)},
	)
	if caps.pvpanicPCI && caps.action && machineHasPCI(s.ExtraArgs) {
		devs = append(devs, PVPanic{})
	}
	if len(s.Shares) > 0 {
		devs = append(devs, shareDevices(s.Shares, s.shareTransport, dir)...)
	}
	devs = append(devs, s.Devices...)
	return append(devs, Extra{QEMU: s.ExtraArgs, Kernel: s.Cmdline})
}

// arch returns the spec's architecture; x86_64 for "" or a name
// internal/arch does not know (Run refuses those before it gets here).
func (s *Spec) arch() arch.Arch {
	if a, ok := arch.ByName(s.Arch); ok {
		return a
	}
	return arch.MustByName(arch.Default)
}

// argv builds QEMU's command line for the spec (see devices and
// machineArgv).
func (s *Spec) argv(accel, dir string, caps qemuCaps) []string {
	return machineArgv(s.QEMU, s.devices(accel, dir, caps))
}

// MachineType is QEMU's machine (-machine NAME), e.g. "pc" or "virt".
type MachineType struct{ Name string }

func (MachineType) machineOption()       {}
func (m MachineType) QEMUArgs() []string { return []string{"-machine", m.Name} }
func (MachineType) KArgs() []string      { return nil }

// Accelerator is the accelerator QEMU runs the guest with (kvm or tcg),
// and the CPU model that goes with it: the host's own CPU under KVM,
// TCGCPU under TCG (the architecture's: "" is "max", the most capable
// emulated one).
type Accelerator struct{ Name, TCGCPU string }

func (Accelerator) machineOption() {}
func (a Accelerator) QEMUArgs() []string {
	cpu := a.TCGCPU
	switch {
	case a.Name == AccelKVM:
		cpu = "host"
	case cpu == "":
		cpu = "max"
	}
	return []string{"-accel", a.Name, "-cpu", cpu}
}
func (Accelerator) KArgs() []string { return nil }

// Memory is the guest's RAM in MiB.
type Memory struct{ MiB int }

func (Memory) machineOption()       {}
func (m Memory) QEMUArgs() []string { return []string{"-m", fmt.Sprint(m.MiB)} }
func (Memory) KArgs() []string      { return nil }

// SMP is the guest's CPU count, one socket each. A kernel without ACPI
// finds its CPUs in SeaBIOS's MP table, which lists one CPU per socket:
// with QEMU's default topology (cores of one socket) it would see only the
// first.
type SMP struct{ CPUs int }

func (SMP) machineOption() {}
func (s SMP) QEMUArgs() []string {
	return []string{"-smp", fmt.Sprintf("%d,sockets=%d,cores=1,threads=1", s.CPUs, s.CPUs)}
}
func (SMP) KArgs() []string { return nil }

// Bare leaves out QEMU's default devices, its user configuration files and
// its display: the machine has only what the other devices add.
type Bare struct{}

func (Bare) machineOption() {}
func (Bare) QEMUArgs() []string {
	return []string{"-nodefaults", "-no-user-config", "-display", "none"}
}
func (Bare) KArgs() []string { return nil }

// EndOnPanic makes a kernel panic end the machine: the kernel reboots at
// once after its panic (panic=-1) and QEMU exits instead of rebooting
// (-no-reboot), so a panic is never followed by a second boot.
type EndOnPanic struct{}

func (EndOnPanic) machineOption()     {}
func (EndOnPanic) QEMUArgs() []string { return []string{"-no-reboot"} }
func (EndOnPanic) KArgs() []string    { return []string{"panic=-1"} }

// Paused starts QEMU with its CPUs stopped (-S): the runner reads the
// console and the events from the first moment, then continues the VM
// over QMP.
type Paused struct{}

func (Paused) machineOption()     {}
func (Paused) QEMUArgs() []string { return []string{"-S"} }
func (Paused) KArgs() []string    { return nil }

// DirectBoot loads a kernel image and an initramfs directly (no firmware
// boot loader) and runs the initramfs's /init as the first process.
type DirectBoot struct{ Kernel, Initrd string }

func (DirectBoot) machineOption() {}
func (b DirectBoot) QEMUArgs() []string {
	return []string{"-kernel", b.Kernel, "-initrd", b.Initrd}
}
func (DirectBoot) KArgs() []string { return []string{"rdinit=/init"} }

// SerialConsole is the kernel's console on the machine's first serial
// port (Device: ttyS0 on pc and riscv's virt, ttyAMA0 on arm64's virt;
// "" is ttyS0), connected to a host Unix socket QEMU connects to (the
// runner listens). It must come before any other serial device.
type SerialConsole struct{ Socket, Device string }

func (c SerialConsole) QEMUArgs() []string {
	return []string{"-chardev", "socket,id=con,path=" + c.Socket, "-serial", "chardev:con"}
}
func (c SerialConsole) KArgs() []string {
	if c.Device == "" {
		return []string{"console=ttyS0"}
	}
	return []string{"console=" + c.Device}
}

// EventChannel is the guest agent's event line, on a host Unix socket.
// On a machine with a second UART (x86's pc) it is that serial port
// (ttyS1): the kernel's 8250 driver registers only as many ports as
// 8250.nr_uarts says, so it says two, and it must come right after
// SerialConsole. With Virtio (the virt machines, which have one UART) it
// is the first port of a virtio-serial device, a virtio console the guest
// sees as hvc0, named to the agent by the kernel word
// proto.EventsParam=hvc0.
type EventChannel struct {
	Socket string
	Virtio bool
}

func (e EventChannel) QEMUArgs() []string {
	chardev := []string{"-chardev", "socket,id=ev,path=" + e.Socket}
	if e.Virtio {
		return append([]string{"-device", "virtio-serial-pci,id=kvmtest-serial"}, append(chardev,
			"-device", "virtconsole,bus=kvmtest-serial.0,chardev=ev,name="+proto.EventsPortName)...)
	}
	return append(chardev, "-serial", "chardev:ev")
}
func (e EventChannel) KArgs() []string {
	if e.Virtio {
		return []string{proto.EventsParam + "=" + proto.VirtioEventsDevice}
	}
	return []string{"8250.nr_uarts=2"}
}

// Firmware is the machine's firmware (-bios), for a machine that needs
// one to start a kernel: riscv64's virt runs the kernel in supervisor mode
// under OpenSBI ("default": QEMU's own copy, in Debian's qemu-system-data).
type Firmware struct{ BIOS string }

func (Firmware) machineOption()       {}
func (f Firmware) QEMUArgs() []string { return []string{"-bios", f.BIOS} }
func (Firmware) KArgs() []string      { return nil }

// QMPSocket is QEMU's machine protocol on a Unix socket QEMU listens on
// without waiting for a client.
type QMPSocket struct{ Path string }

func (q QMPSocket) QEMUArgs() []string {
	return []string{"-qmp", "unix:" + q.Path + ",server=on,wait=off"}
}
func (QMPSocket) KArgs() []string { return nil }

// PVPanic is a pvpanic-pci device, with which the guest reports its panics
// to QEMU (QMP event GUEST_PANICKED), and "-action panic=none", which
// keeps QEMU from stopping the guest on that report (its default,
// shutdown, would cut the console short: the kernel flushes the rest of
// its report and reboots itself after its panic notifiers). It needs a
// machine with a PCI bus, QEMU 6.0 or later, and a kernel with
// CONFIG_PVPANIC_PCI.
type PVPanic struct{}

func (PVPanic) QEMUArgs() []string {
	return []string{"-device", "pvpanic-pci", "-action", "panic=none"}
}
func (PVPanic) KArgs() []string { return nil }

// Extra is arguments given as they are: QEMU's (after every other
// device's) and the kernel's (after every other device's, so that they
// override them).
type Extra struct{ QEMU, Kernel []string }

func (e Extra) QEMUArgs() []string { return e.QEMU }
func (e Extra) KArgs() []string    { return e.Kernel }
