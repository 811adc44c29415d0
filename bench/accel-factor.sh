#!/usr/bin/env bash
# kvmtest benchmark: how many times slower a TCG guest runs the same work
# than the host does natively. KVM runs CPU and system call work at about
# native speed, so this is the factor by which timeouts written for KVM are
# scaled under TCG (vmrunner.Slowdown, vmrunner.DefaultTCGSlowdown).
#
#   bench/accel-factor.sh          # one native run, one TCG guest run, the ratios
#
# The program (below) is static Go, pinned to one CPU (GOMAXPROCS=1, the
# guest has one vCPU), and times four kinds of work itself:
#   cpu      sorting, hashing into a map, string building (integer, branches, cache)
#   syscall  getppid(2) in a loop (entry and exit only)
#   pipe     4 KiB ping-pong over two pipes between two goroutines (wake-ups, copies)
#   fault    touching fresh anonymous memory, page by page (page faults)
# It runs in the guest through `go run ./cmd/kvmtest boot --cell
# 6.12-base-minimal` (the default matrix's cached kernel, under TCG when
# /dev/kvm is not usable), which prints the program's output. The guest's
# clock on that kernel is jiffies (4 ms): every phase runs for seconds.
#
# Output: per phase native seconds, guest seconds and their ratio; then the
# ratio of the totals and the geometric mean of the per-phase ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/kvmtest-accel.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/prog"
cat >"$work/prog/main.go" <<'GO'
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func phase(name string, f func()) {
	start := time.Now()
	f()
	fmt.Printf("phase %s %.4f\n", name, time.Since(start).Seconds())
}

func main() {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(400)
	phase("cpu", func() {
		x := uint64(88172645463325252)
		for round := 0; round < 6; round++ {
			a := make([]int, 200000)
			for i := range a {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				a[i] = int(x % 1000003)
			}
			sort.Ints(a)
			m := make(map[int]int, len(a))
			for _, v := range a {
				m[v]++
			}
			var b strings.Builder
			for i := 0; i < 50000; i++ {
				b.WriteString(strconv.Itoa(m[a[i]] + i))
			}
			if b.Len() == 0 {
				os.Exit(1)
			}
		}
	})
	phase("syscall", func() {
		for i := 0; i < 400000; i++ {
			syscall.Getppid()
		}
	})
	phase("pipe", func() {
		var p1, p2 [2]int
		if err := syscall.Pipe(p1[:]); err != nil {
			panic(err)
		}
		if err := syscall.Pipe(p2[:]); err != nil {
			panic(err)
		}
		const n = 20000
		done := make(chan bool)
		go func() {
			buf := make([]byte, 4096)
			for i := 0; i < n; i++ {
				syscall.Read(p1[0], buf)
				syscall.Write(p2[1], buf)
			}
			done <- true
		}()
		buf := make([]byte, 4096)
		for i := 0; i < n; i++ {
			syscall.Write(p1[1], buf)
			syscall.Read(p2[0], buf)
		}
		<-done
	})
	phase("fault", func() {
		for round := 0; round < 8; round++ {
			b, err := syscall.Mmap(-1, 0, 32<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				panic(err)
			}
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			syscall.Munmap(b)
		}
	})
}
GO
printf 'module accelfactor\ngo 1.26\n' >"$work/prog/go.mod"
(cd "$work/prog" && CGO_ENABLED=0 go build -o accel .)

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
