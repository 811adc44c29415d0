package triage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusDir holds real console logs with known verdicts (syzkaller's
// pkg/report test data). It lives outside the project and is never copied
// into it; the test skips when it is absent.
const corpusDir = "../../shared/testdata/console-reports"

// Thresholds of the corpus measure (percent), at what the table achieves.
// See docs/triage.md. Besides the rate, every log with a TITLE must be
// detected unless it is in knownMisses.
const (
	minDetection = 99.7 // 355/356: the one miss is in knownMisses
	maxFalsePos  = 0.0
	minHeadline  = 100.0
)

// knownMisses are logs with a TITLE where finding nothing is the right answer
// for kvmtest, with the reason.
var knownMisses = map[string]string{
	"6.log": `a bare "WARNING: foo" line with no trace: a synthetic syzkaller case. ` +
		`Linux 6.12 prints over a hundred benign "WARNING: ..." messages (mitigations, ` +
		`deprecated options, firmware), so the table has no catch-all for them.`,
}

type corpusLog struct {
	name     string
	titles   []string
	alts     []string
	panicked bool
	console  []byte
}

func readCorpus(t *testing.T) []corpusLog {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	var logs []corpusLog
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(corpusDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		head, console, _ := bytes.Cut(data, []byte("\n\n"))
		// syzkaller's test format may end with the expected report.
		if i := bytes.Index(console, []byte("\nREPORT:\n")); i >= 0 {
			console = console[:i+1]
		}
		l := corpusLog{name: e.Name(), console: console}
		for _, line := range strings.Split(string(head), "\n") {
			key, val, _ := strings.Cut(line, ":")
			val = strings.TrimSpace(val)
			switch {
			case key == "TITLE" && val != "":
				l.titles = append(l.titles, val)
			case key == "ALT" && val != "":
				l.alts = append(l.alts, val)
			case key == "PANICKED":
				l.panicked = val == "Y"
			}
		}
		logs = append(logs, l)
	}
	if len(logs) == 0 {
		t.Skip("corpus is empty")
	}
	return logs
}

func headlineOf(title string) string {
	h, _, _ := strings.Cut(title, " in ")
	return h
}

// TestCorpus measures detection, false positives and headline agreement on
// the external corpus. Run it with: go test -run Corpus -v ./triage/
func TestCorpus(t *testing.T) {
	logs := readCorpus(t)
	var crashes, detected, clean, falsePos, agree, titles, panics int
	var problems []string
	for _, l := range logs {
		fs := Scan(l.console)
		if len(l.titles) == 0 {
			clean++
			if len(fs) > 0 {
				falsePos++
				problems = append(problems, fmt.Sprintf("%s: false positive %q (line %d)", l.name, fs[0].Title, fs[0].Line))
			}
			continue
		}
		crashes++
		_, known := knownMisses[l.name]
		if len(fs) == 0 {
			if !known {
				t.Errorf("%s: missed %q", l.name, l.titles[0])
			}
			continue
		}
		if known {
			t.Errorf("%s: now detected as %q: drop it from knownMisses", l.name, fs[0].Title)
		}
		detected++
		want := []string{headlineOf(l.titles[0])}
		for _, a := range l.alts {
			want = append(want, headlineOf(a))
		}
		ok := false
		for _, w := range want {
			ok = ok || fs[0].Headline == w
		}
		exact := false
		for _, w := range append([]string{l.titles[0]}, l.alts...) {
			exact = exact || fs[0].Title == w
		}
		if exact {
			titles++
		}
		panicked := false
		for _, f := range fs {
			panicked = panicked || f.Panicked
		}
		if panicked == l.panicked {
			panics++
		}
		if ok {
			agree++
		} else {
			problems = append(problems, fmt.Sprintf("%s: headline %q (line %d, %q), want %q", l.name, fs[0].Headline, fs[0].Line, fs[0].Title, want))
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Log(p)
	}
	detection := 100 * float64(detected) / float64(crashes)
	fp := 100 * float64(falsePos) / float64(clean)
	headline := 100 * float64(agree) / float64(detected)
	t.Logf("logs: %d (%d with a crash, %d clean)", len(logs), crashes, clean)
	t.Logf("detection rate:      %6.2f %% (%d/%d)", detection, detected, crashes)
	t.Logf("false-positive rate: %6.2f %% (%d/%d)", fp, falsePos, clean)
	t.Logf("headline agreement:  %6.2f %% (%d/%d)", headline, agree, detected)
	// Informational, not gated: the whole title with its function, and
	// whether the log panicked (PANICKED: Y) says the same as Panicked.
	t.Logf("title agreement:     %6.2f %% (%d/%d, with the function)", 100*float64(titles)/float64(detected), titles, detected)
	t.Logf("panicked agreement:  %6.2f %% (%d/%d)", 100*float64(panics)/float64(detected), panics, detected)
	if detection < minDetection {
		t.Errorf("detection %.2f %% < %.2f %%", detection, minDetection)
	}
	if fp > maxFalsePos {
		t.Errorf("false positives %.2f %% > %.2f %%", fp, maxFalsePos)
	}
	if headline < minHeadline {
		t.Errorf("headline agreement %.2f %% < %.2f %%", headline, minHeadline)
	}
}
