package vmrunner

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/internal/arch"
)

// Accelerators.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// kvmCreateVM is the KVM_CREATE_VM ioctl (_IO(KVMIO, 0x01)).
const kvmCreateVM = 0xAE01

// KVMUsable reports whether this process can create a KVM virtual machine,
// and if not, why. Opening /dev/kvm is not enough: the device can exist
// without permission or without hardware support behind it.
func KVMUsable() (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("cannot open /dev/kvm: %v", err)
	}
	defer f.Close()
	vm, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return false, fmt.Sprintf("KVM_CREATE_VM on /dev/kvm: %v", errno)
	}
	unix.Close(int(vm))
	if flags, err := os.ReadFile("/proc/cpuinfo"); err == nil && !hasVirtFlag(flags) {
		// Seen on nested hosts: /dev/kvm accepts KVM_CREATE_VM but the CPU
		// shows no vmx/svm, and QEMU then aborts setting MSRs or hangs.
		return false, "/dev/kvm opens but /proc/cpuinfo shows no vmx or svm flag (nested virtualization without hardware support)"
	}
	return true, ""
}

// hasVirtFlag reports whether a /proc/cpuinfo text lists vmx or svm.
func hasVirtFlag(cpuinfo []byte) bool {
	for _, line := range strings.Split(string(cpuinfo), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "flags" {
			continue
		}
		for _, f := range strings.Fields(val) {
			if f == "vmx" || f == "svm" {
				return true
			}
		}
	}
	return false
}

// ResolveAccel turns auto into kvm or tcg for a guest of the named
// architecture ("" is x86_64), and checks that kvm is usable when asked
// for explicitly. KVM runs only a guest of the host's own architecture:
// any other is TCG, said in the reason. The reason explains the choice
// for the user.
func ResolveAccel(want, archName string) (accel, reason string, err error) {
	if archName == "" {
		archName = arch.Default
	}
	a, ok := arch.ByName(archName)
	if !ok {
		return "", "", arch.UnknownError(archName)
	}
	if !a.Native() {
		h, _ := arch.Host()
		why := fmt.Sprintf("%s guest on an %s host: TCG software emulation, many times slower", a.Name, h.Name)
		switch want {
		case "", AccelAuto, AccelTCG:
			return AccelTCG, why, nil
		case AccelKVM:
			return "", "", fmt.Errorf("--accel kvm: KVM runs only guests of the host's architecture (%s), not %s", h.Name, a.Name)
		}
		return "", "", fmt.Errorf("unknown accelerator %q (want auto, kvm or tcg)", want)
	}
	switch want {
	case "", AccelAuto:
		if ok, why := KVMUsable(); ok {
			return AccelKVM, "/dev/kvm is usable", nil
		} else {
			return AccelTCG, "KVM not usable (" + why + "): falling back to TCG software emulation, many times slower", nil
		}
	case AccelKVM:
		if ok, why := KVMUsable(); !ok {
			return "", "", fmt.Errorf("--accel kvm: %s", why)
		}
		return AccelKVM, "asked for kvm", nil
	case AccelTCG:
		return AccelTCG, "asked for tcg", nil
	}
	return "", "", fmt.Errorf("unknown accelerator %q (want auto, kvm or tcg)", want)
}
