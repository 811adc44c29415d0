package report

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/kvmtest/kvmtest/internal/guesttext"
)

// Markdown writes the report as GitHub-flavoured Markdown (report.md, the
// step summary). Text from guests is put in code spans and fenced blocks
// whose fences it cannot close, and escaped where it is HTML.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", mdText(r.Title))
	fmt.Fprintf(&b, "**%s** (exit status %d)\n\n", mdText(r.Verdict), r.ExitCode)
	if r.Against != nil {
		fmt.Fprintf(&b, "- A: %s\n- B: %s\n\n", runLine(*r.Against), runLine(r.Run))
	} else {
		fmt.Fprintf(&b, "%s\n\n", runLine(r.Run))
	}
	if len(r.Glance) > 0 {
		b.WriteString("## At a glance\n\n")
		for _, g := range r.Glance {
			line := mdText(g.Text())
			if g.Bad() {
				line = "**" + line + "**"
			}
			title := g.Group
			if g.Title != "" {
				title += ", " + g.Title
			}
			fmt.Fprintf(&b, "- %s: %s\n", mdText(title), line)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Cells\n\n")
	if r.Kind == "compare" {
		b.WriteString("| cell | in A | in B | tests | unexpected | findings | build | VM time |\n|---|---|---|---|--:|--:|---|--:|\n")
	} else {
		b.WriteString("| cell | status | tests | unexpected | findings | build | VM time |\n|---|---|---|--:|--:|---|--:|\n")
	}
	for _, c := range r.Cells {
		before := ""
		if r.Kind == "compare" {
			before = orDash(c.Before) + " | "
		}
		fmt.Fprintf(&b, "| %s | %s%s | %s | %d | %d | %s | %s |\n", mdCode(c.ID), before, statusMD(c.Status),
			testCounts(c), c.Unexpected, c.Findings, c.Build, seconds(c.Seconds))
	}
	b.WriteString("\n")

	b.WriteString("## Infrastructure failures\n\n")
	if len(r.Infra) == 0 {
		b.WriteString("None.\n\n")
	} else {
		b.WriteString("Cells that could not be built, booted or finished. These are not test results.\n\n")
		for _, c := range r.Infra {
			run := ""
			if c.Run != "" {
				run = " (run " + c.Run + ")"
			}
			fmt.Fprintf(&b, "- %s%s: **%s**", mdCode(c.ID), run, c.Status)
			if c.Reason != "" {
				fmt.Fprintf(&b, ": %s", mdCode(firstLine(c.Reason)))
			}
			b.WriteString("\n")
			if c.FirstError != "" {
				fmt.Fprintf(&b, "  - first error: %s\n", mdCode(c.FirstError))
			}
			if c.ConsoleTail != "" {
				mdDetails(&b, "  ", "end of console.log", c.ConsoleTail)
			}
		}
		b.WriteString("\n")
	}

	if len(r.Groups) == 0 && r.Kind == "run" {
		b.WriteString("## Comparisons\n\nNone: the matrix names no baseline, or no cell other than the baseline ran.\n\n")
	}
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "## %s\n\n", mdText(g.Title))
		for _, p := range g.Pairs {
			mdPair(&b, r, p)
		}
	}
	b.WriteString("## Unexpected results\n\n")
	if len(r.Unexpected) == 0 {
		b.WriteString("None: every test result is as the matrix expects.\n\n")
	}
	for _, f := range r.Unexpected {
		fmt.Fprintf(&b, "### %s (%s)\n\n", mdCode(f.Cell), f.Status)
		if f.Reason != "" {
			fmt.Fprintf(&b, "%s\n\n", mdCode(firstLine(f.Reason)))
		}
		for _, it := range f.Items {
			name := it.Suite
			if it.Test != "" {
				name += "/" + it.Test
			}
			fmt.Fprintf(&b, "- %s: %s, expected %s", mdCode(name), it.Status, it.Expected)
			if it.Message != "" {
				fmt.Fprintf(&b, ": %s", mdCode(it.Message))
			}
			b.WriteString("\n")
			if len(it.NotRun) > 0 {
				names := make([]string, len(it.NotRun))
				for i, n := range it.NotRun {
					names[i] = mdCode(n)
				}
				fmt.Fprintf(&b, "  - not run (never reported): %s", strings.Join(names, ", "))
				if it.NotRunMore > 0 {
					fmt.Fprintf(&b, " and %d more", it.NotRunMore)
				}
				b.WriteString("\n")
			}
			if it.Output != "" && !it.InComparison {
				mdDetails(&b, "  ", "output", it.Output)
			}
		}
		for _, x := range f.Findings {
			if x.InComparison {
				fmt.Fprintf(&b, "- %s %s (console.log line %d; excerpt above)\n", mdText(x.Class), mdCode(x.Title), x.Line)
				continue
			}
			mdFinding(&b, x)
		}
		if f.ConsoleTail != "" {
			mdDetails(&b, "", "end of console.log", f.ConsoleTail)
		}
		b.WriteString("\n")
	}

	mdSkips(&b, r.Skips)

	if len(r.Unmatched) > 0 {
		b.WriteString("## Cells in only one run\n\n")
		for _, u := range r.Unmatched {
			fmt.Fprintf(&b, "- %s\n", mdText(u))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}

func mdPair(b *strings.Builder, r *Report, p *Pair) {
	baseL, headL := p.BaseLabel, p.HeadLabel
	if p.Head.ID == p.Base.ID {
		fmt.Fprintf(b, "### %s\n\n", mdCode(p.Head.ID))
	} else {
		fmt.Fprintf(b, "### %s: %s vs %s\n\n", mdText(p.Title), mdCode(p.Head.ID), mdCode(p.Base.ID))
	}
	if p.NotCompared != "" {
		fmt.Fprintf(b, "Tests not compared: %s.\n\n", mdText(p.NotCompared))
	}
	if p.NotCompared == "" && len(p.Changes) == 0 && len(p.Missed) == 0 && len(p.Findings) == 0 && len(p.Taint) == 0 {
		b.WriteString("No test changed status; no new console findings.\n\n")
	}
	if len(p.Changes) > 0 {
		fmt.Fprintf(b, "Status changes:\n\n| test | %s | %s | |\n|---|---|---|---|\n", mdText(baseL), mdText(headL))
		for _, c := range p.Changes {
			label := c.Label()
			if c.Unexpected {
				label = "**" + label + "**"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCode(c.Name()), orDash(c.Base), orDash(c.Head), label)
		}
		b.WriteString("\n")
		for _, c := range p.Changes {
			if c.Unexpected && c.Output != "" {
				mdDetails(b, "", "output of "+c.Name(), c.Output)
			}
		}
	}
	if len(p.Missed) > 0 {
		fmt.Fprintf(b, "Expected differences that did not happen:\n\n| test | %s | %s | the matrix expects |\n|---|---|---|---|\n", mdText(baseL), mdText(headL))
		for _, c := range p.Missed {
			fmt.Fprintf(b, "| %s | %s | %s | %s %s, %s %s |\n", mdCode(c.Name()), c.Base, c.Head,
				mdText(baseL), c.BaseExpected, mdText(headL), c.HeadExpected)
		}
		b.WriteString("\n")
	}
	if len(p.Findings) > 0 {
		b.WriteString("New console findings:\n\n")
		for _, f := range p.Findings {
			mdFinding(b, f)
		}
		b.WriteString("\n")
	}
	if len(p.Taint) > 0 {
		b.WriteString("Kernel taint:\n\n")
		for _, t := range p.Taint {
			fmt.Fprintf(b, "- after suite %s: %#x (%s; %s: %#x)\n", mdCode(t.Suite), t.Head, mdText(t.Flags), mdText(baseL), t.Base)
		}
		b.WriteString("\n")
	}
	if p.Bench != nil {
		mdBench(b, p.Bench, baseL, headL)
	}
}

func mdBench(b *strings.Builder, bench *Bench, baseL, headL string) {
	fmt.Fprintf(b, "Benchmarks (median ± %.0f%% confidence interval; the test compares the two samples, Mann-Whitney U unless the unit is exact; \"~\": no significant difference at α = 0.05):\n\n", Confidence*100)
	for _, t := range bench.Tables {
		fmt.Fprintf(b, "| %s | %s | %s | vs %s | |\n|---|--:|--:|--:|---|\n", mdText(t.Unit), mdText(baseL), mdText(headL), mdText(baseL))
		rows := t.Rows
		if t.Geomean != nil {
			rows = append(rows[:len(rows):len(rows)], *t.Geomean)
		}
		for i, row := range rows {
			name := mdCode(row.Name)
			if t.Geomean != nil && i == len(rows)-1 {
				name = "geomean"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s%s |\n", name, sumText(row.Base), sumText(row.Head),
				orDash(row.Delta), row.Test, notesMD(row.Notes))
		}
		b.WriteString("\n")
	}
	for i, n := range bench.Notes {
		fmt.Fprintf(b, "%s %s  \n", superscript(i+1), mdText(n))
	}
	for _, e := range bench.Errors {
		fmt.Fprintf(b, "- bench.txt: %s\n", mdCode(e))
	}
	if len(bench.Notes)+len(bench.Errors) > 0 {
		b.WriteString("\n")
	}
}

func mdFinding(b *strings.Builder, f Finding) {
	var attrs []string
	if f.Fatal {
		attrs = append(attrs, "fatal")
	}
	if f.Suite != "" {
		attrs = append(attrs, "suite "+mdCode(f.Suite))
	}
	attrs = append(attrs, fmt.Sprintf("console.log line %d", f.Line))
	fmt.Fprintf(b, "- %s %s (%s)\n", mdText(f.Class), mdCode(f.Title), strings.Join(attrs, ", "))
	if f.Excerpt != "" {
		mdDetails(b, "  ", "console excerpt", f.Excerpt)
	}
}

// labels are the column titles for the two sides of a pair.
func (p *Pair) labels(r *Report) (base, head string) {
	if r.Kind == "compare" {
		return "A", "B"
	}
	b, h := "base", "head"
	for _, c := range r.Cells {
		if c.ID == p.Base.ID {
			b = c.Patchset
		}
		if c.ID == p.Head.ID {
			h = c.Patchset
		}
	}
	if b == h {
		return b + " (" + p.Base.ID + ")", h + " (" + p.Head.ID + ")"
	}
	return b, h
}

func runLine(ri RunInfo) string {
	parts := []string{"matrix " + mdCode(ri.Matrix)}
	if ri.Dir != "" {
		parts[0] += " in " + mdCode(ri.Dir)
	}
	if ri.Digest != "" {
		parts = append(parts, "digest "+mdCode(short(ri.Digest)))
	}
	if ri.Tool != "" {
		parts = append(parts, "kvmtest "+mdText(ri.Tool))
	}
	if ri.QEMU != "" {
		parts = append(parts, mdText(ri.QEMU))
	}
	if ri.Accel != "" {
		parts = append(parts, "accelerator "+mdText(ri.Accel))
	}
	if ri.Shard != "" {
		parts = append(parts, "shard "+mdText(ri.Shard))
	}
	if !ri.Started.IsZero() {
		parts = append(parts, "started "+ri.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
		if !ri.Finished.IsZero() {
			parts = append(parts, "took "+ri.Finished.Sub(ri.Started).Round(time.Second).String())
		}
	}
	return strings.Join(parts, " · ")
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

func testCounts(c CellSummary) string {
	if c.Passed+c.Failed+c.Skipped+c.XFailed+c.NotRun == 0 {
		return "-"
	}
	s := fmt.Sprintf("%d passed, %d failed", c.Passed, c.Failed)
	if c.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", c.Skipped)
	}
	if c.XFailed > 0 {
		s += fmt.Sprintf(", %d expected failures", c.XFailed)
	}
	if c.NotRun > 0 {
		s += fmt.Sprintf(", %d not run", c.NotRun)
	}
	return s
}

func statusMD(s string) string {
	switch s {
	case "passed", "skipped":
		return s
	}
	return "**" + s + "**"
}

func seconds(s float64) string {
	if s == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s", s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sumText(s *BenchSummary) string {
	if s == nil {
		return "-"
	}
	return s.Text
}

func notesMD(notes []int) string {
	var s string
	for _, n := range notes {
		s += " " + superscript(n)
	}
	return s
}

var superDigits = []rune("⁰¹²³⁴⁵⁶⁷⁸⁹")

// superscript renders n with superscript digits, as benchstat marks notes.
func superscript(n int) string {
	var out []rune
	for _, d := range fmt.Sprint(n) {
		out = append(out, superDigits[d-'0'])
	}
	return string(out)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// mdText escapes text for Markdown: punctuation that could start markup
// is backslash-escaped, < and & become entities (and > at the start),
// newlines spaces.
func mdText(s string) string {
	s = guesttext.Clean(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '#', '|', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			b.WriteString("&lt;")
		case '>':
			if b.Len() == 0 {
				b.WriteString("&gt;") // a blockquote at the start of a line
			} else {
				b.WriteByte('>')
			}
		case '&':
			b.WriteString("&amp;")
		case '\n':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdCode puts text in a code span that works inside a table cell: one
// line, | escaped, a backtick fence longer than any run inside.
func mdCode(s string) string {
	s = strings.ReplaceAll(guesttext.Clean(s), "\n", " ")
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdDetails writes a collapsible block holding text verbatim in a fenced
// code block (GitHub renders <details>; elsewhere it reads as a block).
func mdDetails(b *strings.Builder, indent, summary, text string) {
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	fmt.Fprintf(b, "%s<details><summary>%s</summary>\n\n", indent, html.EscapeString(guesttext.Line(summary)))
	fmt.Fprintf(b, "%s%s\n", indent, fence)
	for _, l := range strings.Split(strings.TrimRight(guesttext.Clean(text), "\n"), "\n") {
		fmt.Fprintf(b, "%s%s\n", indent, l)
	}
	fmt.Fprintf(b, "%s%s\n\n%s</details>\n\n", indent, fence, indent)
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// mdSkips writes what each suite skipped and why: a whole suite with its
// reason, tests grouped by identical reason, each group naming its first
// tests.
func mdSkips(b *strings.Builder, skips []SuiteSkips) {
	if len(skips) == 0 {
		return
	}
	b.WriteString("## Skipped\n\n")
	for _, s := range skips {
		fmt.Fprintf(b, "- %s", mdCode(s.Cell+"/"+s.Suite))
		switch {
		case s.Whole && s.Reason != "":
			fmt.Fprintf(b, ": the whole suite skipped: %s", mdCode(firstLine(s.Reason)))
		case s.Whole:
			b.WriteString(": the whole suite skipped (no reason given)")
		}
		if s.Tests > 0 {
			sep := ":"
			if s.Whole {
				sep = ";"
			}
			fmt.Fprintf(b, "%s %d test(s) skipped", sep, s.Tests)
		}
		b.WriteString("\n")
		for _, g := range s.Groups {
			names := make([]string, len(g.Tests))
			for i, t := range g.Tests {
				names[i] = mdCode(t)
			}
			fmt.Fprintf(b, "  - %s: %s", mdCode(g.Reason), strings.Join(names, ", "))
			if g.More > 0 {
				fmt.Fprintf(b, " and %d more", g.More)
			}
			b.WriteString("\n")
		}
		if s.MoreGroups > 0 {
			fmt.Fprintf(b, "  - and %d more reason(s): see junit.xml or run.json\n", s.MoreGroups)
		}
	}
	b.WriteString("\n")
}
