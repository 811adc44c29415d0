package engine

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/matrices"
)

// guestKernel is what the engine knows of a kernel before it boots it:
// its release, its configuration when one is known (the builder's
// .config, a distribution's config-RELEASE, or the image's own), and its
// modules (the tree modules_install wrote), from which it decides what a
// boot needs and whether the kernel has it (checkBoot).
type guestKernel struct {
	Release string
	// Config is the kernel's .config (NAME -> value), nil when none is
	// known: then nothing is checked, and the boot says so.
	Config map[string]string
	// ConfigFrom says where Config came from, for messages.
	ConfigFrom string
	// Modules is the host directory of the release's module tree
	// (modules.dep, kernel/...), "" when the kernel has none.
	Modules string

	mods map[string]bool // module names in modules.dep and modules.builtin; nil until read
}

// loadGuestKernel describes a kernel from its config file ("" or a
// missing file: unknown) and its module tree ("" for none).
func loadGuestKernel(release, configPath, modules string) *guestKernel {
	k := &guestKernel{Release: release, Modules: modules}
	if configPath != "" {
		if b, err := os.ReadFile(configPath); err == nil {
			k.Config = matrices.ParseKernelConfig(b)
			k.ConfigFrom = configPath
		}
	}
	return k
}

// moduleOf names the module that an option builds when set to m, for the
// options a boot may need (a distribution kernel builds these as
// modules); other options map to "".
var moduleOf = map[string]string{
	"CONFIG_VIRTIO_PCI":    "virtio_pci",
	"CONFIG_VIRTIO_FS":     "virtiofs",
	"CONFIG_FUSE_FS":       "fuse",
	"CONFIG_9P_FS":         "9p",
	"CONFIG_NET_9P":        "9pnet",
	"CONFIG_NET_9P_VIRTIO": "9pnet_virtio",
	"CONFIG_OVERLAY_FS":    "overlay",
	"CONFIG_PVPANIC":       "pvpanic",
	"CONFIG_PVPANIC_PCI":   "pvpanic_pci",
}

// hasModule reports whether the kernel's module tree provides name
// (modules.dep or modules.builtin, '-' and '_' alike).
func (k *guestKernel) hasModule(name string) bool {
	if k.Modules == "" {
		return false
	}
	if k.mods == nil {
		k.mods = map[string]bool{}
		for _, f := range []string{"modules.dep", "modules.builtin"} {
			readModuleNames(filepath.Join(k.Modules, f), k.mods)
		}
	}
	return k.mods[normModule(name)]
}

// normModule is a module's name from its file name or as written.
func normModule(s string) string {
	s = path.Base(s)
	for _, suf := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, suf)
	}
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// readModuleNames adds the module of every line of a modules.dep or
// modules.builtin file to names.
func readModuleNames(file string, names map[string]bool) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), ":")
		if name = strings.TrimSpace(name); name != "" {
			names[normModule(name)] = true
		}
	}
}

// has reports whether the kernel provides opt (CONFIG_X: set to y, or to
// m with the module in its tree; CONFIG_X=VALUE: that value, with the
// module for m), and the module to load first for it ("" when it is
// built in). Unknown config: true.
func (k *guestKernel) has(opt string) (ok bool, module string) {
	if k.Config == nil {
		return true, ""
	}
	name, want, _ := strings.Cut(opt, "=")
	got := k.Config[name]
	if want == "" {
		want = "y"
		if got == "m" {
			want = "m" // a module does for a boot, when the kernel ships it
		}
	}
	if got != want {
		return false, ""
	}
	if got != "m" {
		return true, ""
	}
	if mod := moduleOf[name]; mod != "" {
		return k.hasModule(mod), mod
	}
	return k.Modules != "", ""
}

// need is a kernel option a boot needs, and what for.
type need struct {
	opt, why string
}

// bootNeeds are what every boot of the agent needs from the kernel, on
// every architecture.
var bootNeeds = []need{
	{"CONFIG_BLK_DEV_INITRD", "the initramfs"},
	{"CONFIG_BINFMT_ELF", "the agent (a static ELF program)"},
	{"CONFIG_PROC_FS", "the agent (/proc)"},
	{"CONFIG_SYSFS", "the agent (/sys)"},
	{"CONFIG_FUTEX", "the agent (the Go runtime)"},
	{"CONFIG_EPOLL", "the agent (the Go runtime)"},
}

// virtioEvents are what the event channel of a machine with one UART
// needs: a virtio console port (hvc0) on virtio-serial-pci.
var virtioEvents = []need{
	{"CONFIG_PCI", "the virtio-serial-pci device of the agent's event channel"},
	{"CONFIG_PCI_HOST_GENERIC", "the virt machine's PCIe host bridge (ECAM)"},
	{"CONFIG_VIRTIO_PCI", "the virtio-serial-pci device of the agent's event channel"},
	{"CONFIG_VIRTIO_CONSOLE", "the agent's event channel (hvc0, a virtio console port)"},
}

