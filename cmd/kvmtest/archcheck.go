package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/kvmtest/kvmtest/internal/arch"
	"github.com/kvmtest/kvmtest/matrices"
	"github.com/kvmtest/kvmtest/results"
)

// lookPath is exec.LookPath; a variable for tests.
var lookPath = exec.LookPath

// checkArchTools checks, before anything is built, that this host has
// what each architecture of cells (of m) needs: the compiler of the cells
// that are built (the cross compiler of a foreign architecture), the QEMU
// binary and the firmware of every cell that boots. Each miss is printed
// to w at the architecture's place in the matrix (FILE:LINE:COL) with the
// Debian packages that provide it, and is bad input
// (results.ExitBadInput): scripts/install-deps.sh installs them all.
func checkArchTools(w io.Writer, m *matrices.Matrix, cells []matrices.Cell) int {
	code := results.ExitOK
	seen := map[string]bool{}
	for _, c := range cells {
		if c.Skip != "" {
			continue
		}
		name := c.Arch
		if name == "" {
			name = arch.Default
		}
		a, ok := arch.ByName(name)
		if !ok {
			continue // the loader refused it already
		}
		var misses []string
		var pkgs []string
		if c.Kernel.Source.Prebuilt == nil && !seen[name+"/cc"] {
			seen[name+"/cc"] = true
			if _, err := lookPath(a.CC()); err != nil {
				_, p := a.Toolchain()
				misses, pkgs = append(misses, a.CC()), append(pkgs, p...)
			}
		}
		if !seen[name+"/qemu"] {
			seen[name+"/qemu"] = true
			if _, err := lookPath(a.QEMU); err != nil {
				misses, pkgs = append(misses, a.QEMU), append(pkgs, a.QEMUPackage)
			}
			if fw := a.FirmwareFile(); fw != "" {
				if _, err := os.Stat(fw); err != nil {
					misses, pkgs = append(misses, fw), append(pkgs, a.FirmwarePackage)
				}
			}
		}
		if len(misses) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: arch %s: this host has no %s: apt-get install %s (or run scripts/install-deps.sh)\n",
			m.ArchPos(name), name, strings.Join(misses, ", no "), strings.Join(pkgs, " "))
		code = results.ExitBadInput
	}
	return code
}
