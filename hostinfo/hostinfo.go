// Package hostinfo is the one owner of what this machine has for VMs:
// its memory (MemTotal, MemAvailable of /proc/meminfo) and its CPUs. The
// matrix loader refuses a VM larger than MemTotal; the engine's VM budget
// is made of MemAvailable and the CPUs.
package hostinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
)

// Info is what the host has. A zero field is unknown.
type Info struct {
	MemTotalMiB     int // MemTotal: all the memory the host has
	MemAvailableMiB int // MemAvailable: what it can give now without swapping
	CPUs            int // CPUs this process may run on (runtime.NumCPU)
}

// ParseMeminfo reads MemTotal and MemAvailable, in MiB, from the text of
// /proc/meminfo (0 for one that is absent or unreadable).
func ParseMeminfo(data []byte) (totalMiB, availMiB int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var kb int
		line := sc.Text()
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			totalMiB = kb / 1024
		} else if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); err == nil {
			availMiB = kb / 1024
		}
	}
	return totalMiB, availMiB
}

// Read returns this machine's Info; the memory fields are 0 when
// /proc/meminfo cannot be read.
func Read() Info {
	i := Info{CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		i.MemTotalMiB, i.MemAvailableMiB = ParseMeminfo(data)
	}
	return i
}
