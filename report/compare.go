package report

import (
	"fmt"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
)

// side is one cell's results and the run directory its files are in.
type side struct {
	dir  string
	cell *results.Cell
}

// comparePair compares head with base: test status changes, declared
// differences that did not happen, new console findings and taint, and
// benchmarks; nothing when a side did not build, boot or finish, or was
// skipped.
func comparePair(base, head side) *Pair {
	b, h := base.cell, head.cell
	p := &Pair{
		Base: CellRef{ID: b.ID, Status: b.Status, dir: base.dir},
		Head: CellRef{ID: h.ID, Status: h.Status, dir: head.dir},
	}
	switch {
	case notComparable(b.Status):
		p.NotCompared = fmt.Sprintf("the base cell %s is %s", b.ID, b.Status)
	case notComparable(h.Status):
		p.NotCompared = fmt.Sprintf("%s is %s", h.ID, h.Status)
	}
	if p.NotCompared == "" {
		p.Changes, p.Missed = compareSuites(b.Suites, h.Suites)
		acrossKernels(p.Changes, b.Kernel, h.Kernel)
		shown(p.Changes)
		shown(p.Missed)
		p.Findings = newFindings(b, h)
		p.Taint = newTaint(b.Suites, h.Suites)
		for i := range p.Taint {
			p.Taint[i].Suite = guesttext.Line(p.Taint[i].Suite)
		}
		p.Bench = compareBench(base, head)
	}
	return p
}

// acrossKernels words the changes of a pair whose cells run different
// kernels (a baseline cell of another kernel) as differences: a test
// that passes only on the older kernel is not a fix of the newer one's,
// nor one that fails only on the newer a regression of a patch. The
// change stays unexpected when head's result is.
func acrossKernels(changes []Change, base, head string) {
	if base == "" || head == "" || base == head {
		return
	}
	for i := range changes {
		switch c := &changes[i]; c.Kind {
		case KindRegression, KindFix, KindChanged:
			c.Kind, c.BaseKernel, c.HeadKernel = KindDiffers, base, head
		}
	}
}

// shown makes the suite and test names of changes (matched by the
// guest's names as they are) one line each, as reports show them.
func shown(changes []Change) {
	for i := range changes {
		c := &changes[i]
		c.Suite, c.Test = guesttext.Line(c.Suite), guesttext.Line(c.Test)
	}
}

func notComparable(status string) bool {
	return isInfra(status) || status == results.StatusSkipped
}

// compareSuites lists tests whose status changed, and tests for which the
// matrix declares a difference that did not happen.
func compareSuites(base, head []*results.Suite) (changes, missed []Change) {
	baseSuite := map[string]*results.Suite{}
	for _, s := range base {
		baseSuite[s.Name] = s
	}
	seen := map[string]bool{}
	for _, hs := range head {
		seen[hs.Name] = true
		bs := baseSuite[hs.Name]
		var bTests []*results.Test
		if bs != nil {
			bTests = bs.Tests
		}
		bt := map[string]*results.Test{}
		for _, t := range bTests {
			bt[t.Name] = t
		}
		seenT := map[string]bool{}
		for _, ht := range hs.Tests {
			seenT[ht.Name] = true
			ch, miss, ok := compareTest(hs.Name, bt[ht.Name], ht)
			if !ok {
				continue
			}
			if miss {
				missed = append(missed, ch)
			} else {
				changes = append(changes, ch)
			}
		}
		for _, t := range bTests {
			if !seenT[t.Name] {
				changes = append(changes, Change{Suite: hs.Name, Test: t.Name, Base: t.Status,
					BaseExpected: expectedOf(t.Expected), Kind: KindMissing})
			}
		}
		// A suite without tests (exit-code, or one that never started its
		// tests) is compared as a whole.
		if bs != nil && len(hs.Tests) == 0 && len(bs.Tests) == 0 {
			ch, miss, ok := compareOne(hs.Name, "", bs.Status, bs.Expected, hs.Status, hs.Expected, hs.AsExpected, "")
			if ok && miss {
				missed = append(missed, ch)
			} else if ok {
				changes = append(changes, ch)
			}
		}
	}
	for _, bs := range base {
		if !seen[bs.Name] {
			changes = append(changes, Change{Suite: bs.Name, Base: bs.Status, BaseExpected: expectedOf(bs.Expected), Kind: KindMissing})
		}
	}
	return changes, missed
}

