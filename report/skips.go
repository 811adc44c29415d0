package report

import (
	"regexp"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
	"github.com/kvmtest/kvmtest/results"
)

// Caps of a suite's skips in the reports (run.json and junit.xml have
// them all).
const (
	skipGroups     = 10 // reasons per suite
	skipGroupTests = 5  // tests named per reason
)

// SuiteSkips is what one suite skipped, and why: the whole suite (its
// message), or its tests grouped by identical reason.
type SuiteSkips struct {
	Cell  string `json:"cell"`
	Suite string `json:"suite"`
	// Whole is set when the suite skipped as a whole; Reason then says
	// why (its message).
	Whole  bool        `json:"whole,omitempty"`
	Reason string      `json:"reason,omitempty"`
	Groups []SkipGroup `json:"groups,omitempty"`
	// Tests counts the skipped tests; MoreGroups the reasons beyond
	// skipGroups left out.
	Tests      int `json:"tests"`
	MoreGroups int `json:"more_reasons,omitempty"`
}

// SkipGroup is the tests of a suite that skipped for one reason: the
// first skipGroupTests named, and how many more.
type SkipGroup struct {
	Reason string   `json:"reason"`
	Tests  []string `json:"tests"`
	More   int      `json:"more,omitempty"`
}

// goFileLine is the "file_test.go:12: " a Go test's t.Skip line starts
// with: left out so that one reason given from several lines is one.
var goFileLine = regexp.MustCompile(`^[^\s:]+\.go:\d+: `)

// skipReason is why test t skipped: the last line its output gives as
// the t.Skip message (its "file.go:N: " removed), else its first line of
// output other than test2json's framing; "" when it gave none.
func skipReason(output string) string {
	var reason, first string
	for _, l := range strings.Split(guesttext.Clean(output), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		if m := goFileLine.FindString(t); m != "" {
			reason = t[len(m):]
		} else if first == "" {
			first = t
		}
	}
	if reason == "" {
		reason = first
	}
	return truncate(guesttext.Line(reason), 300)
}

// skipsOf lists, per suite of cell c, what was skipped and why.
func skipsOf(c *results.Cell) []SuiteSkips {
	var out []SuiteSkips
	for _, s := range c.Suites {
		ss := SuiteSkips{Cell: c.ID, Suite: guesttext.Line(s.Name)}
		if s.Status == results.Skip {
			ss.Whole = true
			ss.Reason = guesttext.Clean(strings.TrimSpace(s.Message))
		}
		index := map[string]int{}
		for _, t := range s.Tests {
			if t.Status != results.Skip {
				continue
			}
			ss.Tests++
			why := skipReason(t.Output)
			if why == "" {
				why = "(no reason given)"
			}
			i, ok := index[why]
			if !ok {
				if len(ss.Groups) == skipGroups {
					ss.MoreGroups++
					index[why] = -1
					continue
				}
				i = len(ss.Groups)
				index[why] = i
				ss.Groups = append(ss.Groups, SkipGroup{Reason: why})
			}
			if i < 0 {
				continue
			}
			g := &ss.Groups[i]
			if len(g.Tests) < skipGroupTests {
				g.Tests = append(g.Tests, guesttext.Line(t.Name))
			} else {
				g.More++
			}
		}
		if ss.Whole || ss.Tests > 0 {
			out = append(out, ss)
		}
	}
	return out
}
