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
	s, err := b.openSlot(ctx, "slot-test", &prepared{Digest: "t", Tree: pristine}, io.Discard)
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
	s, err := b.openSlot(ctx, "slot-bad", &prepared{Digest: "t", Tree: pristine}, io.Discard)
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

// A git slot follows the commits of its repository: switching restores
// exactly the files that differ (fresh copies), keeps the rest linked and
// the build directory, and reruns kconfig only for a Kconfig change.
func TestSlotFollowsGitCommits(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch(1) not installed")
	}
	repo, git := newGitRepo(t)
	os.MkdirAll(filepath.Join(repo, "scripts", "kconfig"), 0o755)
	writeFile(t, filepath.Join(repo, "scripts", "kconfig"), "merge_config.sh", "")
	writeFile(t, repo, "Makefile", "all:\n")
	writeFile(t, repo, "Kconfig", "config A\n")
	os.MkdirAll(filepath.Join(repo, "fs"), 0o755)
	os.MkdirAll(filepath.Join(repo, "include"), 0o755)
	writeFile(t, filepath.Join(repo, "fs"), "splice.c", "one\ntwo\nthree\n")
	writeFile(t, filepath.Join(repo, "fs"), "pipe.c", "alpha\n")
	writeFile(t, filepath.Join(repo, "include"), "a.h", "header\n")
	git("add", ".")
	git("commit", "-qm", "c1")
	c1 := git("rev-parse", "HEAD")
	writeFile(t, filepath.Join(repo, "fs"), "splice.c", "one\ntwo\nthree\nfour\n")
	git("rm", "-q", "fs/pipe.c")
	writeFile(t, filepath.Join(repo, "fs"), "new.c", "new\n")
	git("add", ".")
	git("commit", "-qm", "c2")
	c2 := git("rev-parse", "HEAD")
	writeFile(t, repo, "Kconfig", "config A\nconfig B\n")
	git("commit", "-qam", "c3")
	c3 := git("rev-parse", "HEAD")

	b := testBuilder(t)
	ctx := context.Background()
	logf := func(string, ...any) {}
	prep := func(commit string) *prepared {
		t.Helper()
		p, err := b.Cache.prepareGit(ctx, repo, commit, logf)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1, p2, p3 := prep(c1), prep(c2), prep(c3)
	if p1.slotSource("k") != p2.slotSource("k") || p1.slotSource("k") == p1.Digest {
		t.Fatalf("commits of one kernel have slot sources %q and %q", p1.slotSource("k"), p2.slotSource("k"))
	}
	if p1.slotSource("k") == p1.slotSource("next") {
		t.Fatal("two kernels of one repository share a slot")
	}
	pa := writeFile(t, t.TempDir(), "0001-a.patch", patchA)
	ds, _, _ := digestFiles([]string{pa})
	open := func(p *prepared) (*slot, string) {
		t.Helper()
		var log strings.Builder
		s, err := b.openSlot(ctx, "slot-git", p, &log)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.checkout(ctx, b, []string{pa}, ds, &log); err != nil {
			t.Fatal(err)
		}
		return s, log.String()
	}
	read := func(s *slot, rel string) string {
		b, err := os.ReadFile(filepath.Join(s.src, rel))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}

	s, _ := open(p1)
	s.setConfigured(true)
	obj := writeFile(t, s.build, "splice.o", "object")
	if got := read(s, "fs/splice.c"); got != "one\nTWO\nthree\n" {
		t.Fatalf("c1 + patch: fs/splice.c = %q", got)
	}

	before := time.Now().Add(-time.Second)
	s, log := open(p2)
	if !strings.Contains(log, "commit "+c1[:12]+" -> "+c2[:12]+": 3 file(s) differ") {
		t.Errorf("switch log does not name the commits and the 3 files:\n%s", log)
	}
	if got := read(s, "fs/splice.c"); got != "one\nTWO\nthree\nfour\n" {
		t.Errorf("c2 + patch: fs/splice.c = %q", got)
	}
	if _, err := os.Stat(filepath.Join(s.src, "fs", "pipe.c")); !os.IsNotExist(err) {
		t.Errorf("fs/pipe.c, deleted by c2, is still in the slot (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(s.src, "fs", "new.c")); err != nil || fi.ModTime().Before(before) {
		t.Errorf("fs/new.c, added by c2, is not a fresh copy: %v", err)
	}
	a1, _ := os.Stat(filepath.Join(p1.Tree, "include", "a.h"))
	a2, _ := os.Stat(filepath.Join(s.src, "include", "a.h"))
	if a1 == nil || a2 == nil || !os.SameFile(a1, a2) {
		t.Error("include/a.h, the same in both commits, is no longer the hard link it was (make would rebuild its includers)")
	}
	if _, err := os.Lstat(filepath.Join(s.src, ".git")); !os.IsNotExist(err) {
		t.Errorf("the slot has the worktree's .git (the kernel release would depend on the repository): %v", err)
	}
	st := s.state()
	if st.Source != p2.Digest || !st.Configured || st.Dirty {
		t.Errorf("after the switch to c2: state %+v", st)
	}
	if _, err := os.Stat(obj); err != nil {
		t.Errorf("the build directory did not survive the switch: %v", err)
	}

	s, _ = open(p3)
	if got := read(s, "Kconfig"); got != "config A\nconfig B\n" {
		t.Errorf("c3: Kconfig = %q", got)
	}
	if s.state().Configured {
		t.Error("a Kconfig change left the slot configured")
	}

	// A slot whose state names another kind of source is made afresh.
	s.saveState(slotState{Source: "tarball-digest"})
	var log2 strings.Builder
	s, err := b.openSlot(ctx, "slot-git", p1, &log2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log2.String(), "starting this slot afresh") || s.state().Source != p1.Digest {
		t.Errorf("stale slot: log %q, state %+v", log2.String(), s.state())
	}
	if _, err := os.Stat(obj); !os.IsNotExist(err) {
		t.Errorf("a slot made afresh kept its old build directory (%v)", err)
	}
}

// A local tree's .git directory is not linked into the slot (the kernel
// release must not depend on the repository), and the tree's own is left
// alone.
func TestSlotLeavesOutGit(t *testing.T) {
	b := testBuilder(t)
	tree := makePristine(t)
	os.MkdirAll(filepath.Join(tree, ".git", "objects"), 0o755)
	head := writeFile(t, filepath.Join(tree, ".git"), "HEAD", "ref: refs/heads/main\n")
	s, err := b.openSlot(context.Background(), "slot-local", &prepared{Digest: "tree-x", Tree: tree}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(s.src, ".git")); !os.IsNotExist(err) {
		t.Errorf("the slot has .git: %v", err)
	}
	if b, err := os.ReadFile(head); err != nil || string(b) != "ref: refs/heads/main\n" {
		t.Errorf("the tree's own .git/HEAD: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(s.src, "fs", "splice.c")); err != nil {
		t.Errorf("the slot lacks the tree's files: %v", err)
	}
}
