package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/matrices"
)

// TestInputDefaultsInstalled: every matrices.Load of this program (run's,
// plan's, validate's) checks tarballs with the builder and refuses a VM
// larger than this host, before anything is built.
func TestInputDefaultsInstalled(t *testing.T) {
	if matrices.DefaultHost.MemTotalMiB <= 0 {
		t.Skip("MemTotal unknown here")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "linux.tar.xz"), []byte("not a tarball\n"), 0o644)
	p := filepath.Join(dir, "m.yaml")
	os.WriteFile(p, []byte(`kernels: [{name: k, version: "6.12", source: {tarball: linux.tar.xz}}]
patchsets: [{name: base}]
configs: [{name: c, base: tinyconfig}]
vm: {memory: 16T}
`), 0o644)
	_, err := matrices.Load(p)
	for _, want := range []string{
		p + `:1:56: tarball "linux.tar.xz": not a tarball`,
		p + `:4:14: vm.memory 16T (16777216 MiB) is more than this host's memory`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load: %v\nwant a line with %s", err, want)
		}
	}
}

func TestInputPrintWarnings(t *testing.T) {
	var b bytes.Buffer
	printWarnings(&b, &matrices.Matrix{Warnings: matrices.ErrorList{{File: "m.yaml", Line: 3, Col: 9, Msg: "vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU"}}})
	if want := "m.yaml:3:9: warning: vm.cpus 4 but the kernel has no CONFIG_SMP: the guest runs on one CPU\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
