package stressng

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"
)

func testRunner(t *testing.T, behaviour string) (*runner, string) {
	bin, log := fakeBin(t, behaviour)
	return &runner{bin: bin, timeout: 2 * time.Second, overrun: overrun, dir: t.TempDir()}, log
}

func TestRunnerCommandLine(t *testing.T) {
	r, log := testRunner(t, "ok")
	r.opts = []string{"--vm-splice-bytes=16k", "--no-rand-seed"}
	res, err := r.run(t.Context(), stressors[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := (result{"0.15.06", 409131, 2.000216, 0.394952 + 1.410582}); !sameResult(res, want) {
		t.Errorf("got %+v, want %+v", res, want)
	}
	runs := fakeRuns(t, log)
	want := fmt.Sprintf("[--vm-splice 1 --timeout 2s --metrics --yaml %s/vm-splice.yaml --temp-path %s --vm-splice-bytes 64k --vm-splice-bytes=16k --no-rand-seed]", r.dir, r.dir)
	if len(runs) != 1 || runs[0] != want {
		t.Errorf("stress-ng ran as %q, want once as %q", runs, want)
	}
}

func TestRunnerFailures(t *testing.T) {
	for _, tc := range []struct {
		behaviour string
		want      []string // in the error, in order
	}{
		{"bad-option", []string{"exited with status 1: an error: wrong options", "$ ", "--vm-splice 1 --timeout 2s", "Value 1.0B is out of range for vm-splice-bytes"}},
		{"fail", []string{"exited with status 2: a stressor failed", "data check pattern failed"}},
		{"no-report", []string{"exited 0 but wrote no report", "vm-splice.yaml"}},
		{"quiet", []string{"exited 0, but in ", "no metrics (stress-ng writes them with --metrics, and not under -q)"}},
		{"zero", []string{"ran vm-splice for 2.00 s and counted no bogo operation"}},
		{"noisy", []string{"exited with status 2", "0000 xxx", "bytes left out ...]", "1023 xxx"}},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			r, _ := testRunner(t, tc.behaviour)
			res, err := r.run(t.Context(), stressors[0])
			if err == nil {
				t.Fatalf("no error, got %+v", res)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q: no %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
			if len(msg) > outputLimit+1024 {
				t.Errorf("error of %d bytes: the output is not bounded", len(msg))
			}
		})
	}
}

// TestRunnerStopsAHungStressNG: a stress-ng still running past its
// timeout and the overrun is interrupted, and the error says so.
func TestRunnerStopsAHungStressNG(t *testing.T) {
	r, _ := testRunner(t, "hang")
	r.timeout, r.overrun = time.Second, 100*time.Millisecond
	start := time.Now()
	_, err := r.run(t.Context(), stressors[0])
	if err == nil || !strings.Contains(err.Error(), "did not end within 100ms of its 1s timeout") {
		t.Errorf("error %v, want a stress-ng that did not end", err)
	}
	if d := time.Since(start); d > waitDelay {
		t.Errorf("stopped after %v", d)
	}
}

func TestTimeoutArg(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Second: "1s", 3 * time.Second: "3s", time.Minute: "60s"} {
		if got, err := timeoutArg(d); err != nil || got != want {
			t.Errorf("timeoutArg(%v) = %q, %v; want %q", d, got, err, want)
		}
	}
	for _, d := range []time.Duration{0, -time.Second, 500 * time.Millisecond, 1500 * time.Millisecond} {
		if got, err := timeoutArg(d); err == nil {
			t.Errorf("timeoutArg(%v) = %q, want an error", d, got)
		}
	}
}

// runBenchmark runs this test binary's BenchmarkStressNG/vm-splice with
// args against the stand-in stress-ng doing behaviour, and returns its
// standard output, its error and the stand-in's command lines.
func runBenchmark(t *testing.T, behaviour string, args ...string) (string, error, []string) {
	t.Helper()
	bin, log := fakeBin(t, behaviour)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-test.run=^$", "-test.bench=^BenchmarkStressNG$/^vm-splice$", "-test.benchtime=1x", "-stressng.bin=" + bin}, args...)
	cmd := exec.Command(self, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	return out.String(), err, fakeRuns(t, log)
}

// TestBenchmarkOutput runs the benchmark as the matrix does, against the
// stand-in, and reads its output with benchfmt as the report does: one
// result per -test.count, each from a stress-ng run of its own, in
// bogo-ops/s and bogo-ops/cpu-s only (no ns/op).
func TestBenchmarkOutput(t *testing.T) {
	const count = 3
	out, err, runs := runBenchmark(t, "ok", fmt.Sprintf("-test.count=%d", count), "-stressng.timeout=3s")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(runs) != count {
		t.Errorf("stress-ng ran %d times, want %d: %q", len(runs), count, runs)
	}
	for _, r := range runs {
		if !strings.Contains(r, " --timeout 3s ") {
			t.Errorf("stress-ng ran as %s, want --timeout 3s", r)
		}
	}
	const rate, cpuRate = 409131 / 2.000216, 409131 / (0.394952 + 1.410582)
	n := 0
	rd := benchfmt.NewReader(strings.NewReader(out), "bench.txt")
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Errorf("benchfmt: %v", rec)
		case *benchfmt.Result:
			n++
			if base := string(rec.Name.Base()); base != "StressNG" {
				t.Errorf("benchmark %q, want StressNG", base)
			}
			if _, parts := rec.Name.Parts(); len(parts) < 1 || string(parts[0]) != "/vm-splice" {
				t.Errorf("benchmark %q, want StressNG/vm-splice", rec.Name)
			}
			if rec.Iters != 1 {
				t.Errorf("%d iterations, want 1", rec.Iters)
			}
			want := map[string]float64{"bogo-ops/s": rate, "bogo-ops/cpu-s": cpuRate}
			if len(rec.Values) != len(want) {
				t.Errorf("values %+v, want %v", rec.Values, want)
			}
			for _, v := range rec.Values {
				if w, ok := want[v.Unit]; !ok || math.Abs(v.Value-w) > 1 {
					t.Errorf("values %+v, want %v", rec.Values, want)
				}
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Error(err)
	}
	if n != count {
		t.Errorf("%d results, want %d:\n%s", n, count, out)
	}
	// What results.Collector keeps of a suite's output (its benchLine).
	line := regexp.MustCompile(`(?m)^Benchmark\S+\s+\d+\s+\d`)
	if got := len(line.FindAllString(out, -1)); got != count {
		t.Errorf("%d lines the collector keeps, want %d:\n%s", got, count, out)
	}
}

func TestBenchmarkFailsWithTheOutput(t *testing.T) {
	out, err, _ := runBenchmark(t, "fail")
	if err == nil {
		t.Fatalf("the benchmark passed:\n%s", out)
	}
	for _, w := range []string{"--- FAIL: BenchmarkStressNG/vm-splice", "exited with status 2: a stressor failed", "data check pattern failed"} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
}

func TestBenchmarkRejectsAFractionalTimeout(t *testing.T) {
	out, err, runs := runBenchmark(t, "ok", "-stressng.timeout=1500ms")
	if err == nil || !strings.Contains(out, "-stressng.timeout=1.5s: stress-ng runs for whole seconds") || len(runs) != 0 {
		t.Errorf("%v, %d runs:\n%s", err, len(runs), out)
	}
}

func TestBenchmarkSkipsWithoutStressNG(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$", "-test.bench=.", "-test.benchtime=1x", "-test.v")
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"--- SKIP: BenchmarkStressNG/vm-splice", "stress-ng not found (PATH=", "scripts/install-deps.sh"} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
}
