package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"orDash":      orDash,
	"testCounts":  testCounts,
	"seconds":     seconds,
	"firstLine":   firstLine,
	"short":       short,
	"sumText":     sumText,
	"superscript": superscript,
	"add":         func(a, b int) int { return a + b },
	"hex":         func(v uint64) string { return fmt.Sprintf("%#x", v) },
	"confidence":  func() string { return fmt.Sprintf("%.0f%%", Confidence*100) },
	"utc":         func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"notes":       notesMD,
	"shorten": func(s string, n int) string {
		r := []rune(s)
		if len(r) <= n {
			return s
		}
		return string(r[:n-1]) + "…"
	},
}).Parse(htmlSource))

// HTML writes the report as one self-contained page (report.html): no
// script, no external resource (a Content-Security-Policy forbids both),
// an inline SVG plot of the benchmark deltas, console excerpts and test
// output in collapsed <details>. html/template escapes everything.
func (r *Report) HTML(w io.Writer) error {
	if err := htmlTemplate.Execute(w, r); err != nil {
		return fmt.Errorf("rendering report.html: %w", err)
	}
	return nil
}
