package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kvmtest/kvmtest/builder"
	"github.com/kvmtest/kvmtest/matrices"
)

// seriesStates lists the states of a patch-series bisection: 0..N patches,
// restricted to good..bad. An mbox series is split under splitDir.
func seriesStates(c matrices.Cell, splitDir, good, bad string) ([]BisectState, error) {
	if c.Patchset.Series == "" {
		if c.Kernel.Source.Git != nil {
			return nil, fmt.Errorf("cell %s has no patch series (its kernel is from git: give --good and --bad, without --series)", c.ID)
		}
		return nil, fmt.Errorf("cell %s has no patch series and its kernel is not from git: nothing to bisect", c.ID)
	}
	patches, err := builder.SeriesPatches(c.Patchset.Series, splitDir)
	if err != nil {
		return nil, err
	}
	n := len(patches)
	lo, err := seriesRef(patches, "good", good, 0)
	if err != nil {
		return nil, err
	}
	hi, err := seriesRef(patches, "bad", bad, n)
	if err != nil {
		return nil, err
	}
	if lo >= hi {
		return nil, fmt.Errorf("--good (%d patches) must come before --bad (%d patches)", lo, hi)
	}
	var states []BisectState
	for k := lo; k <= hi; k++ {
		s := BisectState{Index: k - lo, Patches: patches[:k]}
		if k == 0 {
			s.Label = fmt.Sprintf("0/%d (no patches)", n)
		} else {
			s.Label = fmt.Sprintf("%d/%d %s", k, n, filepath.Base(patches[k-1]))
			s.What = builder.PatchSubject(patches[k-1])
		}
		states = append(states, s)
	}
	return states, nil
}

// seriesRef resolves the end s (given as --flagName) of a series of
// patches to a count of patches: def for "", 0 for base or none, all of
// them for all, a count, or a patch file's name (the state with it
// applied).
func seriesRef(patches []string, flagName, s string, def int) (int, error) {
	n := len(patches)
	switch s {
	case "":
		return def, nil
	case "base", "none":
		return 0, nil
	case "all":
		return n, nil
	}
	if k, err := strconv.Atoi(s); err == nil {
		if k < 0 || k > n {
			return 0, fmt.Errorf("--%s %d: the series has %d patches (0..%d)", flagName, k, n, n)
		}
		return k, nil
	}
	for i, p := range patches {
		if filepath.Base(p) == s {
			return i + 1, nil
		}
	}
	var names []string
	for _, p := range patches {
		names = append(names, filepath.Base(p))
	}
	return 0, fmt.Errorf("--%s %q: not a count, base, all or a patch of the series (%s)", flagName, s, strings.Join(names, ", "))
}

// gitStates lists the commits of a git bisection: good..bad on bad's
// first-parent line, bad defaulting to the kernel's ref. logf reports
// the repository's fetch.
func gitStates(ctx context.Context, cache *builder.Cache, c matrices.Cell, good, bad string, logf func(string, ...any)) ([]BisectState, error) {
	if good == "" {
		return nil, fmt.Errorf("--good is required for a kernel from git (%s)", c.Kernel.Source.Git.Repo)
	}
	if bad == "" {
		bad = c.Kernel.Source.Git.Ref
	}
	commits, err := cache.RevList(ctx, c.Kernel.Source.Git.Repo, good, bad, logf)
	if err != nil {
		return nil, err
	}
	if len(commits) < 2 {
		return nil, fmt.Errorf("--good %s and --bad %s are the same commit", good, bad)
	}
	var states []BisectState
	for i, cm := range commits {
		states = append(states, BisectState{Index: i, Label: fmt.Sprintf("%d/%d %s", i, len(commits)-1, cm.Hash[:12]), What: cm.Subject, Commit: cm.Hash})
	}
	return states, nil
}

// stateCell is the cell as built and run for one state: same id, config,
// suites and expectations, with the state's patches (copied under
// seriesRoot) or commit.
func stateCell(c matrices.Cell, st BisectState, seriesRoot string) (matrices.Cell, error) {
	if st.Commit != "" {
		k := *c.Kernel
		g := *k.Source.Git
		g.Ref = st.Commit
		k.Source.Git = &g
		c.Kernel = &k
		return c, nil
	}
	ps := *c.Patchset
	ps.Series, ps.SeriesFormat = "", ""
	if len(st.Patches) > 0 {
		dir, err := seriesDir(filepath.Join(seriesRoot, fmt.Sprintf("state%d", st.Index)), st.Patches)
		if err != nil {
			return c, err
		}
		ps.Series, ps.SeriesFormat = dir, "dir"
	}
	c.Patchset = &ps
	return c, nil
}

// seriesDir copies patches into dir so that their names sort in the order
// they apply (a directory series applies in name order) and returns dir.
// The build cache keys patches by content, so a state's kernel is the
// same artifact whatever the files are called.
func seriesDir(dir string, patches []string) (string, error) {
	names := make([]string, len(patches))
	for i, p := range patches {
		names[i] = filepath.Base(p)
	}
	ordered := sort.StringsAreSorted(names)
	for i := 1; i < len(names) && ordered; i++ {
		ordered = names[i] != names[i-1]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for i, p := range patches {
		name := names[i]
		if !ordered {
			name = fmt.Sprintf("%04d-%s", i+1, name)
		}
		if !strings.HasSuffix(name, ".patch") && !strings.HasSuffix(name, ".diff") {
			name += ".patch"
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("patch series: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}
