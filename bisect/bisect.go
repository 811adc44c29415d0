// Package bisect finds the first bad state in an ordered list of states
// (the commits between a good and a bad ref, or a patch series applied one
// patch more at each state) by binary search, with untestable states
// skipped the way `git bisect skip` does.
//
// The package knows nothing of kernels: a Judge tests one state. kvmtest's
// bisect command builds and boots the state's kernel with the same
// machinery as `kvmtest run` and judges it by a test's result.
package bisect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Verdict is what testing one state said.
type Verdict int

const (
	// Good: the state does not show the change looked for.
	Good Verdict = iota
	// Bad: the state shows it.
	Bad
	// Skip: the state could not be tested (it does not build, or does not
	// boot); the search goes around it.
	Skip
)

func (v Verdict) String() string {
	switch v {
	case Good:
		return "good"
	case Bad:
		return "bad"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// A Judge tests state i (0 <= i < n). An error stops the search (an
// interrupted run, a failure of the host); a state that cannot be tested
// is a Skip, not an error.
type Judge func(ctx context.Context, i int) (Verdict, error)

// Step is one state tested.
type Step struct {
	State   int
	Verdict Verdict
}

// Result is the outcome of a search.
type Result struct {
	// FirstBad is the first bad state; when skipped states hide it, the
	// first bad state is one of Candidates and FirstBad is the last of
	// them.
	FirstBad int
	// LastGood is the last good state before FirstBad.
	LastGood int
	// Candidates lists the states that may be the first bad one: just
	// FirstBad when the search was conclusive, more when skipped states
	// sit between LastGood and FirstBad.
	Candidates []int
	// Steps are the states tested, in order.
	Steps []Step
}

// Conclusive reports whether the first bad state was pinned down.
func (r *Result) Conclusive() bool { return len(r.Candidates) == 1 }

// Errors for ends that do not bracket a change. They come with the Result
// so far (its Steps) from Search.
var (
	// ErrGoodIsBad: the state given as good shows the change.
	ErrGoodIsBad = errors.New("the good end is bad")
	// ErrBadIsGood: the state given as bad does not show the change.
	ErrBadIsGood = errors.New("the bad end is good")
	// ErrUntestableEnd: an end could not be tested.
	ErrUntestableEnd = errors.New("an end could not be tested")
)

// Search finds the first bad state among n states ordered from good
// (state 0) to bad (state n-1). Both ends are tested first, so that a
// search whose ends do not bracket a change says so (ErrGoodIsBad,
// ErrBadIsGood, ErrUntestableEnd) instead of naming a wrong culprit. It
// then tests about log2(n-1) states in between. The returned Result holds
// the steps taken even when an error is returned.
func Search(ctx context.Context, n int, judge Judge) (*Result, error) {
	res := &Result{FirstBad: -1, LastGood: -1}
	if n < 2 {
		return res, fmt.Errorf("bisect: %d state(s): need a good and a bad one", n)
	}
	test := func(i int) (Verdict, error) {
		if err := ctx.Err(); err != nil {
			return Skip, err
		}
		v, err := judge(ctx, i)
		if err != nil {
			return v, err
		}
		res.Steps = append(res.Steps, Step{State: i, Verdict: v})
		return v, nil
	}
	v, err := test(0)
	if err != nil {
		return res, err
	}
	switch v {
	case Bad:
		return res, fmt.Errorf("state 0: %w", ErrGoodIsBad)
	case Skip:
		return res, fmt.Errorf("state 0: %w", ErrUntestableEnd)
	}
	v, err = test(n - 1)
	if err != nil {
		return res, err
	}
	switch v {
	case Good:
		return res, fmt.Errorf("state %d: %w", n-1, ErrBadIsGood)
	case Skip:
		return res, fmt.Errorf("state %d: %w", n-1, ErrUntestableEnd)
	}
	lo, hi := 0, n-1 // lo is good, hi is bad
	skipped := map[int]bool{}
	for {
		next := pick(lo, hi, skipped)
		if next < 0 {
			break
		}
		v, err := test(next)
		if err != nil {
			return res, err
		}
		switch v {
		case Good:
			lo = next
		case Bad:
			hi = next
		case Skip:
			skipped[next] = true
		}
	}
	res.LastGood, res.FirstBad = lo, hi
	for i := lo + 1; i <= hi; i++ {
		res.Candidates = append(res.Candidates, i)
	}
	return res, nil
}

// pick returns the untested, unskipped state strictly between lo and hi
// nearest to their middle, or -1 when none is left.
func pick(lo, hi int, skipped map[int]bool) int {
	var free []int
	for i := lo + 1; i < hi; i++ {
		if !skipped[i] {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		return -1
	}
	mid := float64(lo+hi) / 2
	sort.SliceStable(free, func(a, b int) bool {
		return math.Abs(float64(free[a])-mid) < math.Abs(float64(free[b])-mid)
	})
	return free[0]
}

// Expected is the number of states a search of n states tests when
// nothing is skipped: the two ends and ceil(log2(n-1)) in between.
func Expected(n int) int {
	if n < 2 {
		return 0
	}
	return 2 + int(math.Ceil(math.Log2(float64(n-1))))
}
