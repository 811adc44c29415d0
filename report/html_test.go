package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The fixture's guest strings: a test named TestEscape/<script>alert(1)</script>,
// test output holding <script>alert(1)</script>, a finding title holding
// it, and a console excerpt holding a <script> and an <img onerror> that
// would mark the page's body if they ran.
func TestHTMLEscapesGuestText(t *testing.T) {
	dir, run := fixture(t, "vmsplice")
	for _, r := range []*Report{Build(dir, run, nil), compareFixture(t)} {
		var b bytes.Buffer
		if err := r.HTML(&b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		if regexp.MustCompile(`(?i)<(script|img|iframe|object)`).MatchString(page) {
			t.Errorf("%s: the page holds a live element from guest text", r.Kind)
		}
		for _, want := range []string{
			"TestEscape/&lt;script&gt;alert(1)&lt;/script&gt;",                  // a test name
			"got &lt;script&gt;alert(1)&lt;/script&gt; | `ticks`",               // test output
			"WARNING in vmsplice_to_pipe &lt;script&gt;alert(1)&lt;/script&gt;", // a finding's title
			"&lt;img src=x onerror=",                                            // the console excerpt
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks the escaped guest text %q", r.Kind, want)
			}
		}
		if strings.Contains(page, "\x1b") {
			t.Errorf("%s: the page holds an escape character", r.Kind)
		}
		if !strings.Contains(page, `http-equiv="Content-Security-Policy" content="default-src 'none'`) {
			t.Errorf("%s: no Content-Security-Policy", r.Kind)
		}
		if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(page) {
			t.Errorf("%s: the page refers to a network resource", r.Kind)
		}
	}
}

func compareFixture(t *testing.T) *Report {
	dirA, a := fixture(t, "before")
	dirB, b := fixture(t, "vmsplice")
	return Compare(dirA, a, dirB, b)
}

// chromium finds Debian's chromium (or $KVMTEST_CHROMIUM).
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	for _, name := range []string{os.Getenv("KVMTEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium (apt-get install chromium)")
	return ""
}

// browse loads a page in headless chromium and returns the DOM as the
// browser built it, after whatever scripts would have run.
func browse(t *testing.T, bin, page string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-dev-shm-usage", "--user-data-dir="+profile,
		"--dump-dom", "file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir, run := fixture(t, "vmsplice")
	tmp := t.TempDir()
	page := filepath.Join(tmp, "report.html")
	var b bytes.Buffer
	if err := Build(dir, run, nil).HTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := browse(t, bin, page)

	if regexp.MustCompile(`data-pwned="`).MatchString(dom) {
		t.Fatal("a script or event handler from guest text ran in the browser")
	}
	if n := strings.Count(strings.ToLower(dom), "<script"); n != 0 {
		t.Errorf("the DOM holds %d script elements", n)
	}
	if n := strings.Count(dom, "<img"); n != 0 {
		t.Errorf("the DOM holds %d img elements", n)
	}
	checks := []struct{ what, re string }{
		{"the verdict", `id="verdict"[^>]*>INFRASTRUCTURE FAILURE: 1 regression`},
		{"a row per cell", `(?s)(<tr class="cell".*){6}`},
		{"the failed cell", `data-cell="6.12-vmsplice-copy-minimal" data-status="failed"`},
		{"the regression", `data-kind="regression"><td><code>vmsplice/TestEPIPE</code>`},
		{"the declared fix", `data-kind="fix"><td><code>vmsplice/TestStable</code></td><td>fail</td><td>pass</td><td class="kind-fix">fix \(as expected\)`},
		{"the unexpected pass", `data-kind="unexpected-pass"`},
		{"the missed expected difference", `(?s)<table class="missed">.*vmsplice/TestNonblock`},
		{"the guest's test name as text", `TestEscape/&lt;script&gt;alert\(1\)&lt;/script&gt;`},
		{"the build failure, apart", `<li class="infra" data-cell="6.1-base-minimal">`},
		{"the plot", `<svg id="bench-plot"`},
		{"a significant, worse bar", `<g class="bar worse" data-delta="\+99\.63%">`},
		{"a not significant bar", `<g class="bar same" data-delta="~">`},
		{"benchstat's columns", `9\.920µ ± 2%</td><td class="num">\+99\.63%</td><td>\(p=0\.000 n=10\)`},
		{"the collapsed console excerpt", `<details class="excerpt"><summary>console excerpt</summary><pre>------------\[ cut here \]`},
	}
	for _, c := range checks {
		if !regexp.MustCompile(c.re).MatchString(dom) {
			t.Errorf("the page does not show %s (%s)", c.what, c.re)
		}
	}
	if n := strings.Count(dom, `<g class="bar `); n != 4 {
		t.Errorf("the plot has %d bars, want 4", n)
	}
	if regexp.MustCompile(`<details[^>]* open`).MatchString(dom) {
		t.Error("a console excerpt is expanded: they start collapsed")
	}
	// The escaped script is shown as text inside the excerpt.
	if !strings.Contains(dom, "&lt;script&gt;document.body.setAttribute('data-pwned','1')&lt;/script&gt;") &&
		!strings.Contains(dom, "&lt;script&gt;document.body.setAttribute(") {
		t.Error("the console excerpt's <script> is not shown as text")
	}
}
