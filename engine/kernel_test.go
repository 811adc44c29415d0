package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

// minimalBoot is what every boot needs, as the shipped minimal config
// sets it.
const minimalBoot = "CONFIG_BLK_DEV_INITRD=y\nCONFIG_BINFMT_ELF=y\nCONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n" +
	"CONFIG_SERIAL_8250_RUNTIME_UARTS=4\nCONFIG_PROC_FS=y\nCONFIG_SYSFS=y\nCONFIG_FUTEX=y\nCONFIG_EPOLL=y\n"

// distroModules writes a module tree as a distribution kernel ships it:
// virtiofs, fuse, 9p and overlay as modules, no 9pnet_virtio.
func distroModules(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "6.1.0-50-cloud-amd64")
	os.MkdirAll(dir, 0o755)
	dep := "kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko\nkernel/fs/fuse/fuse.ko:\nkernel/fs/overlayfs/overlay.ko:\nkernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_pci.ko\n"), 0o644)
	return dir
}

// arm64Boot is what arm64's virt machine adds to minimalBoot.
const arm64Boot = "CONFIG_SERIAL_AMBA_PL011=y\nCONFIG_SERIAL_AMBA_PL011_CONSOLE=y\nCONFIG_PCI=y\nCONFIG_PCI_HOST_GENERIC=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_CONSOLE=y\n"

func TestCheckBoot(t *testing.T) {
	mods := distroModules(t)
	for _, tc := range []struct {
		name, config, modules string
		arch                  string
		extra                 []need
		missing, load         []string
		note                  string
	}{
		{name: "minimal", config: minimalBoot},
		{name: "no serial console, no initrd", config: strings.NewReplacer("CONFIG_SERIAL_8250_CONSOLE=y\n", "", "CONFIG_BLK_DEV_INITRD=y\n", "").Replace(minimalBoot),
			missing: []string{"CONFIG_BLK_DEV_INITRD (for the initramfs)", "CONFIG_SERIAL_8250_CONSOLE (for the kernel console on ttyS0)"}},
		{name: "one UART", config: strings.Replace(minimalBoot, "RUNTIME_UARTS=4", "RUNTIME_UARTS=1", 1),
			missing: []string{"CONFIG_SERIAL_8250_RUNTIME_UARTS>=2 (is 1; for the agent's event channel on ttyS1)"}},
		{name: "a module the tree has", config: minimalBoot + "CONFIG_VIRTIO_FS=m\nCONFIG_FUSE_FS=m\n", modules: mods,
			extra: []need{{"CONFIG_FUSE_FS", "x"}, {"CONFIG_VIRTIO_FS", "the shared root"}}, load: []string{"fuse", "virtiofs"}},
		{name: "a module without modules", config: minimalBoot + "CONFIG_VIRTIO_FS=m\n",
			extra: []need{{"CONFIG_VIRTIO_FS", "the shared root"}}, missing: []string{"CONFIG_VIRTIO_FS (for the shared root)"}},
		{name: "a module the tree lacks", config: minimalBoot + "CONFIG_NET_9P_VIRTIO=m\n", modules: mods,
			extra: []need{{"CONFIG_NET_9P_VIRTIO", "9p"}}, missing: []string{"CONFIG_NET_9P_VIRTIO (for 9p)"}},
		{name: "an exact value", config: minimalBoot + "CONFIG_LKDTM=m\n", modules: mods, extra: []need{{"CONFIG_LKDTM=y", "crashes"}},
			missing: []string{"CONFIG_LKDTM=y (for crashes)"}},
		{name: "no config", note: "no config found for the kernel"},
		// arm64's virt machine: the PL011 console, the event channel on a
		// virtio console; one 8250 UART or none does not matter there.
		{name: "arm64", arch: "arm64", config: strings.Replace(minimalBoot, "RUNTIME_UARTS=4", "RUNTIME_UARTS=1", 1) + arm64Boot},
		{name: "arm64 without a virtio console", arch: "arm64", config: minimalBoot + strings.Replace(arm64Boot, "CONFIG_VIRTIO_CONSOLE=y\n", "", 1),
			missing: []string{"CONFIG_VIRTIO_CONSOLE (for the agent's event channel (hvc0, a virtio console port))"}},
		{name: "arm64 with x86's console only", arch: "arm64", config: minimalBoot,
			missing: []string{"CONFIG_SERIAL_AMBA_PL011 (for the console (ttyAMA0, the virt machine's PL011))", "CONFIG_SERIAL_AMBA_PL011_CONSOLE (for the kernel console on ttyAMA0)",
				"CONFIG_PCI (for the virtio-serial-pci device of the agent's event channel)", "CONFIG_PCI_HOST_GENERIC (for the virt machine's PCIe host bridge (ECAM))",
				"CONFIG_VIRTIO_PCI (for the virtio-serial-pci device of the agent's event channel)", "CONFIG_VIRTIO_CONSOLE (for the agent's event channel (hvc0, a virtio console port))"}},
		{name: "riscv64 needs the UART from the device tree", arch: "riscv64", config: minimalBoot + "CONFIG_PCI=y\nCONFIG_PCI_HOST_GENERIC=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_CONSOLE=y\n",
			missing: []string{"CONFIG_SERIAL_OF_PLATFORM (for finding the console's UART in the device tree)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &guestKernel{Modules: tc.modules, ConfigFrom: "kernel.config"}
			if tc.config != "" {
				k.Config = matrices.ParseKernelConfig([]byte(tc.config))
			}
			c := checkBoot(k, tc.arch, tc.extra)
			if !slices.Equal(c.Missing, tc.missing) || !slices.Equal(c.Modules, tc.load) || !strings.Contains(c.Note, tc.note) || (tc.note == "") != (c.Note == "") {
				t.Errorf("checkBoot = missing %q, modules %q, note %q; want %q, %q, %q", c.Missing, c.Modules, c.Note, tc.missing, tc.load, tc.note)
			}
			if err := c.Err(k); (err != nil) != (len(tc.missing) > 0) || (err != nil && !strings.Contains(err.Error(), "(checked in kernel.config)")) {
				t.Errorf("Err = %v", err)
			}
		})
	}
}

