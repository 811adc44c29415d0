#!/usr/bin/env bash
# kvmtest benchmark: what each guest architecture costs on this host.
#
#   bench/arch.sh [ARCH...]      # default: x86_64 arm64 riscv64
#
# For each architecture, with the cell 6.12-base-minimal of the shipped
# matrix vmsplice-arch (arch.yaml: the minimal config plus the
# architecture's fragment):
#   build   the cold build, in an empty cache of its own (no ccache hits,
#           no shared tree): wall seconds of `kvmtest build`, the kernel
#           cross-built with Debian's toolchain when foreign;
#   boot    three boots of that kernel running bench/accelprog (GOARCH
#           of the architecture): seconds from QEMU's start to the
#           agent's hello (the "to agent" of `kvmtest boot`), median;
#   factor  accelprog's total time in the guest over its total time
#           natively on the host (geometric mean of its four phases in
#           brackets): the TCG slowdown of that architecture, against
#           which vmrunner's per-architecture factor is set.
# Under TCG when /dev/kvm is not usable (always, for a foreign one).
# Takes a cold build per architecture: about 5 minutes each on 2 cores.
# With --cached, the user's cache is used as it is (no cold build: the
# build column is then what the cache recorded for the artifact).
set -euo pipefail
cd "$(dirname "$0")/.."
cached=false
if [ "${1:-}" = --cached ]; then
	cached=true
	shift
fi
[ $# -gt 0 ] || set -- x86_64 arm64 riscv64
work=$(mktemp -d /tmp/kvmtest-arch.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/kvmtest" ./cmd/kvmtest

CGO_ENABLED=0 go build -o "$work/accel-native" ./bench/accelprog
"$work/accel-native" >"$work/native.txt"

printf '%-8s %9s %9s %9s %s\n' arch "build s" "boot s" factor "(geomean)"
for a in "$@"; do
	goarch=$a
	case $a in x86_64) goarch=amd64 ;; esac
	CGO_ENABLED=0 GOARCH=$goarch go build -o "$work/accel-$a" ./bench/accelprog
	cache="$work/cache-$a"
	if $cached; then
		cache=${KVMTEST_CACHE:-$HOME/.cache/kvmtest}
	fi
	start=$(date +%s.%N)
	KVMTEST_CACHE=$cache "$work/kvmtest" build vmsplice-arch --cell "6.12-base-minimal-$a" >"$work/build-$a.log" 2>&1 || {
		tail -20 "$work/build-$a.log" >&2
		echo "bench/arch.sh: the $a build failed" >&2
		exit 1
	}
	build=$(echo "$(date +%s.%N) - $start" | bc)
	if $cached; then # the cold build the cache recorded
		dir=$(sed -n 's/.*\(artifacts\/[0-9a-f]*\).*/\1/p' "$work/build-$a.log" | head -1)
		build=$(sed -n 's/.*"build_secs": *\([0-9.]*\).*/\1/p' "$cache/$dir/meta.json")
	fi
	boots=()
	for i in 1 2 3; do
		KVMTEST_CACHE=$cache "$work/kvmtest" boot --matrix vmsplice-arch --cell 6.12-base-minimal --arch "$a" -- "$work/accel-$a" \
			>"$work/guest-$a-$i.txt" 2>"$work/boot-$a-$i.err" || {
			cat "$work/boot-$a-$i.err" >&2
			echo "bench/arch.sh: the $a boot failed" >&2
			exit 1
		}
		boots+=("$(sed -n 's/.*to agent \([0-9.]*\)s.*/\1/p' "$work/boot-$a-$i.err")")
	done
	boot=$(printf '%s\n' "${boots[@]}" | sort -n | sed -n 2p)
	factor=$(awk '
		FNR == NR && $1 == "phase" { native[$2] = $3; next }
		$1 == "phase" { guest[$2] += $3; runs[$2]++ }
		END {
			tn = 0; tg = 0; lg = 0; n = 0
			for (p in native) {
				g = guest[p] / runs[p]
				tn += native[p]; tg += g; lg += log(g / native[p]); n++
			}
			printf "%.1f (%.1f)", tg / tn, exp(lg / n)
		}' "$work/native.txt" "$work"/guest-"$a"-*.txt)
	printf '%-8s %9.0f %9.2f %9s\n' "$a" "$build" "$boot" "$factor"
	$cached || rm -rf "$cache"
done
