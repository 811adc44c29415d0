#!/usr/bin/env bash
# kvmtest benchmark: how many times slower a TCG guest runs the same work
# than the host does natively. KVM runs CPU and system call work at about
# native speed, so this is the factor by which timeouts written for KVM are
# scaled under TCG (vmrunner.Slowdown, vmrunner.DefaultTCGSlowdown).
#
#   bench/accel-factor.sh          # one native run, one TCG guest run, the ratios
#
# The program (bench/accelprog) is static Go, pinned to one CPU
# (GOMAXPROCS=1, the guest has one vCPU), and times four kinds of work
# itself: cpu, syscall, pipe, fault (see its doc comment). It runs in the guest through `go run ./cmd/kvmtest boot --cell
# 6.12-base-minimal` (the default matrix's cached kernel, under TCG when
# /dev/kvm is not usable), which prints the program's output. The guest's
# clock on that kernel is jiffies (4 ms): every phase runs for seconds.
#
# Output: per phase native seconds, guest seconds and their ratio; then the
# ratio of the totals and the geometric mean of the per-phase ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/kvmtest-accel.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/prog"
CGO_ENABLED=0 go build -o "$work/prog/accel" ./bench/accelprog

echo "== native ($(nproc) cores, pinned to one by GOMAXPROCS=1)"
"$work/prog/accel" | tee "$work/native.txt"

echo "== guest: go run ./cmd/kvmtest boot --cell 6.12-base-minimal"
go run ./cmd/kvmtest boot --cell 6.12-base-minimal -- "$work/prog/accel" >"$work/guest.out" 2>"$work/guest.err" || {
	cat "$work/guest.out" "$work/guest.err" >&2
	echo "the guest run failed" >&2
	exit 1
}
grep '^phase ' "$work/guest.out" | tee "$work/guest.txt"
grep '^kvmtest: ' "$work/guest.err" | head -1

echo
awk '
	FNR == NR { native[$2] = $3; order[n++] = $2; next }
	{ guest[$2] = $3 }
	END {
		printf "%-8s %10s %10s %8s\n", "phase", "native s", "guest s", "ratio"
		tn = 0; tg = 0; lg = 0
		for (i = 0; i < n; i++) {
			p = order[i]
			if (!(p in guest) || native[p] <= 0) { print "missing phase " p > "/dev/stderr"; exit 1 }
			r = guest[p] / native[p]
			printf "%-8s %10.3f %10.3f %8.2f\n", p, native[p], guest[p], r
			tn += native[p]; tg += guest[p]; lg += log(r)
		}
		printf "ratio total          %.2f   (%.3fs / %.3fs)\n", tg / tn, tg, tn
		printf "ratio geometric mean %.2f\n", exp(lg / n)
	}' "$work/native.txt" "$work/guest.txt"
