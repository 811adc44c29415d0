package engine

import (
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/vmrunner/initramfs"
)

// StaticBusybox returns the path of a statically linked busybox for a
// guest of the architecture archName ("" is x86_64), for guest shells and
// scripts: the host's own (Debian's busybox-static) when the guest is of
// the host's architecture. A guest of another architecture has none
// (Debian 12 cannot install busybox-static of a second architecture
// beside the first): its suites run without a shell.
func StaticBusybox(archName string) (string, error) {
	if archName == "" {
		archName = arch.Default
	}
	if a, ok := arch.ByName(archName); !ok || !a.Native() {
		return "", fmt.Errorf("no static busybox for %s guests (the host's is for its own architecture)", archName)
	}
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no statically linked busybox (apt-get install busybox-static)")
}

// agentApplets are the busybox applets the agent provides instead: its
// modprobe reads the modules the initramfs carries (/sbin/modprobe).
var agentApplets = map[string]bool{"modprobe": true, "depmod": true}

// addBusybox installs busybox as /bin/busybox with a /bin link for every
// applet it has (sh, cat, wc...), so that scripts run in the guest.
func addBusybox(a *initramfs.Archive, busybox string) error {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("listing busybox applets: %w", err)
	}
	if err := a.AddHostFile("/bin/busybox", busybox, 0o755); err != nil {
		return err
	}
	a.AddDir("/bin", 0o755)
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.ContainsAny(applet, "/.") || agentApplets[applet] {
			continue
		}
		a.AddSymlink("/bin/"+applet, "busybox")
	}
	return nil
}
