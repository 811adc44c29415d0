package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvmtest/kvmtest/results"
)

// bisectJSON is the part of OUT/bisect.json the test checks.
type bisectJSON struct {
	Mode  string `json:"mode"`
	Steps []struct {
		State   int      `json:"state"`
		Verdict string   `json:"verdict"`
		Why     string   `json:"why"`
		Dirs    []string `json:"dirs"`
	} `json:"steps"`
	FirstBad   *int `json:"first_bad"`
	LastGood   *int `json:"last_good"`
	Conclusive bool `json:"conclusive"`
	Expected   int  `json:"expected_steps"`
}

// TestBisectSeries bisects the vmsplice v1 series on real kernels: which
// of its three patches regresses the blocking partial write with no
// reader, and which makes pipe buffers stable. Both are patch 2 (vmsplice
// becomes pwritev2/preadv2 on the pipe); patch 1 only drops an unused
// argument. Each state's kernel is really built (the two intermediate
// states incrementally, in the series' build slot) and booted, and the
// verdicts come from the guest's real test results.
func TestBisectSeries(t *testing.T) {
	requireE2E(t)
	bin := kvmtestBinary(t)
	const patch2 = `2/3 0002-vmsplice-make-vmsplice-a-trivial-wrapper-for-pwritev.patch "[PATCH 2/3] vmsplice: make vmsplice a trivial wrapper for pwritev2/preadv2"`
	const patch1 = `1/3 0001-splice-drop-the-unused-flags-argument-of-link_pipe.patch "[PATCH 1/3] splice: drop the unused flags argument of link_pipe()"`
	tests := []struct {
		name, test string
		fixed      bool
		first      string
		verdicts   map[int]string // state -> verdict
	}{
		{"regression", "vmsplice/TestVmsplicePartialWriteWithoutReader$", false, "first bad: " + patch2,
			map[int]string{0: "good", 1: "good", 2: "bad", 3: "bad"}},
		{"fix", "^TestVmspliceBufferIsStable$", true, "first fixed: " + patch2,
			map[int]string{0: "good", 1: "good", 2: "bad", 3: "bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bisect")
			args := []string{"bisect", "--cell", "6.12-vmsplice-v1-minimal", "--suite", "vmsplice", "--test", tt.test, "--out", out}
			if tt.fixed {
				args = append(args, "--fixed")
			}
			code, stdout := runKvmtest(t, bin, args...)
			if code != 0 || !strings.Contains(stdout, tt.first+"\n") {
				t.Errorf("exit %d; want 0 and %q", code, tt.first)
			}
			if !strings.Contains(stdout, patch1) {
				t.Errorf("the last good state is not patch 1: want %q", patch1)
			}
			b, err := os.ReadFile(filepath.Join(out, "bisect.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rec bisectJSON
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Mode != "series" || rec.FirstBad == nil || *rec.FirstBad != 2 || rec.LastGood == nil || *rec.LastGood != 1 || !rec.Conclusive {
				t.Errorf("bisect.json: %s", b)
			}
			if len(rec.Steps) > rec.Expected || len(rec.Steps) != 4 {
				t.Errorf("%d steps for 4 states, want 4 (expected at most %d)", len(rec.Steps), rec.Expected)
			}
			// Every verdict is the real guest's: read each step's run.
			for _, s := range rec.Steps {
				if want := tt.verdicts[s.State]; s.Verdict != want {
					t.Errorf("state %d: %s (%s), want %s", s.State, s.Verdict, s.Why, want)
				}
				run, err := results.Read(filepath.Join(out, s.Dirs[0]))
				if err != nil {
					t.Fatal(err)
				}
				c := run.Cells[0]
				name := strings.TrimPrefix(strings.Trim(tt.test, "^$"), "vmsplice/")
				var got string
				for _, suite := range c.Suites {
					for _, test := range suite.Tests {
						if test.Name == name {
							got = test.Status
						}
					}
				}
				// Without --fixed bad means the test failed; with it, passed.
				want := map[bool]string{false: "pass", true: "fail"}[(s.Verdict == "bad") != tt.fixed]
				if got != want {
					t.Errorf("state %d (%s): %s is %q in %s, want %q", s.State, s.Verdict, name, got, s.Dirs[0], want)
				}
			}
		})
	}
}
