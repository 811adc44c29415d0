// Package stressng is a guest benchmark suite: it runs Debian's stress-ng
// (the host's /usr/bin/stress-ng, in the host's root filesystem shared
// into the guest) and turns the bogo-ops rates of each stressor into a Go
// benchmark line, so that kvmtest compares them between kernels as it does
// any benchmark (benchfmt, benchmath).
//
// BenchmarkStressNG has one sub-benchmark per stressor of a table
// (vm-splice: vmsplice(2) of user memory into a pipe, splice(2) to
// /dev/null, and a vmsplice read back). One call of a sub-benchmark is
// one stress-ng run of -stressng.timeout, reported as
//
//	BenchmarkStressNG/vm-splice 	1	226598 bogo-ops/cpu-s	204543 bogo-ops/s
//
// bogo operations per second of wall-clock time (stress-ng's "bogo ops/s
// (real time)") and per second of the stressor's CPU time (its "usr+sys
// time" rate, which other load on the machine moves less). ns/op is
// suppressed: it would be the duration of a stress-ng run.
//
// Run it with -test.count=N for N independent stress-ng runs, the N
// samples of the confidence interval, and -test.benchtime=1x to say so
// (the default benchtime, 1s, does the same, a run lasting at least a
// second; a longer one adds runs to each sample). Flags:
//
//	-stressng.timeout=2s   the duration of each stress-ng run, whole seconds
//	-stressng.bin=PATH     stress-ng to run (default: "stress-ng" in PATH)
//	-stressng.opt=OPTION   an option added to each run, repeatable
//	                       (-stressng.opt=--vm-splice-bytes=16k)
//
// Without stress-ng the benchmarks skip; a stress-ng that exits non-zero,
// writes no report, or counts no bogo operation fails the benchmark with
// its output (bounded).
//
// The package has tests only. Its tests run anywhere: they parse real
// stress-ng reports kept in testdata/ and drive the benchmark against a
// stand-in stress-ng (the test binary itself, under that name), except
// TestStressNGVmspliceRuns, which runs the real stress-ng and, like the
// other guest suites, does so only in a kvmtest guest (KVMTEST_GUEST=1).
package stressng
