package builder

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const patchA = `From 1111 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH 1/2] splice: change a line

---
 fs/splice.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/fs/splice.c b/fs/splice.c
--- a/fs/splice.c
+++ b/fs/splice.c
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
`

const patchNew = `Subject: [PATCH 2/2] add a file

diff --git a/fs/new.c b/fs/new.c
new file mode 100644
--- /dev/null
+++ b/fs/new.c
@@ -0,0 +1 @@
+new
`

const patchBad = `From 2222 Mon Sep 17 00:00:00 2001
Subject: [PATCH] pipe: does not apply

diff --git a/fs/pipe.c b/fs/pipe.c
--- a/fs/pipe.c
+++ b/fs/pipe.c
@@ -1,3 +1,3 @@
 alpha
-nothing like this
+delta
 gamma
`

func makePristine(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pristine")
	os.MkdirAll(filepath.Join(dir, "fs"), 0o755)
	writeFile(t, filepath.Join(dir, "fs"), "splice.c", "one\ntwo\nthree\n")
	writeFile(t, filepath.Join(dir, "fs"), "pipe.c", "alpha\nbeta\ngamma\n")
	writeFile(t, dir, "Makefile", "all:\n")
	return dir
}

func TestSlotSwitchesPatchSeries(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed")
	}
	b := testBuilder(t)
	pristine := makePristine(t)
	pdir := t.TempDir()
	pa := writeFile(t, pdir, "0001-a.patch", patchA)
	pn := writeFile(t, pdir, "0002-new.patch", patchNew)
	ctx := context.Background()
	s, err := b.openSlot(ctx, "slot-test", pristine, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	read := func(dir, rel string) string {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return "<absent>"
		}
		return string(b)
	}
	checkout := func(patches ...string) {
		t.Helper()
		ds, _, err := digestFiles(patches)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.checkout(ctx, b, patches, ds, io.Discard); err != nil {
			t.Fatalf("checkout %v: %v", patches, err)
		}
	}

	checkout(pa, pn)
	if got := read(s.src, "fs/splice.c"); got != "one\nTWO\nthree\n" {
		t.Errorf("patched splice.c = %q", got)
	}
	if got := read(s.src, "fs/new.c"); got != "new\n" {
		t.Errorf("new file = %q", got)
	}
	if got := read(pristine, "fs/splice.c"); got != "one\ntwo\nthree\n" {
		t.Fatalf("the pristine tree was written through a hard link: %q", got)
	}
	patchedAt := time.Now()
	time.Sleep(20 * time.Millisecond)

	// Back to no patches: the touched file is restored with a new mtime
	// (so make rebuilds it), the created file is gone, untouched files
	// stay hard links to the pristine tree.
	checkout()
	if got := read(s.src, "fs/splice.c"); got != "one\ntwo\nthree\n" {
		t.Errorf("restored splice.c = %q", got)
	}
	if got := read(s.src, "fs/new.c"); got != "<absent>" {
		t.Errorf("created file not removed: %q", got)
	}
	fi, _ := os.Stat(filepath.Join(s.src, "fs/splice.c"))
	if !fi.ModTime().After(patchedAt) {
		t.Errorf("restored file mtime %v not after the patched build %v", fi.ModTime(), patchedAt)
	}
	pi, _ := os.Stat(filepath.Join(pristine, "fs/pipe.c"))
	si, _ := os.Stat(filepath.Join(s.src, "fs/pipe.c"))
	if !os.SameFile(pi, si) {
		t.Error("an untouched file is not shared with the pristine tree")
	}

	// Same series twice: nothing to do (the state says so).
	checkout(pa)
	before, _ := os.Stat(filepath.Join(s.src, "fs/splice.c"))
	time.Sleep(20 * time.Millisecond)
	checkout(pa)
	after, _ := os.Stat(filepath.Join(s.src, "fs/splice.c"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("checking out the same series again touched the files")
	}
}

func TestSlotReportsFailingPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed")
	}
	b := testBuilder(t)
	pristine := makePristine(t)
	pdir := t.TempDir()
	pa := writeFile(t, pdir, "0001-a.patch", patchA)
	bad := writeFile(t, pdir, "0002-bad.patch", patchBad)
	ctx := context.Background()
	s, err := b.openSlot(ctx, "slot-bad", pristine, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ds, _, _ := digestFiles([]string{pa, bad})
	err = s.checkout(ctx, b, []string{pa, bad}, ds, io.Discard)
	var pe *PatchError
	if !errors.As(err, &pe) {
		t.Fatalf("checkout = %v, want a *PatchError", err)
	}
	want := "patch 0002-bad.patch ([PATCH] pipe: does not apply) does not apply: fs/pipe.c: Hunk #1 FAILED at 1\n  reproduce: cd " + pristine + " && patch -p1 --dry-run -i " + bad
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	// The slot recovers: a good series applies cleanly afterwards, and no
	// half-applied change survives.
	ds, _, _ = digestFiles(nil)
	if err := s.checkout(ctx, b, nil, ds, io.Discard); err != nil {
		t.Fatalf("checkout after failure: %v", err)
	}
	for _, f := range []string{"fs/splice.c", "fs/pipe.c"} {
		got, _ := os.ReadFile(filepath.Join(s.src, f))
		want, _ := os.ReadFile(filepath.Join(pristine, f))
		if string(got) != string(want) {
			t.Errorf("%s after recovery = %q, want pristine %q", f, got, want)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(s.src, "fs", "*.rej")); len(ents) > 0 {
		t.Errorf("reject files left behind: %v", ents)
	}
}

func TestPatchFilesRefusesEscapes(t *testing.T) {
	p := writeFile(t, t.TempDir(), "evil.patch", "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n")
	if _, err := patchFiles(p); err == nil || !strings.Contains(err.Error(), "outside the tree") {
		t.Errorf("patchFiles = %v, want a refusal", err)
	}
	p = writeFile(t, t.TempDir(), "ok.patch", patchA+patchNew)
	got, err := patchFiles(p)
	if err != nil || strings.Join(got, ",") != "fs/new.c,fs/splice.c" {
		t.Errorf("patchFiles = %v, %v", got, err)
	}
}
