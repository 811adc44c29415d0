package builder

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newGitRepo makes an empty repository (skipping the test when git is
// missing) and returns it with a function that runs git in it and returns
// its trimmed output, failing the test on error.
func newGitRepo(t *testing.T) (repo string, git func(args ...string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo = t.TempDir()
	git = func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	return repo, git
}

// gitKernelRepo makes a small repository that looks like a kernel tree,
// with two commits.
func gitKernelRepo(t *testing.T) (repo, first, second string) {
	t.Helper()
	repo, run := newGitRepo(t)
	os.MkdirAll(filepath.Join(repo, "scripts", "kconfig"), 0o755)
	writeFile(t, repo, "Kconfig", "")
	writeFile(t, filepath.Join(repo, "scripts", "kconfig"), "merge_config.sh", "")
	writeFile(t, repo, "Makefile", "VERSION = 6\nPATCHLEVEL = 12\n")
	run("add", ".")
	run("commit", "-qm", "one")
	run("tag", "v6.12")
	first = run("rev-parse", "HEAD")
	writeFile(t, repo, "Makefile", "VERSION = 6\nPATCHLEVEL = 13\n")
	run("commit", "-qam", "two")
	second = run("rev-parse", "HEAD")
	return repo, first, second
}

func TestPrepareGit(t *testing.T) {
	repo, first, second := gitKernelRepo(t)
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logf := func(string, ...any) {}
	p1, err := c.prepareGit(ctx, repo, "v6.12", logf)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Digest != "git-"+first {
		t.Errorf("digest %s, want git-%s", p1.Digest, first)
	}
	if b, _ := os.ReadFile(filepath.Join(p1.Tree, "Makefile")); !strings.Contains(string(b), "PATCHLEVEL = 12") {
		t.Errorf("worktree of v6.12 has Makefile %q", b)
	}
	p2, err := c.prepareGit(ctx, repo, second[:10], logf)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Digest == p1.Digest || p2.Tree == p1.Tree {
		t.Error("two commits share a tree")
	}
	// The same commit by another name reuses the worktree.
	p3, err := c.prepareGit(ctx, repo, first, logf)
	if err != nil || p3.Tree != p1.Tree {
		t.Errorf("same commit: %v, tree %s vs %s", err, p3.Tree, p1.Tree)
	}
	if _, err := c.prepareGit(ctx, repo, "no-such-ref", logf); err == nil || !strings.Contains(err.Error(), `ref "no-such-ref"`) {
		t.Errorf("missing ref: %v", err)
	}
	// The user's checkout is untouched.
	if b, _ := os.ReadFile(filepath.Join(repo, "Makefile")); !strings.Contains(string(b), "PATCHLEVEL = 13") {
		t.Error("the repository's own work tree changed")
	}
}

// A worktree removed by cache gc is checked out again when next needed.
func TestGCWorktreeComesBack(t *testing.T) {
	repo, first, _ := gitKernelRepo(t)
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := Source{GitRepo: repo, GitRef: "v6.12"}
	tree, err := c.SourceTree(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := c.GC(10, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "src/git-"+first {
		t.Fatalf("GC removed %v, want [src/git-%s]", removed, first)
	}
	if _, err := os.Stat(tree); !os.IsNotExist(err) {
		t.Fatalf("worktree still there after gc: %v", err)
	}
	again, err := c.SourceTree(ctx, src, nil)
	if err != nil {
		t.Fatalf("checking out again after gc: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(again, "Makefile")); !strings.Contains(string(b), "PATCHLEVEL = 12") {
		t.Errorf("worktree after gc has Makefile %q", b)
	}
	if removed, _ := c.GC(10, time.Hour); len(removed) != 0 {
		t.Errorf("a tree just used was removed: %v", removed)
	}
}
