package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/results"
	"github.com/kvmtest/kvmtest/vmrunner"
)

var doctorCmd = &Command{
	Name:      "doctor",
	UsageLine: "doctor",
	Short:     "check that this machine can build and boot kernels",
	Flags:     flag.NewFlagSet("doctor", flag.ContinueOnError),
	Long: `
Doctor checks QEMU, KVM access (and why it is not usable), the kernel build
tools, the Go toolchain, the kernel source tarballs and the free space in
the cache, and prints the fix for each miss; then, for each other
architecture a matrix may name (arch: arm64, riscv64), its cross compiler,
its QEMU and its firmware, with the Debian package of each one missing.
Exit status 0 when a run of the host's architecture can work (KVM missing
is a warning: TCG works, slower; so is another architecture's missing
tool: only its cells need it), 3 otherwise.`,
}

func init() {
	doctorCmd.Run = runDoctor
	register(doctorCmd)
}

type check struct {
	name  string
	ok    bool
	fatal bool // a run cannot work without it
	info  string
	fix   string
}

func firstOutputLine(argv ...string) (string, error) {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l, err
}

func doctorChecks() []check {
	var cs []check
	const apt = "apt-get install qemu-system-x86 build-essential flex bison bc libelf-dev libssl-dev xz-utils patch (or run scripts/install-deps.sh)"
	if v, err := firstOutputLine("qemu-system-x86_64", "--version"); err != nil {
		cs = append(cs, check{name: "QEMU", fatal: true, info: "qemu-system-x86_64 not found", fix: "apt-get install qemu-system-x86"})
	} else {
		cs = append(cs, check{name: "QEMU", ok: true, info: v})
	}
	if ok, why := vmrunner.KVMUsable(); ok {
		cs = append(cs, check{name: "KVM", ok: true, info: "/dev/kvm usable"})
	} else {
		cs = append(cs, check{name: "KVM", info: why + "; runs use TCG (many times slower)",
			fix: "enable virtualization (VT-x/AMD-V, nested virtualization for a VM) and give this user rw on /dev/kvm (group kvm)"})
	}
	for _, tool := range []string{"gcc", "make", "ld", "flex", "bison", "bc", "tar", "xz", "patch", "perl"} {
		if _, err := exec.LookPath(tool); err != nil {
			cs = append(cs, check{name: tool, fatal: true, info: "not found", fix: apt})
		}
	}
	if _, err := os.Stat("/usr/include/libelf.h"); err != nil {
		cs = append(cs, check{name: "libelf", fatal: true, info: "libelf.h not found", fix: "apt-get install libelf-dev"})
	}
	if _, err := exec.LookPath("ccache"); err != nil {
		cs = append(cs, check{name: "ccache", info: "not found: rebuilds after config changes are slower", fix: "apt-get install ccache"})
	} else {
		cs = append(cs, check{name: "ccache", ok: true, info: "found"})
	}
	if v, err := firstOutputLine("go", "version"); err != nil {
		cs = append(cs, check{name: "Go", fatal: true, info: "go not found: guest programs are compiled at run time", fix: "install Go 1.26"})
	} else {
		cs = append(cs, check{name: "Go", ok: true, info: v})
	}
	for _, t := range []string{"/usr/src/linux-source-6.12.tar.xz", "/usr/src/linux-source-6.1.tar.xz"} {
		if _, err := os.Stat(t); err != nil {
			cs = append(cs, check{name: "source", info: t + " missing (the shipped matrices use it)", fix: "apt-get install " + strings.TrimSuffix(strings.TrimPrefix(t, "/usr/src/"), ".tar.xz")})
		} else {
			cs = append(cs, check{name: "source", ok: true, info: t})
		}
	}
	cs = append(cs, archChecks()...)
	if dir, err := builder.DefaultCacheDir(); err == nil {
		os.MkdirAll(dir, 0o755)
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err == nil {
			free := float64(st.Bavail) * float64(st.Bsize) / (1 << 30)
			c := check{name: "cache", ok: free >= 5, info: fmt.Sprintf("%s, %.1f GiB free", dir, free)}
			if !c.ok {
				c.fatal = free < 2
				c.fix = "free space, or point KVMTEST_CACHE elsewhere (a kernel build needs about 2 GiB)"
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// archChecks are, for each architecture but the host's, what building
// and booting its cells needs: the cross compiler, QEMU, the firmware.
// A miss is a warning naming the Debian package.
func archChecks() []check {
	var cs []check
	for _, name := range arch.Names() {
		a := arch.MustByName(name)
		if a.Native() {
			continue
		}
		var missing, found []string
		var pkgs []string
		if v, err := firstOutputLine(a.CC(), "--version"); err != nil {
			missing = append(missing, a.CC())
			pkgs = append(pkgs, a.CrossPackage, a.CrossLibcPackage)
		} else {
			found = append(found, v)
		}
		if v, err := firstOutputLine(a.QEMU, "--version"); err != nil {
			missing = append(missing, a.QEMU)
			pkgs = append(pkgs, a.QEMUPackage)
		} else {
			found = append(found, v)
		}
		if a.FirmwarePackage != "" {
			if fw := a.FirmwareFile(); fw != "" {
				if _, err := os.Stat(fw); err != nil {
					missing = append(missing, fw)
					pkgs = append(pkgs, a.FirmwarePackage)
				} else {
					found = append(found, fw)
				}
			}
		}
		if len(missing) == 0 {
			cs = append(cs, check{name: name, ok: true, info: strings.Join(found, "; ")})
			continue
		}
		cs = append(cs, check{name: name, info: "missing " + strings.Join(missing, ", ") + ": cells of arch " + name + " cannot build or boot",
			fix: "apt-get install " + strings.Join(pkgs, " ") + " (or run scripts/install-deps.sh)"})
	}
	return cs
}

func runDoctor(cmd *Command, args []string) int {
	code := results.ExitOK
	for _, c := range doctorChecks() {
		mark := "ok  "
		if !c.ok {
			mark = "warn"
			if c.fatal {
				mark = "FAIL"
				code = results.ExitInfra
			}
		}
		fmt.Printf("%s %-8s %s\n", mark, c.name, c.info)
		if !c.ok && c.fix != "" {
			fmt.Printf("     fix: %s\n", c.fix)
		}
	}
	return code
}
