package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/results"
)

// debianCloudPackage is the real package Debian's linux-image-cloud-amd64
// metapackage depends on today (linux-image-6.1.0-N-cloud-amd64 on
// Debian 12), as apt knows it.
func debianCloudPackage(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("apt-cache", "depends", "linux-image-cloud-amd64").CombinedOutput()
	if err != nil {
		t.Fatalf("apt-cache depends linux-image-cloud-amd64: %v\n%s (apt-get update?)", err, out)
	}
	m := regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*-cloud-amd64)\b`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("apt-cache depends linux-image-cloud-amd64 names no kernel package:\n%s", out)
	}
	return m[1]
}

// distroMatrix runs suites on Debian's own cloud kernel, fetched with
// apt-get download and unpacked into the cache: the vmsplice suite in
// the initramfs, a host program in the host's root (its own rootfs:
// host; the kernel has virtiofs, fuse and overlay as modules, which the
// agent loads before it mounts the share), and a suite that needs one
// more module. The series cannot apply to a prebuilt kernel: its cell is
// skipped.
func distroMatrix(t *testing.T, pkg string) string {
	root := repoRoot(t)
	return writeTempMatrix(t, "distro.yaml", fmt.Sprintf(`name: e2e-distro
kernels:
  - {name: debian-6.1, version: "6.1", source: {package: %s}}
patchsets:
  - {name: base}
  - {name: vmsplice-v1, series: %s}
suites:
  - {name: vmsplice, go-test: %s, args: [-test.run=TestVmspliceBufferIsStable$], timeout: 1m}
  - {name: host-uname, rootfs: host, command: [sh, -c, "uname -r; grep -o '^virtiofs ' /proc/modules; findmnt -n -o FSTYPE /"], timeout: 1m}
  - {name: blk, modules: [virtio_blk], command: [/bin/sh, -c, "test -d /sys/module/virtio_blk && echo virtio_blk loaded"], timeout: 1m}
vm: {memory: 512M, cpus: 1, accel: auto, boot-timeout: 60s}
expect:
  - {suite: vmsplice, test: TestVmspliceBufferIsStable, status: fail, reason: unpatched vmsplice shares pages}
`, pkg, filepath.Join(root, "matrices", "patches", "vmsplice-v1"), filepath.Join(root, "guest", "tests", "vmsplice")))
}

// TestDistroKernel runs a matrix on a real Debian kernel package,
// unpacked into the cache (never installed on the host): its cell boots
// Debian's kernel with Debian's modules, which the agent loads from the
// initramfs (the transport's before the share is mounted, a suite's
// before it starts); the patched cell is skipped. Forcing 9p, which this
// kernel lacks altogether, is refused before QEMU starts, naming it.
func TestDistroKernel(t *testing.T) {
	requireE2E(t)
	pkg := debianCloudPackage(t)
	release := strings.TrimPrefix(pkg, "linux-image-")
	bin := kvmtestBinary(t)
	matrix := distroMatrix(t, pkg)
	out := filepath.Join(t.TempDir(), "results")
	code, stdout := runKvmtest(t, bin, "run", matrix, "--out", out)
	if code != 0 {
		t.Fatalf("kvmtest run on %s exited %d, want 0", pkg, code)
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	cells := map[string]*results.Cell{}
	for _, c := range run.Cells {
		cells[c.ID] = c
	}
	base, v1 := cells["debian-6.1-base-prebuilt"], cells["debian-6.1-vmsplice-v1-prebuilt"]
	if base == nil || v1 == nil {
		t.Fatalf("cells %v, want debian-6.1-base-prebuilt and debian-6.1-vmsplice-v1-prebuilt", cells)
	}
	if base.Status != results.StatusPassed || base.KernelRelease != release {
		t.Errorf("base cell: %s (%s), release %q; want passed on %s", base.Status, base.Reason, base.KernelRelease, release)
	}
	if v1.Status != results.StatusSkipped || !strings.Contains(v1.Reason, "patch series cannot apply to a prebuilt kernel") {
		t.Errorf("patched cell: %s (%s), want skipped: a series cannot apply", v1.Status, v1.Reason)
	}
	host := suiteOutput(t, out, base, "host-uname")
	if !strings.Contains(host, release+"\n") || !strings.Contains(host, "virtiofs \n") || !strings.Contains(host, "overlay") {
		t.Errorf("host-uname output %q: want the release, virtiofs loaded, an overlay root", host)
	}
	if blk := suiteOutput(t, out, base, "blk"); !strings.Contains(blk, "virtio_blk loaded") {
		t.Errorf("blk output %q: want virtio_blk loaded by the agent", blk)
	}
	if !strings.Contains(stdout, "shared root has the whole tree") {
		t.Errorf("no word of the modules the initramfs carries")
	}
	kconfig, _ := os.ReadFile(filepath.Join(out, "cells", base.ID, "kernel.config"))
	if !strings.Contains(string(kconfig), "CONFIG_VIRTIO_FS=m") {
		t.Errorf("kernel.config of the cell is not Debian's (no CONFIG_VIRTIO_FS=m)")
	}

	// 9p forced: this kernel has no 9p at all, and says so before it boots.
	cmd := exec.Command(bin, "run", matrix, "--out", filepath.Join(t.TempDir(), "r9p"))
	cmd.Env = append(os.Environ(), "KVMTEST_SHARE_TRANSPORT=9p")
	b, _ := cmd.CombinedOutput()
	t.Logf("with 9p forced:\n%s", b)
	if !strings.Contains(string(b), "rootfs / over 9p needs CONFIG_9P_FS, CONFIG_NET_9P_VIRTIO") {
		t.Errorf("9p forced on a kernel without 9p: not refused before boot, naming CONFIG_9P_FS")
	}
}

// suiteOutput is what a suite of a cell printed (its output events, a
// line each).
func suiteOutput(t *testing.T, out string, c *results.Cell, suite string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range readEvents(t, filepath.Join(out, "cells", c.ID, "events.jsonl")) {
		if e.Kind == proto.KindOutput && e.Suite == suite {
			b.WriteString(e.Output + "\n")
		}
	}
	return b.String()
}
