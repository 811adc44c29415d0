package stressng

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A report is the part of a stress-ng --yaml file that is read: the
// version, and the metrics of each stressor (written with --metrics;
// stress-ng leaves the section out under -q).
type report struct {
	SystemInfo struct {
		Version string `yaml:"stress-ng-version"`
	} `yaml:"system-info"`
	Metrics []metrics `yaml:"metrics"`
}

// metrics is one stressor's entry in a report. The numbers are pointers
// so that a missing key is told from a zero. stress-ng 0.15 writes more,
// left unread: the rates (bogo-ops-per-second-real-time is
// BogoOps/WallClock, bogo-ops-per-second-usr-sys-time is
// BogoOps/(UserTime+SystemTime)), the CPU usage, the maximum RSS, and the
// stressor's own metrics, whose keys change across versions.
type metrics struct {
	Stressor string   `yaml:"stressor"`
	BogoOps  *float64 `yaml:"bogo-ops"`
	// WallClock is the mean wall-clock duration of the stressor's
	// instances, in seconds.
	WallClock *float64 `yaml:"wall-clock-time"`
	// UserTime and SystemTime are the CPU time of all its instances, in
	// seconds.
	UserTime   *float64 `yaml:"user-time"`
	SystemTime *float64 `yaml:"system-time"`
}

// A result is what one stress-ng run measured for one stressor.
type result struct {
	Version   string  // stress-ng's version
	BogoOps   float64 // bogo operations of all instances
	WallClock float64 // seconds
	CPU       float64 // user and system time, seconds
}

// Rate is the bogo-ops rate in real time, as stress-ng's "bogo ops/s
// (real time)" column: bogo operations per second of wall-clock time.
func (r result) Rate() float64 { return r.BogoOps / r.WallClock }

// docEnd is the YAML end-of-document marker that stress-ng writes last: a
// report without it was cut short (and may still parse, with a number cut
// in the middle).
var docEnd = []byte("\n...")

// parseReport reads the metrics of stressor from a stress-ng --yaml
// report. Errors say what is wrong with the file: empty, cut short, not
// YAML, no metrics section, no entry for the stressor, or an entry
// without its bogo-ops count, its wall-clock time or its CPU times.
func parseReport(data []byte, stressor string) (result, error) {
	data = bytes.TrimRight(data, " \t\r\n")
	if len(data) == 0 {
		return result{}, errors.New("the YAML report is empty")
	}
	if !bytes.HasSuffix(data, docEnd) {
		return result{}, errors.New("the YAML report has no end-of-document marker (...): it was cut short")
	}
	var rep report
	if err := yaml.Unmarshal(data, &rep); err != nil {
		return result{}, fmt.Errorf("the YAML report does not parse: %w", err)
	}
	if len(rep.Metrics) == 0 {
		return result{}, errors.New("the YAML report has no metrics (stress-ng writes them with --metrics, and not under -q)")
	}
	var found *metrics
	var names []string
	for i, m := range rep.Metrics {
		names = append(names, m.Stressor)
		if m.Stressor != stressor {
			continue
		}
		if found != nil {
			return result{}, fmt.Errorf("the YAML report has two entries for %s", stressor)
		}
		found = &rep.Metrics[i]
	}
	if found == nil {
		return result{}, fmt.Errorf("the YAML report has no metrics for %s (it has %s)", stressor, strings.Join(slices.Compact(names), ", "))
	}
	switch {
	case found.BogoOps == nil:
		return result{}, fmt.Errorf("the metrics of %s have no bogo-ops", stressor)
	case *found.BogoOps < 0:
		return result{}, fmt.Errorf("the metrics of %s have a negative bogo-ops: %g", stressor, *found.BogoOps)
	case found.WallClock == nil:
		return result{}, fmt.Errorf("the metrics of %s have no wall-clock-time", stressor)
	case !(*found.WallClock > 0):
		return result{}, fmt.Errorf("the metrics of %s have a wall-clock-time of %g s", stressor, *found.WallClock)
	case found.UserTime == nil || found.SystemTime == nil:
		return result{}, fmt.Errorf("the metrics of %s have no user-time or no system-time", stressor)
	case *found.UserTime < 0 || *found.SystemTime < 0:
		return result{}, fmt.Errorf("the metrics of %s have a negative user-time or system-time", stressor)
	}
	return result{
		Version:   rep.SystemInfo.Version,
		BogoOps:   *found.BogoOps,
		WallClock: *found.WallClock,
		CPU:       *found.UserTime + *found.SystemTime,
	}, nil
}