// archBootNeeds are, per architecture, what its machine's console and
// event channel need (vmrunner.SerialConsole, vmrunner.EventChannel).
var archBootNeeds = map[string][]need{
	"x86_64": {
		{"CONFIG_SERIAL_8250", "the console (ttyS0) and the agent's event channel (ttyS1)"},
		{"CONFIG_SERIAL_8250_CONSOLE", "the kernel console on ttyS0"},
	},
	"arm64": append([]need{
		{"CONFIG_SERIAL_AMBA_PL011", "the console (ttyAMA0, the virt machine's PL011)"},
		{"CONFIG_SERIAL_AMBA_PL011_CONSOLE", "the kernel console on ttyAMA0"},
	}, virtioEvents...),
	"riscv64": append([]need{
		{"CONFIG_SERIAL_8250", "the console (ttyS0, the virt machine's ns16550a)"},
		{"CONFIG_SERIAL_8250_CONSOLE", "the kernel console on ttyS0"},
		{"CONFIG_SERIAL_OF_PLATFORM", "finding the console's UART in the device tree"},
	}, virtioEvents...),
}

// bootWants are options a boot uses when the kernel has them; set to m,
// their module is loaded at boot.
var bootWants = []string{"CONFIG_PVPANIC_PCI"}

// bootCheck is what checkBoot found: what the kernel lacks for this boot
// (each "OPTION (for WHAT)"), the modules the agent must load before it
// mounts anything, and a note when nothing could be checked.
type bootCheck struct {
	Missing []string
	Modules []string
	Note    string
}

// Err is the boot's refusal, nil when it can go on: what the kernel
// lacks, named, with where its config came from.
func (c bootCheck) Err(k *guestKernel) error {
	if len(c.Missing) == 0 {
		return nil
	}
	return fmt.Errorf("the kernel cannot run this boot: it lacks %s (checked in %s)", strings.Join(c.Missing, ", "), k.ConfigFrom)
}

// checkBoot checks the kernel against what a boot on the architecture
// archName ("" is x86_64) needs: the console and the event channel of its
// machine (archBootNeeds), the initramfs and the agent (bootNeeds), and
// extra (the shared root's, say). An option set to m counts when the
// kernel's tree has its module, which is then to be loaded at boot.
func checkBoot(k *guestKernel, archName string, extra []need) bootCheck {
	if k.Config == nil {
		return bootCheck{Note: "no config found for the kernel: its requirements are not checked, booting anyway"}
	}
	if archName == "" {
		archName = arch.Default
	}
	var c bootCheck
	needs := append(slices.Clip(bootNeeds), archBootNeeds[archName]...)
	for _, n := range append(needs, extra...) {
		ok, mod := k.has(n.opt)
		switch {
		case !ok:
			c.Missing = append(c.Missing, fmt.Sprintf("%s (for %s)", n.opt, n.why))
		case mod != "" && !slices.Contains(c.Modules, mod):
			c.Modules = append(c.Modules, mod)
		}
	}
	// What helps without being needed: pvpanic tells QEMU of a panic.
	for _, opt := range bootWants {
		if k.Config[opt] == "m" && k.hasModule(moduleOf[opt]) && !slices.Contains(c.Modules, moduleOf[opt]) {
			c.Modules = append(c.Modules, moduleOf[opt])
		}
	}
	// On x86 the event channel is the second UART: the kernel must
	// register two.
	if a, ok := arch.ByName(archName); !ok || !a.SerialEvents {
		return c
	}
	if v, err := strconv.Atoi(k.Config["CONFIG_SERIAL_8250_RUNTIME_UARTS"]); err == nil && v < 2 {
		c.Missing = append(c.Missing, fmt.Sprintf("CONFIG_SERIAL_8250_RUNTIME_UARTS>=2 (is %d; for the agent's event channel on ttyS1)", v))
	}
	return c
}

// initramfsModulesMax bounds the module tree an initramfs carries whole:
// a distribution kernel's (about 100 MB for Debian's cloud kernel) would
// take that much of the guest's memory, so the initramfs then carries
// only the modules a boot and its suites name, with their dependencies.
const initramfsModulesMax = 32 << 20

// moduleClosure returns the files (relative to the tree, as modules.dep
// names them) of the named modules and of every module they depend on;
// names the tree does not have, or has built in, give none.
func (k *guestKernel) moduleClosure(names []string) []string {
	deps := map[string][]string{}
	f, err := os.Open(filepath.Join(k.Modules, "modules.dep"))
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if ok {
			deps[normModule(file)] = append([]string{strings.TrimSpace(file)}, strings.Fields(rest)...)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		for _, file := range deps[normModule(n)] {
			if !seen[file] {
				seen[file] = true
				out = append(out, file)
			}
		}
	}
	slices.Sort(out)
	return out
}

// carryPlan decides what of k's module tree an initramfs carries: all of
// it (files nil), or, for a tree bigger than initramfsModulesMax, the
// modules names lists with their dependencies; then, when the boot's
// shared root (sharedDir, "" for none) holds the tree (the host's /
// holds the cache), shared is the tree's path in it, for the agent to
// bind whole. note says what was decided, "" when the tree is carried
// whole.
func carryPlan(k *guestKernel, names []string, sharedDir string) (files []string, shared, note string) {
	if k.Modules == "" {
		return nil, "", ""
	}
	size := builder.DirSize(k.Modules)
	if size <= initramfsModulesMax {
		return nil, "", ""
	}
	files = k.moduleClosure(names)
	if files == nil {
		files = []string{}
	}
	where := "the others cannot be loaded"
	if sharedDir != "" {
		if rel, err := filepath.Rel(sharedDir, k.Modules); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			shared = path.Join("/", filepath.ToSlash(rel))
			where = "the shared root has the whole tree, from the host"
		}
	}
	note = fmt.Sprintf("the kernel's modules (%d MB) are too many for the initramfs: it carries the %d files of the modules the boot and the suites name, with their dependencies; %s", size>>20, len(files), where)
	return files, shared, note
}