// TestSharedRootOnADistroKernel: a kernel with virtiofs as a module
// mounts the root over virtiofs once the agent loads it; 9p, whose
// virtio transport the tree lacks, is refused when forced.
func TestSharedRootOnADistroKernel(t *testing.T) {
	k := &guestKernel{Modules: distroModules(t), Config: matrices.ParseKernelConfig([]byte(minimalBoot +
		"CONFIG_PCI=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_TMPFS=y\nCONFIG_OVERLAY_FS=m\nCONFIG_FUSE_FS=m\nCONFIG_VIRTIO_FS=m\nCONFIG_9P_FS=m\nCONFIG_NET_9P_VIRTIO=m\n"))}
	tr, mods, err := (sharedRoot{"/", "virtiofs", true}).forCell(k)
	if tr != "virtiofs" || err != nil || !slices.Equal(mods, []string{"fuse", "virtiofs", "overlay"}) {
		t.Errorf("auto: %q %q %v; want virtiofs with fuse, virtiofs, overlay loaded", tr, mods, err)
	}
	if _, _, err := (sharedRoot{"/", "9p", false}).forCell(k); err == nil || !strings.Contains(err.Error(), "needs CONFIG_NET_9P_VIRTIO") {
		t.Errorf("9p forced: %v; want 9pnet_virtio named", err)
	}
}

// TestCarryPlan: a small tree goes whole into the initramfs; a big one
// (a distribution kernel's) only with the modules named and their
// dependencies, and whole from a shared root that holds it.
func TestCarryPlan(t *testing.T) {
	dir := distroModules(t)
	for _, f := range []string{"kernel/fs/fuse/virtiofs.ko", "kernel/fs/fuse/fuse.ko", "kernel/fs/overlayfs/overlay.ko"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte("\x7fELF"), 0o644)
	}
	k := &guestKernel{Modules: dir}
	if files, shared, note := carryPlan(k, []string{"virtiofs"}, "/"); files != nil || shared != "" || note != "" {
		t.Errorf("small tree: %q %q %q; want it whole", files, shared, note)
	}
	// Past the limit (a sparse file: no disk used).
	big, err := os.Create(filepath.Join(dir, "kernel", "big.ko"))
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(initramfsModulesMax + 1)
	big.Close()
	files, shared, note := carryPlan(k, []string{"virtiofs", "overlay", "nosuch"}, "/")
	if want := []string{"kernel/fs/fuse/fuse.ko", "kernel/fs/fuse/virtiofs.ko", "kernel/fs/overlayfs/overlay.ko"}; !slices.Equal(files, want) {
		t.Errorf("big tree: files %q, want %q", files, want)
	}
	if shared != dir || !strings.Contains(note, "too many for the initramfs") || !strings.Contains(note, "the shared root has the whole tree") {
		t.Errorf("big tree, host root: shared %q note %q", shared, note)
	}
	if _, shared, note := carryPlan(k, nil, "/srv/rootfs"); shared != "" || !strings.Contains(note, "the others cannot be loaded") {
		t.Errorf("big tree, another root: shared %q note %q", shared, note)
	}
}
