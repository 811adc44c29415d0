package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/guest/proto"
	"github.com/kvmtest/kvmtest/results"
)

// testOutcomes reads a cell's events.jsonl and returns each test's final
// action (pass, fail, skip) as the guest reported it, and its output.
func testOutcomes(t *testing.T, out, cell, suite string) (map[string]string, map[string]string) {
	t.Helper()
	actions, outputs := map[string]string{}, map[string]string{}
	for _, e := range readEvents(t, filepath.Join(out, "cells", cell, "events.jsonl")) {
		if e.Kind != proto.KindTest || e.Suite != suite || e.Test.Test == "" {
			continue
		}
		switch e.Test.Action {
		case "pass", "fail", "skip":
			actions[e.Test.Test] = e.Test.Action
		case "output":
			outputs[e.Test.Test] += e.Test.Output
		}
	}
	return actions, outputs
}

// TestDefaultMatrix runs `kvmtest run` with no argument: the embedded
// default matrix, 6.12 and 6.1 × base, vmsplice-v1, vmsplice-v2. From the
// guests' real events it checks the flips the series makes: base shares
// pages, v1 and v2 keep pipe buffers stable; v1 regresses the blocking
// partial write with no reader (reported, not hung), v2 fixes it; the
// series is skipped on 6.1. The regression makes the run exit 1.
func TestDefaultMatrix(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	code, _ := runKvmtest(t, bin, "run", "--out", out)
	if code != 1 {
		t.Errorf("kvmtest run exited %d, want 1 (v1's regression)", code)
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"6.12-base-minimal":        results.StatusPassed,
		"6.12-vmsplice-v1-minimal": results.StatusFailed,
		"6.12-vmsplice-v2-minimal": results.StatusPassed,
		"6.1-base-minimal":         results.StatusPassed,
		"6.1-vmsplice-v1-minimal":  results.StatusSkipped,
		"6.1-vmsplice-v2-minimal":  results.StatusSkipped,
	}
	if len(run.Cells) != len(want) {
		t.Errorf("%d cells, want %d", len(run.Cells), len(want))
	}
	for id, status := range want {
		c := run.Cell(id)
		if c == nil || c.Status != status {
			t.Errorf("cell %s: %+v, want status %s", id, c, status)
		}
	}

	stability := []string{
		"TestVmspliceBufferIsStable",
		"TestVmspliceBufferIsStableThroughTee",
		"TestVmspliceBufferIsStableThroughSpliceToFile",
		"TestVmspliceBufferIsStableThroughSpliceToUnixSocket",
		"TestVmspliceSharedFilePageIsStableAfterPwrite",
	}
	semantics := []string{
		"TestVmspliceNonblockFillsPipe",
		"TestVmspliceNonblockMergesSmallIovecs",
		"TestVmspliceHonoursONonblock",
		"TestVmspliceReadRespectsPacketBoundaries",
		"TestVmspliceRegularFileIsEBADF",
		"TestVmsplicePwritev2NowaitAfterVmsplice",
		"TestVmspliceFromSecretMemory", // base: EFAULT (memfd_secret pages cannot be pinned)
	}
	for _, kernel := range []string{"6.12", "6.1"} {
		base, baseOut := testOutcomes(t, out, kernel+"-base-minimal", "vmsplice")
		for _, name := range append(stability, semantics...) {
			if base[name] != "fail" {
				t.Errorf("%s base: %s = %q, want fail (unpatched behaviour)", kernel, name, base[name])
			}
		}
		if base["TestVmsplicePartialWriteWithoutReader"] != "pass" {
			t.Errorf("%s base: the partial write without reader %q, want pass", kernel, base["TestVmsplicePartialWriteWithoutReader"])
		}
		if !strings.Contains(baseOut["TestVmspliceBufferIsStable"], "'B'") {
			t.Errorf("%s base: stability test output does not show the changed bytes:\n%s", kernel, baseOut["TestVmspliceBufferIsStable"])
		}
	}
	v1, v1Out := testOutcomes(t, out, "6.12-vmsplice-v1-minimal", "vmsplice")
	v2, _ := testOutcomes(t, out, "6.12-vmsplice-v2-minimal", "vmsplice")
	for _, name := range append(stability, semantics...) {
		if v1[name] != "pass" || v2[name] != "pass" {
			t.Errorf("%s: v1 %q, v2 %q; want pass with the series", name, v1[name], v2[name])
		}
	}
	if v1["TestVmsplicePartialWriteWithoutReader"] != "fail" || !strings.Contains(v1Out["TestVmsplicePartialWriteWithoutReader"], "block") {
		t.Errorf("v1: the no-reader partial write %q, want fail reporting that it blocked:\n%s", v1["TestVmsplicePartialWriteWithoutReader"], v1Out["TestVmsplicePartialWriteWithoutReader"])
	}
	if v2["TestVmsplicePartialWriteWithoutReader"] != "pass" {
		t.Errorf("v2: the no-reader partial write %q, want pass (fixed)", v2["TestVmsplicePartialWriteWithoutReader"])
	}
	// The regression is the only unexpected result of the v1 cell.
	v1cell := run.Cell("6.12-vmsplice-v1-minimal")
	for _, s := range v1cell.Suites {
		for _, tt := range s.Tests {
			if !tt.AsExpected && tt.Name != "TestVmsplicePartialWriteWithoutReader" {
				t.Errorf("v1: unexpected %s/%s %s", s.Name, tt.Name, tt.Status)
			}
		}
	}
	// The kernel's own selftests, built from each cell's tree: mm/cow's
	// vmsplice cases pass with and without the series (no data leaks
	// across fork either way), splice's default_file_splice_read passes,
	// and 6.1 (no mm/cow) skips the mm suite with the reason.
	cowCases := []string{
		"cow/vmsplice() + unmap in child ... with base page",
		"cow/vmsplice() before fork(), unmap in parent after fork() ... with base page",
		"cow/Basic COW after fork() ... with base page",
		"cow",
	}
	for _, id := range []string{"6.12-base-minimal", "6.12-vmsplice-v1-minimal", "6.12-vmsplice-v2-minimal"} {
		got, _ := testOutcomes(t, out, id, "kselftest-mm")
		for _, name := range cowCases {
			if got[name] != "pass" {
				t.Errorf("%s: kselftest-mm %q = %q, want pass (all cases: %v)", id, name, got[name], got)
			}
		}
		if got["cow/R/O GUP pin on R/O-mapped shared page ... with base page"] != "skip" {
			t.Errorf("%s: the gup_test case (no CONFIG_GUP_TEST) = %q, want skip", id, got["cow/R/O GUP pin on R/O-mapped shared page ... with base page"])
		}
	}
	for _, id := range []string{"6.12-base-minimal", "6.12-vmsplice-v2-minimal", "6.1-base-minimal"} {
		got, _ := testOutcomes(t, out, id, "kselftest-splice")
		if got["default_file_splice_read.sh"] != "pass" {
			t.Errorf("%s: kselftest-splice default_file_splice_read.sh = %q, want pass (all: %v)", id, got["default_file_splice_read.sh"], got)
		}
	}
	for _, s := range run.Cell("6.1-base-minimal").Suites {
		if s.Name == "kselftest-mm" && (s.Status != results.Skip || !strings.Contains(s.Message, ">= 6.3")) {
			t.Errorf("6.1: kselftest-mm %s (%s), want skipped for requiring >= 6.3", s.Status, s.Message)
		}
	}
	// Benchmarks ran in every booted cell and their lines were kept.
	for _, id := range []string{"6.12-base-minimal", "6.12-vmsplice-v2-minimal"} {
		c := run.Cell(id)
		for _, s := range c.Suites {
			if s.Name == "vmsplice-bench" && s.Status != results.Pass {
				t.Errorf("%s: benchmark suite %s", id, s.Status)
			}
		}
	}
	// The report says it at a glance: v1's line names the regression, v2's
	// has none and counts the fixes.
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	glance := map[string]string{}
	for _, line := range strings.Split(string(md), "\n") {
		for _, ps := range []string{"vmsplice-v1", "vmsplice-v2"} {
			if strings.HasPrefix(line, "- "+ps+" vs base, 6.12 / minimal: ") {
				glance[ps] = line
			}
		}
	}
	if l := glance["vmsplice-v1"]; !strings.Contains(l, "1 REGRESSION (vmsplice/TestVmsplicePartialWriteWithoutReader)") {
		t.Errorf("report.md at a glance, v1: %q, want the regression named", l)
	}
	if l := glance["vmsplice-v2"]; l == "" || strings.Contains(l, "REGRESSION") || !strings.Contains(l, "fixes") {
		t.Errorf("report.md at a glance, v2: %q, want fixes and no regression", l)
	}
}
