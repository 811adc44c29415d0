package engine

import (
	"regexp"
	"strings"

	"github.com/kvmtest/kvmtest/bisect"
	"github.com/kvmtest/kvmtest/results"
)

// judgeCell says whether a state's run is good, bad or untestable, and
// why: by the tests matching re when it is set (a crash or timeout before
// any ran is bad), else by the cell's status. A cell that did not build
// or boot is untestable either way.
func judgeCell(c *results.Cell, re *regexp.Regexp) (bisect.Verdict, string) {
	untestable := func() (bisect.Verdict, string) {
		return bisect.Skip, c.Status + ": " + firstLine(c.Reason)
	}
	switch c.Status {
	case results.StatusBuildFailed, results.StatusBootFailed, results.StatusSkipped, results.StatusInterrupted:
		return untestable()
	}
	if re == nil {
		switch c.Status {
		case results.StatusPassed:
			return bisect.Good, "passed"
		case results.StatusFailed, results.StatusCrashed, results.StatusTimedOut:
			return bisect.Bad, c.Status + ": " + firstLine(c.Reason)
		}
		return untestable()
	}
	bad, good := matchingTests(c, re)
	switch {
	case len(bad) > 0:
		return bisect.Bad, strings.Join(bad, ", ")
	case len(good) > 0:
		return bisect.Good, strings.Join(good, ", ")
	case c.Status == results.StatusCrashed || c.Status == results.StatusTimedOut:
		return bisect.Bad, c.Status + " before a matching test ran: " + firstLine(c.Reason)
	}
	return bisect.Skip, "no test matching the --test expression passed or failed (" + c.Status + ")"
}

// matchingTests lists the tests of c matching re (on SUITE/TEST or TEST)
// that failed, timed out or erred (bad) and that passed (good), each as
// "SUITE/TEST: STATUS".
func matchingTests(c *results.Cell, re *regexp.Regexp) (bad, good []string) {
	for _, s := range c.Suites {
		for _, t := range s.Tests {
			if !re.MatchString(s.Name+"/"+t.Name) && !re.MatchString(t.Name) {
				continue
			}
			switch t.Status {
			case "fail", "timeout", "error":
				bad = append(bad, s.Name+"/"+t.Name+": "+t.Status)
			case "pass":
				good = append(good, s.Name+"/"+t.Name+": pass")
			}
		}
	}
	return bad, good
}

// flip swaps good and bad (--fixed) and keeps skip.
func flip(v bisect.Verdict) bisect.Verdict {
	switch v {
	case bisect.Good:
		return bisect.Bad
	case bisect.Bad:
		return bisect.Good
	}
	return v
}

// combine joins the verdicts of several runs of one state: bad if any is
// bad, untestable if any is, good otherwise.
func combine(vs []bisect.Verdict) bisect.Verdict {
	out := bisect.Good
	for _, v := range vs {
		switch {
		case v == bisect.Bad:
			return bisect.Bad
		case v == bisect.Skip:
			out = bisect.Skip
		}
	}
	return out
}

// unique returns ss without repeats, in first-seen order.
func unique(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
