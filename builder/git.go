package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// prepareGit resolves ref in repo to a commit and returns a tree of that
// commit: a `git worktree` (detached) under src/git-COMMIT, shared by every
// build of that commit and never written by a build (builds are out of
// tree, patches go to build slots). A repository given as a URL is cloned
// once (bare) into the cache and fetched when a ref is not found.
func (c *Cache) prepareGit(ctx context.Context, repo, ref string, logf func(string, ...any)) (*prepared, error) {
	if ref == "" {
		return nil, fmt.Errorf("git source %s: no ref", repo)
	}
	gitDir, err := c.gitRepo(ctx, repo, logf)
	if err != nil {
		return nil, err
	}
	commit, err := resolveRef(ctx, gitDir, repo, ref)
	if err != nil {
		return nil, err
	}
	digest := "git-" + commit
	dir := c.Path("src", digest)
	tree := filepath.Join(dir, "tree")
	if isKernelTree(tree) {
		return &prepared{Digest: digest, Tree: tree, GitDir: gitDir}, nil
	}
	unlock, err := c.Lock("src-" + digest)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if isKernelTree(tree) {
		return &prepared{Digest: digest, Tree: tree, GitDir: gitDir}, nil
	}
	logf("checking out %s (%s) from %s", ref, commit[:12], repo)
	os.RemoveAll(dir)
	gitOut(ctx, gitDir, "worktree", "prune")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := gitOut(ctx, gitDir, "worktree", "add", "--detach", "--force", tree, commit); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("git source %s: worktree for %s: %w", repo, commit, err)
	}
	if !isKernelTree(tree) {
		return nil, fmt.Errorf("git source %s at %s: not a kernel tree", repo, ref)
	}
	return &prepared{Digest: digest, Tree: tree, GitDir: gitDir}, nil
}

// gitRepo returns the git directory to work with: the repository itself
// when it is local, or a bare clone in the cache when it is a URL.
func (c *Cache) gitRepo(ctx context.Context, repo string, logf func(string, ...any)) (string, error) {
	if !isURL(repo) {
		d, err := gitOut(ctx, repo, "rev-parse", "--absolute-git-dir")
		if err != nil {
			return "", fmt.Errorf("git source %s: %w", repo, err)
		}
		return d, nil
	}
	sum := sha256.Sum256([]byte(repo))
	dir := c.Path("git", hex.EncodeToString(sum[:8])+".git")
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return dir, nil
	}
	unlock, err := c.Lock("git-" + hex.EncodeToString(sum[:8]))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return dir, nil
	}
	logf("cloning %s (once)", repo)
	os.MkdirAll(filepath.Dir(dir), 0o755)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "git", "clone", "--bare", "--quiet", "--", repo, tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("git clone %s: %w: %s", repo, err, strings.TrimSpace(stderr.String()))
	}
	return dir, os.Rename(tmp, dir)
}

// resolveRef resolves ref to a commit hash in gitDir (repo's git
// directory); a repository given as a URL is fetched when the ref is not
// found.
func resolveRef(ctx context.Context, gitDir, repo, ref string) (string, error) {
	h, err := gitOut(ctx, gitDir, "rev-parse", "--verify", "--end-of-options", ref+"^{commit}")
	if err != nil && isURL(repo) {
		if _, ferr := gitOut(ctx, gitDir, "fetch", "--quiet", "origin", ref); ferr == nil {
			h, err = gitOut(ctx, gitDir, "rev-parse", "--verify", "--end-of-options", "FETCH_HEAD^{commit}")
		}
	}
	if err != nil {
		return "", fmt.Errorf("git source %s: ref %q: %w", repo, ref, err)
	}
	return h, nil
}

func isURL(repo string) bool {
	return strings.Contains(repo, "://") || (strings.Contains(repo, ":") && strings.Contains(repo, "@"))
}

// gitOut runs git in dir and returns its trimmed stdout.
func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Commit is one commit of a range.
type Commit struct {
	Hash    string
	Subject string
}

// RevList resolves good and bad in repo (a path or a URL, as for a git
// source) and returns good followed by the commits after it up to bad, on
// bad's first-parent line, oldest first: the states a bisection of the
// range tests. Merges are stepped over as units, as `git bisect
// --first-parent` does.
func (c *Cache) RevList(ctx context.Context, repo, good, bad string, logf func(string, ...any)) ([]Commit, error) {
	gitDir, err := c.gitRepo(ctx, repo, logf)
	if err != nil {
		return nil, err
	}
	g, err := resolveRef(ctx, gitDir, repo, good)
	if err != nil {
		return nil, err
	}
	b, err := resolveRef(ctx, gitDir, repo, bad)
	if err != nil {
		return nil, err
	}
	if _, err := gitOut(ctx, gitDir, "merge-base", "--is-ancestor", g, b); err != nil {
		return nil, fmt.Errorf("git source %s: %s is not an ancestor of %s", repo, good, bad)
	}
	out, err := gitOut(ctx, gitDir, "log", "--first-parent", "--reverse", "--format=%H %s", g+".."+b)
	if err != nil {
		return nil, err
	}
	subj, _ := gitOut(ctx, gitDir, "log", "-1", "--format=%s", g)
	commits := []Commit{{Hash: g, Subject: subj}}
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		h, s, _ := strings.Cut(l, " ")
		commits = append(commits, Commit{Hash: h, Subject: s})
	}
	return commits, nil
}
