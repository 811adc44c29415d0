package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// TestBuilderMatrix runs e2e/testdata/builder.yaml: a patch series that
// applies (built after its base, recompiling only the patched file), one
// that does not (the cell is build-failed with a message naming the patch,
// its subject, the file and the hunk), and a config option that cannot
// survive olddefconfig (build-failed, naming the option). The other cells
// run regardless, and the run exits 3 (infrastructure: a cell could not be
// built).
func TestBuilderMatrix(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	matrix := filepath.Join(repoRoot(t), "e2e", "testdata", "builder.yaml")
	// validate --apply finds the bad series before anything is built.
	code, vout := runKvmtest(t, bin, "validate", "--apply", matrix)
	if code != 2 || !strings.Contains(vout, "patchset good applies to kernel 6.12") ||
		!strings.Contains(vout, "patchset bad on kernel 6.12: patch 0001-splice-wrong-context.patch ([PATCH] splice: a patch for another tree) does not apply: fs/splice.c: Hunk #1 FAILED at 1") {
		t.Errorf("validate --apply: exit %d, want 2 naming the bad patch, its subject, file and hunk", code)
	}
	code, _ = runKvmtest(t, bin, "run", matrix, "--out", out)
	if code != 3 {
		t.Errorf("exit %d, want 3 (two cells could not be built)", code)
	}
	run, err := results.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	cell := func(id string) *results.Cell {
		c := run.Cell(id)
		if c == nil {
			t.Fatalf("no cell %s in run.json", id)
		}
		return c
	}

	base, good := cell("6.12-base-minimal"), cell("6.12-good-minimal")
	for _, c := range []*results.Cell{base, good} {
		if c.Status != results.StatusPassed {
			t.Errorf("%s: %s (%s), want passed", c.ID, c.Status, c.Reason)
		}
	}
	if good.ArtifactKey == base.ArtifactKey || good.ArtifactKey == "" {
		t.Errorf("patched cell shares the base artifact %q", base.ArtifactKey)
	}
	log, err := os.ReadFile(filepath.Join(out, "cells", good.ID, "build.log"))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case good.BuildCached:
	case strings.Contains(string(log), "linking a build tree"):
		// The base came from the artifact cache but this machine has no
		// build slot for it yet (a cache restored without work/): the
		// variant was built from scratch, correctly but not incrementally.
		t.Logf("%s built in a fresh slot: incrementality not observable in this run", good.ID)
	case headerSwitched(string(log)):
		// The slot last held another series that changed a header (the
		// vmsplice series edits include/linux/pipe_fs_i.h): restoring it
		// rightly rebuilds everything that includes it.
		t.Logf("%s: the slot switch restored a header, so the rebuild is wider than fs/splice.o", good.ID)
		if !regexp.MustCompile(`(?m)^\s+CC\s+fs/splice\.o$`).Match(log) {
			t.Errorf("patched variant did not recompile fs/splice.o:\n%s", log)
		}
	default:
		// Built after its base, in the same build slot: only the patched
		// file (and the link) are redone.
		compiled := regexp.MustCompile(`(?m)^\s+CC\s+(\S+)$`).FindAllStringSubmatch(string(log), -1)
		var files []string
		for _, m := range compiled {
			files = append(files, m[1])
		}
		if len(files) == 0 || len(files) > 10 || !strings.Contains(strings.Join(files, " "), "fs/splice.o") {
			t.Errorf("patched variant compiled %d files (%v); want fs/splice.o and a handful at most", len(files), files)
		}
	}

	bad := cell("6.12-bad-minimal")
	wantBad := regexp.MustCompile(`^patch: patch 0001-splice-wrong-context\.patch \(\[PATCH\] splice: a patch for another tree\) does not apply: fs/splice\.c: Hunk #1 FAILED at 1\n  reproduce: cd \S+ && patch -p1 --dry-run -i \S+/0001-splice-wrong-context\.patch$`)
	if bad.Status != results.StatusBuildFailed || !wantBad.MatchString(bad.Reason) {
		t.Errorf("bad series: %s\n%s\nwant build-failed matching %s", bad.Status, bad.Reason, wantBad)
	}

	kvm := cell("6.12-base-needs-kvm")
	wantKVM := "config: 1 requested config option(s) did not survive olddefconfig (unmet dependencies?):\n  CONFIG_KVM: asked y, got not set (defined at arch/x86/kvm/Kconfig:50, depends on VIRTUALIZATION (not set))"
	if kvm.Status != results.StatusBuildFailed || kvm.Reason != wantKVM {
		t.Errorf("needs-kvm: %s\n%q\nwant build-failed with\n%q", kvm.Status, kvm.Reason, wantKVM)
	}

	// A re-run builds nothing and keeps the same verdicts.
	out2 := filepath.Join(t.TempDir(), "results2")
	runKvmtest(t, bin, "run", matrix, "--out", out2, "--cell", "*-minimal")
	run2, err := results.Read(out2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range run2.Cells {
		if c.Status == results.StatusPassed && !c.BuildCached {
			t.Errorf("re-run rebuilt %s", c.ID)
		}
	}
}

// headerSwitched reports whether a build log's slot switch restored or
// patched a header file.
func headerSwitched(log string) bool {
	for _, m := range regexp.MustCompile(`(?m)^kvmtest: slot switch: .*$`).FindAllString(log, -1) {
		if strings.Contains(m, ".h ") || strings.Contains(m, ".h]") {
			return true
		}
	}
	return false
}
