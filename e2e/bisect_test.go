package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/results"
)

// bisectJSON is the part of OUT/bisect.json the test checks.
type bisectJSON struct {
	Mode  string `json:"mode"`
	Steps []struct {
		State   int      `json:"state"`
		Verdict string   `json:"verdict"`
		Why     string   `json:"why"`
		Dirs    []string `json:"dirs"`
	} `json:"steps"`
	FirstBad   *int `json:"first_bad"`
	LastGood   *int `json:"last_good"`
	Conclusive bool `json:"conclusive"`
	Expected   int  `json:"expected_steps"`
}

// TestBisectSeries bisects the vmsplice v1 series on real kernels: which
// of its three patches regresses the blocking partial write with no
// reader, and which makes pipe buffers stable. Both are patch 2 (vmsplice
// becomes pwritev2/preadv2 on the pipe); patch 1 only drops an unused
// argument. Each state's kernel is really built (the two intermediate
// states incrementally, in the series' build slot) and booted, and the
// verdicts come from the guest's real test results.
func TestBisectSeries(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	const patch2 = `2/3 0002-vmsplice-make-vmsplice-a-trivial-wrapper-for-pwritev.patch "[PATCH 2/3] vmsplice: make vmsplice a trivial wrapper for pwritev2/preadv2"`
	const patch1 = `1/3 0001-splice-drop-the-unused-flags-argument-of-link_pipe.patch "[PATCH 1/3] splice: drop the unused flags argument of link_pipe()"`
	tests := []struct {
		name, test string
		fixed      bool
		first      string
		verdicts   map[int]string // state -> verdict
	}{
		{"regression", "vmsplice/TestVmsplicePartialWriteWithoutReader$", false, "first bad: " + patch2,
			map[int]string{0: "good", 1: "good", 2: "bad", 3: "bad"}},
		{"fix", "^TestVmspliceBufferIsStable$", true, "first fixed: " + patch2,
			map[int]string{0: "good", 1: "good", 2: "bad", 3: "bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bisect")
			args := []string{"bisect", "--cell", "6.12-vmsplice-v1-minimal", "--suite", "vmsplice", "--test", tt.test, "--out", out}
			if tt.fixed {
				args = append(args, "--fixed")
			}
			code, stdout := runKvmtest(t, bin, args...)
			if code != 0 || !strings.Contains(stdout, tt.first+"\n") {
				t.Errorf("exit %d; want 0 and %q", code, tt.first)
			}
			if !strings.Contains(stdout, patch1) {
				t.Errorf("the last good state is not patch 1: want %q", patch1)
			}
			rec, b := readBisect(t, out)
			if rec.Mode != "series" || rec.FirstBad == nil || *rec.FirstBad != 2 || rec.LastGood == nil || *rec.LastGood != 1 || !rec.Conclusive {
				t.Errorf("bisect.json: %s", b)
			}
			if len(rec.Steps) > rec.Expected || len(rec.Steps) != 4 {
				t.Errorf("%d steps for 4 states, want 4 (expected at most %d)", len(rec.Steps), rec.Expected)
			}
			// Every verdict is the real guest's: read each step's run.
			for _, s := range rec.Steps {
				if want := tt.verdicts[s.State]; s.Verdict != want {
					t.Errorf("state %d: %s (%s), want %s", s.State, s.Verdict, s.Why, want)
				}
				run, err := results.Read(filepath.Join(out, s.Dirs[0]))
				if err != nil {
					t.Fatal(err)
				}
				c := run.Cells[0]
				name := strings.TrimPrefix(strings.Trim(tt.test, "^$"), "vmsplice/")
				var got string
				for _, suite := range c.Suites {
					for _, test := range suite.Tests {
						if test.Name == name {
							got = test.Status
						}
					}
				}
				// Without --fixed bad means the test failed; with it, passed.
				want := map[bool]string{false: "pass", true: "fail"}[(s.Verdict == "bad") != tt.fixed]
				if got != want {
					t.Errorf("state %d (%s): %s is %q in %s, want %q", s.State, s.Verdict, name, got, s.Dirs[0], want)
				}
			}
		})
	}
}

