package engine

import (
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/kvmtest/kvmtest/vmrunner/initramfs"
)

// StaticBusybox returns the path of a statically linked busybox on the
// host (Debian's busybox-static), for guest shells and scripts.
func StaticBusybox() (string, error) {
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
