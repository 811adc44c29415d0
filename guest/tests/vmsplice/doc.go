// Package vmsplice is a guest test suite: the contracts of vmsplice(2) that
// the series "vmsplice: make vmsplice a trivial wrapper for
// preadv2/pwritev2" establishes, above all that a buffer given to vmsplice
// can be changed afterwards without changing what the pipe holds.
//
// Each test asserts one contract so that the patched kernel passes, and
// logs the value it measured, so an unpatched kernel's failures say what it
// does instead. Calls that block on an unpatched kernel are detected by a
// bounded wait and then released; no test hangs.
//
// The package has tests only. It runs in a kvmtest guest (built with
// `go test -c`, run by the agent with KVMTEST_GUEST=1); on a host it skips
// itself, so `go test ./...` never judges the host's kernel.
package vmsplice
