package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// TestArchMatrix runs the shipped vmsplice-arch matrix: Debian's 6.12,
// unpatched and with v2 of the series, for x86_64 (the default matrix's
// kernels), and cross-built for arm64 and riscv64 with Debian's cross
// compilers, booted under the real qemu-system-aarch64 and
// qemu-system-riscv64 (-machine virt, TCG), the vmsplice suite compiled
// for each GOARCH. The flips are the same on every architecture: base
// shares pages (the stability and semantics tests fail, as declared), v2
// keeps pipe buffers stable; each v2 cell is compared with the base cell
// of its own architecture, and the run exits 0.
func TestArchMatrix(t *testing.T) {
	requireE2E(t)
	for _, tool := range []string{"qemu-system-aarch64", "aarch64-linux-gnu-gcc", "qemu-system-riscv64", "riscv64-linux-gnu-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: run scripts/install-deps.sh", tool)
		}
	}
	bin := kvmtestBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	code, log := runKvmtest(t, bin, "run", "vmsplice-arch", "--out", out)
	if code != 0 {
		t.Errorf("kvmtest run vmsplice-arch exited %d, want 0", code)
	}
	for _, a := range []string{"arm64", "riscv64"} {
		if !strings.Contains(log, "accelerator for "+a+": tcg ("+a+" guest on an x86_64 host: TCG") {
			t.Errorf("no accelerator line saying why %s runs under TCG:\n%s", a, log)
		}
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Cells) != 6 {
		t.Errorf("cells %v: want 2 per architecture", cellIDs(run))
	}
	magic := map[string]string{"arm64": "ARM\x64", "riscv64": "RSC\x05"}
	for _, a := range []string{"x86_64", "arm64", "riscv64"} {
		base, v2 := run.Cell("6.12-base-minimal-"+a), run.Cell("6.12-vmsplice-v2-minimal-"+a)
		if base == nil || v2 == nil {
			t.Errorf("%s: no base or v2 cell in %v", a, cellIDs(run))
			continue
		}
		for _, c := range []*results.Cell{base, v2} {
			if c.Status != results.StatusPassed || c.Arch != a || (a != "x86_64" && c.Accel != "tcg") {
				t.Errorf("cell %s: status %s (%s), arch %q, accel %q; want passed, %s", c.ID, c.Status, c.Reason, c.Arch, c.Accel, a)
			}
		}
		if v2.Baseline != base.ID {
			t.Errorf("%s: v2's baseline is %q, want %s", a, v2.Baseline, base.ID)
		}
		// The kernel is the architecture's Image.
		if m := magic[a]; m != "" {
			k := filepath.Join(cacheDir(t), "artifacts", base.ArtifactKey, "Image")
			if b, err := os.ReadFile(k); err != nil || len(b) < 0x3c || string(b[0x38:0x3c]) != m {
				t.Errorf("%s is not an %s Image (%v)", k, a, err)
			}
		}
		b, _ := testOutcomes(t, out, base.ID, "vmsplice")
		p, _ := testOutcomes(t, out, v2.ID, "vmsplice")
		for _, name := range []string{
			"TestVmspliceBufferIsStable",
			"TestVmspliceBufferIsStableThroughTee",
			"TestVmspliceSharedFilePageIsStableAfterPwrite",
			"TestVmspliceNonblockFillsPipe",
			"TestVmspliceHonoursONonblock",
			"TestVmspliceRegularFileIsEBADF",
			"TestVmsplicePwritev2NowaitAfterVmsplice",
			"TestVmspliceFromSecretMemory",
		} {
			if b[name] != "fail" || p[name] != "pass" {
				t.Errorf("%s: %s: base %q, v2 %q; want fail then pass", a, name, b[name], p[name])
			}
		}
		if b["TestVmsplicePartialWriteWithoutReader"] != "pass" || p["TestVmsplicePartialWriteWithoutReader"] != "pass" {
			t.Errorf("%s: the no-reader partial write: base %q, v2 %q; want pass on both", a, b["TestVmsplicePartialWriteWithoutReader"], p["TestVmsplicePartialWriteWithoutReader"])
		}
	}
	// The programs the guests ran were built for their architectures.
	progs, _ := filepath.Glob(filepath.Join(cacheDir(t), "guest", "*"))
	count := map[elf.Machine]int{}
	for _, p := range progs {
		if f, err := elf.Open(p); err == nil {
			count[f.Machine]++
			f.Close()
		}
	}
	for _, m := range []elf.Machine{elf.EM_X86_64, elf.EM_AARCH64, elf.EM_RISCV} {
		if count[m] < 3 { // the agent, test2json, the vmsplice suite
			t.Errorf("%d %v programs in the guest cache, want at least 3", count[m], m)
		}
	}
}

func cellIDs(run *results.Run) []string {
	var ids []string
	for _, c := range run.Cells {
		ids = append(ids, c.ID)
	}
	return ids
}
