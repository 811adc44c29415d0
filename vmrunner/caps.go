package vmrunner

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// qemuCaps is what a QEMU binary supports beyond the basics argv relies on.
type qemuCaps struct {
	action      bool // -action panic=… (QEMU 6.0 and later)
	pvpanicPCI  bool // -device pvpanic-pci
	vhostUserFS bool // -device vhost-user-fs-pci (virtiofs)
	virtio9P    bool // -device virtio-9p-pci
}

var capsCache sync.Map // QEMU binary -> qemuCaps

// probeQEMU asks a QEMU binary, once per process, whether it has the
// -action option and the pvpanic-pci device. A binary that cannot be run
// has neither (starting it will fail with its own error).
func probeQEMU(bin string) qemuCaps {
	if c, ok := capsCache.Load(bin); ok {
		return c.(qemuCaps)
	}
	out := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return string(b)
	}
	devices := out("-device", "help")
	c := qemuCaps{
		action:      strings.Contains(out("-help"), "-action panic="),
		pvpanicPCI:  strings.Contains(devices, `"pvpanic-pci"`),
		vhostUserFS: strings.Contains(devices, `"vhost-user-fs-pci"`),
		virtio9P:    strings.Contains(devices, `"virtio-9p-pci"`),
	}
	capsCache.Store(bin, c)
	return c
}

// machineHasPCI says whether the machine QEMU will emulate has a PCI bus:
// the runner's "-machine pc" does, unless the extra arguments choose a
// machine type without one.
func machineHasPCI(extra []string) bool {
	has := true
	for i, a := range extra {
		var val string
		switch {
		case (a == "-machine" || a == "--machine" || a == "-M") && i+1 < len(extra):
			val = extra[i+1]
		case strings.HasPrefix(a, "-machine=") || strings.HasPrefix(a, "--machine="):
			_, val, _ = strings.Cut(a, "=")
		default:
			continue
		}
		for j, opt := range strings.Split(val, ",") {
			typ, isType := strings.CutPrefix(opt, "type=")
			if !isType && (j > 0 || strings.Contains(opt, "=")) {
				continue
			}
			switch {
			case typ == "none" || strings.HasPrefix(typ, "microvm") || strings.HasPrefix(typ, "isapc"):
				has = false
			case typ != "":
				has = true
			}
		}
	}
	return has
}
