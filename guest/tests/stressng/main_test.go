package stressng

import (
	"bytes"
	"embed"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testdata holds real stress-ng reports (testdata/README.md), embedded so
// that the test binary needs no files beside it, in a guest as anywhere.
//
//go:embed testdata
var testdata embed.FS

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// fakeName is the name under which the test binary is a stand-in for
// stress-ng: a link of that name to it runs fakeStressNG instead of the
// tests.
const fakeName = "stress-ng"

// Environment of the stand-in: what it does (fakeStressNG), and the file
// to which it appends its command line, one line per run.
const (
	fakeEnv    = "KVMTEST_STRESSNG_FAKE"
	fakeLogEnv = "KVMTEST_STRESSNG_FAKE_LOG"
)

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == fakeName {
		os.Exit(fakeStressNG(os.Args[1:]))
	}
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		// benchfmt unit metadata: Go's defaults know only ns/op, B/s
		// and the like, and more bogo ops per second is better.
		fmt.Println("Unit bogo-ops/s better=higher")
		fmt.Println("Unit bogo-ops/cpu-s better=higher")
	}
	os.Exit(m.Run())
}

// fakeStressNG stands in for stress-ng run with args, doing what
// $KVMTEST_STRESSNG_FAKE says, with the reports and output of real runs:
//
//	ok          the report of a 2 s vm-splice run and its output; 0
//	quiet       the report of a run under -q (no metrics); 0
//	zero        the ok report with bogo-ops: 0; 0
//	no-report   nothing; 0
//	bad-option  stress-ng's message for --vm-splice-bytes 1; 1
//	fail        a stressor's failure message; 2
//	noisy       1 MiB of output; 2
//	hang        sleeps an hour (until a signal ends it)
func fakeStressNG(args []string) int {
	if log := os.Getenv(fakeLogEnv); log != "" {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(f, args)
		f.Close()
	}
	report := ""
	for i, a := range args {
		if a == "--yaml" && i+1 < len(args) {
			report = args[i+1]
		}
	}
	write := func(name string, edit func([]byte) []byte) int {
		data, err := testdata.ReadFile("testdata/" + name)
		if err == nil && edit != nil {
			data = edit(data)
		}
		if err == nil {
			err = os.WriteFile(report, data, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "stand-in stress-ng:", err)
			return 1
		}
		return 0
	}
	switch os.Getenv(fakeEnv) {
	case "ok":
		log, _ := testdata.ReadFile("testdata/vm-splice-2s.log")
		os.Stderr.Write(log)
		return write("vm-splice-2s.yaml", nil)
	case "quiet":
		return write("vm-splice-quiet.yaml", nil)
	case "zero":
		return write("vm-splice-2s.yaml", func(b []byte) []byte {
			return bytes.Replace(b, []byte("bogo-ops: 409131"), []byte("bogo-ops: 0"), 1)
		})
	case "no-report":
		return 0
	case "bad-option":
		fmt.Fprintln(os.Stderr, "Value 1.0B is out of range for vm-splice-bytes, allowed: 4.0KB .. 256.0TB")
		return 1
	case "fail":
		fmt.Fprintln(os.Stderr, "stress-ng: fail:  [1234] vm-splice: data check pattern failed, got 0, expected 9c4af5d1")
		return 2
	case "noisy":
		line := bytes.Repeat([]byte("x"), 1023)
		for i := range 1024 {
			fmt.Fprintf(os.Stderr, "%04d %s\n", i, line[5:])
		}
		return 2
	case "hang":
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintf(os.Stderr, "stand-in stress-ng: %s=%q: unknown\n", fakeEnv, os.Getenv(fakeEnv))
	return 1
}

// fakeBin returns a link named stress-ng to this test binary, in a
// directory of its own, and sets $KVMTEST_STRESSNG_FAKE to behaviour and
// $KVMTEST_STRESSNG_FAKE_LOG to a file for the test: the stand-in's
// command lines, read by fakeRuns.
func fakeBin(t *testing.T, behaviour string) (bin, log string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, fakeName)
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "runs.log")
	t.Setenv(fakeEnv, behaviour)
	t.Setenv(fakeLogEnv, log)
	return bin, log
}

// fakeRuns is the command lines the stand-in logged.
func fakeRuns(t *testing.T, log string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}
