package vmrunner

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/argv.golden.json from the current code")

// goldenArgvCases are the configurations whose full QEMU argv is kept in
// testdata/argv.golden.json. The golden file was written by the argv
// builder as it was before QEMU features became devices (commit 7692bac):
// the device values must build exactly the same command line.
var goldenArgvCases = []struct {
	name  string
	spec  Spec
	accel string
	caps  qemuCaps
}{
	{"defaults tcg no caps", Spec{Kernel: "/k/bzImage", Initrd: "/k/initrd"}, AccelTCG, qemuCaps{}},
	{"defaults kvm all caps", Spec{Kernel: "/k/bzImage", Initrd: "/k/initrd"}, AccelKVM, qemuCaps{action: true, pvpanicPCI: true}},
	{"engine-like", Spec{QEMU: "/usr/bin/qemu-system-x86_64", Kernel: "/c/bz Image", Initrd: "/c/init;rd", MemoryMiB: 2048, CPUs: 4,
		Cmdline: []string{"kvmtest.manifest=x", "foo=$(id)"}, ExtraArgs: []string{"-device", "virtio-rng-pci"}}, AccelKVM, qemuCaps{action: true, pvpanicPCI: true}},
	{"action without pvpanic-pci", Spec{Kernel: "k", Initrd: "i", CPUs: 2}, AccelTCG, qemuCaps{action: true}},
	{"pvpanic-pci without action", Spec{Kernel: "k", Initrd: "i"}, AccelTCG, qemuCaps{pvpanicPCI: true}},
	{"microvm has no PCI", Spec{Kernel: "k", Initrd: "i", ExtraArgs: []string{"-machine", "microvm"}}, AccelKVM, qemuCaps{action: true, pvpanicPCI: true}},
	{"machine q35 in extra", Spec{Kernel: "k", Initrd: "i", ExtraArgs: []string{"-M", "q35,accel=kvm"}}, AccelKVM, qemuCaps{action: true, pvpanicPCI: true}},
	{"host root over virtiofs", Spec{Kernel: "k", Initrd: "i", MemoryMiB: 1024, Shares: []Share{{Tag: "kvmtest-root", Dir: "/"}, {Tag: "data", Dir: "/srv/a,b"}},
		shareTransport: "virtiofs"}, AccelTCG, qemuCaps{action: true}},
	{"host root over 9p", Spec{Kernel: "k", Initrd: "i", Shares: []Share{{Tag: "kvmtest-root", Dir: "/srv/a,b"}}, shareTransport: "9p"}, AccelTCG, qemuCaps{action: true}},
	// The other architectures (added with them, not by the old builder):
	// virt machines, their CPU models, console and firmware, and the event
	// channel on a virtio console port.
	{"arm64 virt", Spec{Arch: "arm64", Kernel: "/k/Image", Initrd: "i", CPUs: 2}, AccelTCG, qemuCaps{action: true, pvpanicPCI: true}},
	{"arm64 virt over virtiofs", Spec{Arch: "arm64", Kernel: "/k/Image", Initrd: "i", Shares: []Share{{Tag: "kvmtest-root", Dir: "/"}}, shareTransport: "virtiofs"}, AccelTCG, qemuCaps{action: true}},
	{"riscv64 virt", Spec{Arch: "riscv64", Kernel: "/k/Image", Initrd: "i"}, AccelTCG, qemuCaps{action: true, pvpanicPCI: true}},
}

// TestArgvGolden: the full argv for each configuration is the one the
// runner has always built (testdata/argv.golden.json).
func TestArgvGolden(t *testing.T) {
	path := filepath.Join("testdata", "argv.golden.json")
	got := map[string][]string{}
	for _, c := range goldenArgvCases {
		s := c.spec
		s.defaults()
		got[c.name] = s.argv(c.accel, "/tmp/kvmtest-vm-1", c.caps)
	}
	if *updateGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(want) != len(goldenArgvCases) {
		t.Errorf("%s has %d cases, the test %d", path, len(want), len(goldenArgvCases))
	}
	for _, c := range goldenArgvCases {
		w, ok := want[c.name]
		if !ok {
			t.Errorf("%s: no golden argv", c.name)
			continue
		}
		if !slices.Equal(got[c.name], w) {
			t.Errorf("%s: argv changed\n got %q\nwant %q", c.name, got[c.name], w)
		}
	}
}