// compareTest compares one test; ok is false when there is nothing to say,
// miss is true for a declared difference that did not happen.
func compareTest(suite string, b, h *results.Test) (ch Change, miss, ok bool) {
	if b == nil {
		ch = Change{Suite: suite, Test: h.Name, Head: h.Status, HeadExpected: expectedOf(h.Expected),
			Kind: KindNew, Unexpected: !h.AsExpected}
		if ch.Unexpected {
			ch.Output = tail(guesttext.Clean(h.Output), 30)
		}
		return ch, false, true
	}
	return compareOne(suite, h.Name, b.Status, b.Expected, h.Status, h.Expected, h.AsExpected, h.Output)
}

func compareOne(suite, test, bStatus, bExp, hStatus, hExp string, hAsExpected bool, output string) (ch Change, miss, ok bool) {
	ch = Change{Suite: suite, Test: test, Base: bStatus, Head: hStatus,
		BaseExpected: expectedOf(bExp), HeadExpected: expectedOf(hExp), Unexpected: !hAsExpected}
	ch.Declared = ch.BaseExpected != ch.HeadExpected
	if bStatus == hStatus {
		if ch.Declared {
			ch.Kind = KindExpected
			ch.Unexpected = true
			return ch, true, true
		}
		return ch, false, false
	}
	switch {
	case isFail(hStatus) && !hAsExpected:
		ch.Kind = KindRegression
	case hStatus == results.Pass && !hAsExpected:
		ch.Kind = KindUnexpectedPass
	case hStatus == results.Pass && isFail(bStatus):
		ch.Kind = KindFix
	case ch.Declared && hAsExpected:
		ch.Kind = KindExpected
	default:
		ch.Kind = KindChanged
	}
	if ch.Unexpected {
		ch.Output = tail(guesttext.Clean(output), 30)
	}
	return ch, false, true
}

// newFindings are head's console findings that base does not have (by
// class and title).
func newFindings(b, h *results.Cell) []Finding {
	had := map[string]bool{}
	for _, f := range b.Findings {
		had[f.Class+"\x00"+f.Title] = true
	}
	var out []Finding
	for _, f := range h.Findings {
		if !had[f.Class+"\x00"+f.Title] {
			out = append(out, finding(h.ID, f))
		}
	}
	return out
}

func newTaint(base, head []*results.Suite) []TaintChange {
	bt := map[string]uint64{}
	for _, s := range base {
		if s.Taint != nil {
			bt[s.Name] = *s.Taint
		}
	}
	var out []TaintChange
	for _, s := range head {
		if s.Taint == nil || *s.Taint == 0 {
			continue
		}
		if *s.Taint&^bt[s.Name] != 0 {
			out = append(out, TaintChange{Suite: s.Name, Base: bt[s.Name], Head: *s.Taint, Flags: TaintFlags(*s.Taint)})
		}
	}
	return out
}

// taintLetters are the kernel's taint flags by bit, as
// Documentation/admin-guide/tainted-kernels.rst lists them.
var taintLetters = []struct {
	letter byte
	what   string
}{
	{'P', "proprietary module"}, {'F', "module force-loaded"}, {'S', "kernel running on an out of specification system"},
	{'R', "module force-unloaded"}, {'M', "machine check"}, {'B', "bad page"},
	{'U', "taint requested by user"}, {'D', "kernel died recently (OOPS or BUG)"}, {'A', "ACPI table overridden"},
	{'W', "kernel issued warning"}, {'C', "staging driver loaded"}, {'I', "platform firmware bug worked around"},
	{'O', "externally-built module"}, {'E', "unsigned module"}, {'L', "soft lockup"},
	{'K', "kernel live patched"}, {'X', "auxiliary taint"}, {'T', "built with struct randomization"},
	{'N', "in-kernel test loaded"}, {'J', "fwctl mutating command"},
}

// TaintFlags renders a taint mask as the kernel prints it ("G W" style
// letters, each with what it means): "W (kernel issued warning), D (...)".
func TaintFlags(mask uint64) string {
	var parts []string
	for i, t := range taintLetters {
		if mask&(1<<i) != 0 {
			parts = append(parts, fmt.Sprintf("%c (%s)", t.letter, t.what))
			mask &^= 1 << i
		}
	}
	if mask != 0 {
		parts = append(parts, fmt.Sprintf("unknown bits %#x", mask))
	}
	return strings.Join(parts, ", ")
}
