package stressng

import (
	"math"
	"strings"
	"testing"
)

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		file, stressor string
		want           result
		rate           float64 // stress-ng's own bogo-ops-per-second-real-time
	}{
		{"vm-splice-2s.yaml", "vm-splice", result{"0.15.06", 409131, 2.000216, 0.394952 + 1.410582}, 204543.432953},
		{"vm-splice-and-pipe-2s.yaml", "vm-splice", result{"0.15.06", 173301, 2.000262, 0.203455 + 0.610853}, 86639.128664},
		{"vm-splice-and-pipe-2s.yaml", "pipe", result{"0.15.06", 294358, 2.001105, 0.154302 + 0.944957}, 147097.758403},
	} {
		t.Run(tc.file+"/"+tc.stressor, func(t *testing.T) {
			got, err := parseReport(readTestdata(t, tc.file), tc.stressor)
			if err != nil {
				t.Fatal(err)
			}
			if !sameResult(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// The rate is stress-ng's "bogo ops/s (real time)", to the
			// 6 decimals it prints.
			if math.Abs(got.Rate()-tc.rate) > 1e-6*tc.rate {
				t.Errorf("rate %f, stress-ng says %f", got.Rate(), tc.rate)
			}
		})
	}
}

// sameResult compares results to within float64 rounding (the CPU time
// is a sum).
func sameResult(a, b result) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-12*math.Max(math.Abs(x), math.Abs(y)) }
	return a.Version == b.Version && near(a.BogoOps, b.BogoOps) && near(a.WallClock, b.WallClock) && near(a.CPU, b.CPU)
}

func TestParseReportErrors(t *testing.T) {
	for _, tc := range []struct {
		file, stressor string
		want           string // in the error
	}{
		{"empty.yaml", "vm-splice", "empty"},
		{"vm-splice-truncated.yaml", "vm-splice", "cut short"},
		{"damaged-indent.yaml", "vm-splice", "does not parse"},
		{"damaged-value.yaml", "vm-splice", "does not parse"},
		{"vm-splice-quiet.yaml", "vm-splice", "no metrics (stress-ng writes them with --metrics, and not under -q)"},
		{"vm-splice-2s.yaml", "pipe", "no metrics for pipe (it has vm-splice)"},
	} {
		t.Run(tc.file+"/"+tc.stressor, func(t *testing.T) {
			got, err := parseReport(readTestdata(t, tc.file), tc.stressor)
			if err == nil {
				t.Fatalf("no error, got %+v", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestParseReportMissingFields edits the real report: each required key
// gone, or wrong, is an error that names it.
func TestParseReportMissingFields(t *testing.T) {
	real := string(readTestdata(t, "vm-splice-2s.yaml"))
	for _, tc := range []struct {
		old, new, want string
	}{
		{"      bogo-ops: 409131\n", "", "no bogo-ops"},
		{"      wall-clock-time: 2.000216\n", "", "no wall-clock-time"},
		{"wall-clock-time: 2.000216", "wall-clock-time: 0.000000", "wall-clock-time of 0 s"},
		{"bogo-ops: 409131", "bogo-ops: -1", "negative bogo-ops"},
		{"      user-time: 0.394952\n", "", "no user-time or no system-time"},
		{"      system-time: 1.410582\n", "", "no user-time or no system-time"},
		{"system-time: 1.410582", "system-time: -1.410582", "negative user-time or system-time"},
		{"    - stressor: vm-splice\n", "    - stressor: vm-splice\n      bogo-ops: 1\n      wall-clock-time: 1\n    - stressor: vm-splice\n", "two entries for vm-splice"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if !strings.Contains(real, tc.old) {
				t.Fatalf("the report has no %q", tc.old)
			}
			_, err := parseReport([]byte(strings.Replace(real, tc.old, tc.new, 1)), "vm-splice")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}
