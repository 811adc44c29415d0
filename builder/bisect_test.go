package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRevList(t *testing.T) {
	repo, first, second := gitKernelRepo(t)
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logf := func(string, ...any) {}
	got, err := c.RevList(ctx, repo, "v6.12", second[:12], logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Commit{first, "one"}) || got[1] != (Commit{second, "two"}) {
		t.Errorf("RevList = %+v, want one then two", got)
	}
	if _, err := c.RevList(ctx, repo, second, first, logf); err == nil || !strings.Contains(err.Error(), "is not an ancestor of") {
		t.Errorf("reversed range: %v", err)
	}
	if _, err := c.RevList(ctx, repo, "v6.12", "nope", logf); err == nil || !strings.Contains(err.Error(), `ref "nope"`) {
		t.Errorf("missing ref: %v", err)
	}
}

func TestSeriesPatches(t *testing.T) {
	dir := t.TempDir()
	mbox := writeFile(t, dir, "v2.mbx", "From 1111 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 1/2] a: one\n\n--- a/x\n+++ b/x\n\nFrom 2222 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/2] b:\n two, folded\n\nbody\n")
	got, err := SeriesPatches(mbox, filepath.Join(dir, "split"))
	if err != nil || len(got) != 2 {
		t.Fatalf("SeriesPatches(mbox) = %v, %v; want two files", got, err)
	}
	if s := PatchSubject(got[0]); s != "[PATCH 1/2] a: one" {
		t.Errorf("first subject %q", s)
	}
	if s := PatchSubject(got[1]); s != "[PATCH 2/2] b: two, folded" {
		t.Errorf("second subject %q (want the folded header unfolded)", s)
	}
	if b, _ := os.ReadFile(got[1]); !strings.HasPrefix(string(b), "From 2222") || !strings.HasSuffix(string(b), "body\n") {
		t.Errorf("second message %q", b)
	}
	// A plain diff is one patch, not split.
	plain := writeFile(t, dir, "one.diff", "--- a/x\n+++ b/x\n")
	if got, err := SeriesPatches(plain, filepath.Join(dir, "split2")); err != nil || len(got) != 1 || got[0] != plain {
		t.Errorf("SeriesPatches(plain diff) = %v, %v", got, err)
	}
	if s := PatchSubject(plain); s != "" {
		t.Errorf("subject of a plain diff: %q", s)
	}
}