// gitKernel makes a bare git repository of Debian's 6.12 source (tag
// v6.12.117) with the vmsplice v1 patches committed on top (tag v1), and
// returns its path. Dates and names are fixed, so the commits are the same
// on every run and their kernels are cached. The shared source tree is
// only read (git add with it as the work tree; the patches go to the
// index with git apply --cached).
func gitKernel(t *testing.T) string {
	t.Helper()
	cache, err := builder.OpenCache(cacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := cache.SourceTree(context.Background(), builder.Source{Tarball: "/usr/src/linux-source-6.12.tar.xz"}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "linux.git")
	env := append(os.Environ(), "GIT_DIR="+repo, "GIT_WORK_TREE="+tree, "GIT_INDEX_FILE="+filepath.Join(t.TempDir(), "index"),
		"GIT_AUTHOR_NAME=kvmtest", "GIT_AUTHOR_EMAIL=kvmtest@example.org", "GIT_AUTHOR_DATE=2026-06-15T10:00:00Z",
		"GIT_COMMITTER_NAME=kvmtest", "GIT_COMMITTER_EMAIL=kvmtest@example.org", "GIT_COMMITTER_DATE=2026-06-15T10:00:00Z")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env, cmd.Dir = env, tree
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("git", "init", "-q", "--bare", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	// No automatic gc: it would repack in the background, still writing
	// to the repository when the test removes it.
	git("config", "gc.auto", "0")
	git("config", "maintenance.auto", "false")
	// -f: Debian's top-level .gitignore ignores everything but debian/.
	git("add", "-A", "-f", ".")
	git("commit", "-q", "-m", "Linux 6.12.117 (Debian linux-source-6.12)")
	git("tag", "v6.12.117")
	patches, err := filepath.Glob(filepath.Join(repoRoot(t), "matrices", "patches", "vmsplice-v1", "*.patch"))
	if err != nil || len(patches) != 3 {
		t.Fatalf("v1 patches: %v, %v", patches, err)
	}
	for _, p := range patches {
		git("apply", "--cached", p)
		subj := regexp.MustCompile(`^\[PATCH \d+/\d+\] `).ReplaceAllString(builder.PatchSubject(p), "")
		git("commit", "-q", "-m", subj)
	}
	git("tag", "v1")
	return repo
}

// cacheDir is the kernel cache kvmtest uses ($KVMTEST_CACHE or the user
// cache directory's kvmtest).
func cacheDir(t *testing.T) string {
	d, err := builder.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBisectGit bisects the same change as a git range: Debian's 6.12
// source and the three v1 commits on top. Each commit is checked out as
// a worktree, built (in the kernel's one build slot, moved from commit
// to commit) and booted; the commit that regresses the partial write is
// the second.
func TestBisectGit(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	repo := gitKernel(t)
	dir := t.TempDir()
	matrix := filepath.Join(dir, "git.yaml")
	root := repoRoot(t)
	yaml := `name: e2e-git-bisect
kernels:
  - name: "6.12"
    source: {git: {repo: ` + repo + `, ref: v1}}
patchsets:
  - {name: base}
configs:
  - {name: minimal, base: tinyconfig, fragments: [` + filepath.Join(root, "matrices", "configs", "qemu-minimal.config") + `, ` + filepath.Join(root, "matrices", "configs", "rootfs.config") + `]}
suites:
  - {name: vmsplice, go-test: ` + filepath.Join(root, "guest", "tests", "vmsplice") + `, timeout: 1m}
vm: {memory: 512M, cpus: 1, accel: auto, boot-timeout: 30s, cmdline: [secretmem.enable=1]}
`
	if err := os.WriteFile(matrix, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bisect")
	code, stdout := runKvmtest(t, bin, "bisect", matrix, "--cell", "6.12-base-minimal", "--good", "v6.12.117",
		"--test", "vmsplice/TestVmsplicePartialWriteWithoutReader$", "--out", out)
	first := regexp.MustCompile(`(?m)^first bad: 2/3 [0-9a-f]{12} "vmsplice: make vmsplice a trivial wrapper for pwritev2/preadv2"$`)
	last := regexp.MustCompile(`(?m)^last good: 1/3 [0-9a-f]{12} "splice: drop the unused flags argument of link_pipe\(\)"$`)
	if code != 0 || !first.MatchString(stdout) || !last.MatchString(stdout) {
		t.Errorf("exit %d; want 0, %s and %s", code, first, last)
	}
	rec, b := readBisect(t, out)
	if rec.Mode != "git" || len(rec.Steps) != 4 || rec.FirstBad == nil || *rec.FirstBad != 2 {
		t.Errorf("bisect.json: %s", b)
	}
	// Each state ran the kernel of its own commit; the commits built here
	// (none once cached) share the kernel's slot: every build after
	// the first moved it from one commit to the next instead of starting
	// afresh.
	releases := map[string]bool{}
	built, moved := 0, 0
	for _, s := range rec.Steps {
		dir := filepath.Join(out, s.Dirs[0])
		run, err := results.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		c := run.Cells[0]
		releases[c.ArtifactKey] = true
		if c.BuildCached {
			continue
		}
		built++
		log, err := os.ReadFile(filepath.Join(dir, "cells", c.ID, "build.log"))
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`kvmtest: slot switch: commit [0-9a-f]{12} -> [0-9a-f]{12}: \d+ file\(s\) differ`).Match(log) {
			moved++
		}
	}
	if len(releases) != 4 {
		t.Errorf("%d distinct kernels for 4 commits", len(releases))
	}
	if built > 1 && moved < built-1 {
		t.Errorf("%d commit(s) built, only %d by moving the kernel's slot from another commit", built, moved)
	}
	t.Logf("%d of 4 commits built, %d incrementally", built, moved)
}

// readBisect reads OUT/bisect.json, returning it decoded and as written.
func readBisect(t *testing.T, out string) (bisectJSON, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "bisect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec bisectJSON
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec, b
}
