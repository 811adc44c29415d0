package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kvmtest/kvmtest/internal/guesttext"
)

// maxAnnotations caps the ::error lines of one report (GitHub shows ten
// per step and fifty per job anyway).
const maxAnnotations = 50

// maxSummary is GitHub's limit on a step summary (1 MiB), less room for
// the truncation note.
const maxSummary = 1<<20 - 1024

// GitHub writes the report the GitHub Actions way: one ::error annotation
// per regression, unexpected pass, expected difference that did not
// happen, other unexpected result, new console finding and infrastructure
// failure, to w (the runner reads workflow commands from standard
// output); and, when summaryPath is not "", the Markdown report appended
// to that file ($GITHUB_STEP_SUMMARY), cut at 1 MiB.
func (r *Report) GitHub(w io.Writer, summaryPath string) error {
	for _, a := range r.annotations() {
		if _, err := fmt.Fprintln(w, a); err != nil {
			return err
		}
	}
	if summaryPath == "" {
		return nil
	}
	var b bytes.Buffer
	if err := r.Markdown(&b); err != nil {
		return err
	}
	s := b.String()
	if len(s) > maxSummary {
		cut := strings.LastIndex(s[:maxSummary], "\n")
		s = s[:cut+1] + "\n*The report is cut here: GitHub takes at most 1 MiB. The whole of it is report.md in the run directory.*\n"
	}
	f, err := os.OpenFile(summaryPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("step summary: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("step summary: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("step summary: %w", err)
	}
	return nil
}

// annotations are the ::error workflow commands for what is not as
// expected, at most maxAnnotations (the last says how many more).
func (r *Report) annotations() []string {
	var out []string
	covered := map[string]bool{} // cell + "\x00" + suite/test
	add := func(title, msg string) {
		out = append(out, fmt.Sprintf("::error title=%s::%s", escapeProperty(title), escapeData(msg)))
	}
	for _, g := range r.Groups {
		for _, p := range g.Pairs {
			for _, c := range p.Changes {
				if !c.Unexpected {
					continue
				}
				covered[p.Head.ID+"\x00"+c.Name()] = true
				add(fmt.Sprintf("kvmtest %s: %s", c.Label(), p.Head.ID),
					fmt.Sprintf("%s: %s %s, %s %s (expected %s)%s", c.Name(), p.BaseLabel, orDash(c.Base), p.HeadLabel, orDash(c.Head), c.HeadExpected, outputLine(c.Output)))
			}
			for _, c := range p.Missed {
				covered[p.Head.ID+"\x00"+c.Name()] = true
				covered[p.Base.ID+"\x00"+c.Name()] = true
				add(fmt.Sprintf("kvmtest expected difference did not happen: %s", p.Head.ID),
					fmt.Sprintf("%s: %s %s, %s %s; the matrix expects %s %s, %s %s", c.Name(), p.BaseLabel, c.Base, p.HeadLabel, c.Head,
						p.BaseLabel, c.BaseExpected, p.HeadLabel, c.HeadExpected))
			}
			for _, f := range p.Findings {
				covered[p.Head.ID+"\x00finding\x00"+f.Class+f.Title] = true
				add(fmt.Sprintf("kvmtest new console finding: %s", p.Head.ID), fmt.Sprintf("%s: %s (console.log line %d)", f.Class, f.Title, f.Line))
			}
		}
	}
	for _, cf := range r.Unexpected {
		for _, it := range cf.Items {
			name := it.Suite
			if it.Test != "" {
				name += "/" + it.Test
			}
			if covered[cf.Cell+"\x00"+name] {
				continue
			}
			add(fmt.Sprintf("kvmtest unexpected result: %s", cf.Cell),
				fmt.Sprintf("%s: %s, expected %s%s", name, it.Status, it.Expected, outputLine(it.Message)))
		}
		for _, f := range cf.Findings {
			if covered[cf.Cell+"\x00finding\x00"+f.Class+f.Title] {
				continue
			}
			add(fmt.Sprintf("kvmtest console finding: %s", cf.Cell), fmt.Sprintf("%s: %s (console.log line %d)", f.Class, f.Title, f.Line))
		}
	}
	for _, c := range r.Infra {
		msg := c.Status
		if c.Reason != "" {
			msg += ": " + firstLine(c.Reason)
		}
		if c.FirstError != "" {
			msg += "\nfirst error: " + c.FirstError
		}
		add(fmt.Sprintf("kvmtest infrastructure failure: %s", c.ID), msg)
	}
	if len(out) > maxAnnotations {
		more := len(out) - (maxAnnotations - 1)
		out = append(out[:maxAnnotations-1], fmt.Sprintf("::error title=kvmtest::%d more problems: see the step summary or report.md", more))
	}
	return out
}

func outputLine(s string) string {
	if s == "" {
		return ""
	}
	if m := failureMessage(s); m != "" {
		return ": " + m
	}
	return ""
}

// escapeData escapes a workflow command's message.
func escapeData(s string) string {
	s = strings.ReplaceAll(guesttext.Clean(s), "%", "%25")
	s = strings.ReplaceAll(s, "\r", "%0D")
	return strings.ReplaceAll(s, "\n", "%0A")
}

// escapeProperty escapes a workflow command's property value.
func escapeProperty(s string) string {
	s = escapeData(s)
	s = strings.ReplaceAll(s, ":", "%3A")
	return strings.ReplaceAll(s, ",", "%2C")
}
