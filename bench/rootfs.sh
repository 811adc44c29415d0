#!/usr/bin/env bash
# kvmtest benchmark: what a shared root costs at boot. The same kernel
# (6.12, tinyconfig + qemu-minimal.config + rootfs.config, built into the
# cache by the e2e matrix of e2e/rootfs_test.go or by this script) boots N
# times with `kvmtest boot` running a static program in the initramfs, and
# N times running it in the host's root shared read-only (virtiofs, then
# 9p forced): "to agent" is boot to the agent's hello, "to suite" the time
# from QEMU's start to the program's first output line (the root is set up
# between the two).
#
#   bench/rootfs.sh [N]      # default 3 boots per mode
#
# Output: per mode the median seconds to the suite, and the difference
# from the initramfs.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
work=$(mktemp -d /tmp/kvmtest-rootfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/kvmtest" ./cmd/kvmtest
mkdir -p "$work/prog"
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("first line") }\n' >"$work/prog/main.go"
printf 'module probe\ngo 1.26\n' >"$work/prog/go.mod"
(cd "$work/prog" && CGO_ENABLED=0 go build -o "$work/probe" .)
cat >"$work/m.yaml" <<YAML
name: bench-rootfs
kernels:
  - {name: "6.12", version: "6.12", source: {tarball: /usr/src/linux-source-6.12.tar.xz}}
patchsets: [{name: base}]
configs:
  - {name: rootfs, base: tinyconfig, fragments: [$PWD/matrices/configs/qemu-minimal.config, $PWD/matrices/configs/rootfs.config]}
suites: [{name: t, command: [/bin/true]}]
YAML
kernel=$("$work/kvmtest" build "$work/m.yaml" | awk '{print $3}')/bzImage
echo "kernel: $kernel"

# one MODE TRANSPORT: seconds from start to the program's first line.
one() {
	local start end
	start=$(date +%s.%N)
	KVMTEST_SHARE_TRANSPORT=$2 "$work/kvmtest" boot --kernel "$kernel" --rootfs "$1" -- "$work/probe" 2>/dev/null |
		while IFS= read -r line; do
			if [ "$line" = "first line" ]; then date +%s.%N; fi
		done >"$work/t"
	end=$(head -1 "$work/t")
	echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=""
for mode in "initramfs auto" "host virtiofs" "host 9p"; do
	set -- $mode
	m=$(for _ in $(seq "$n"); do one "$1" "$2"; done | median)
	[ -z "$base" ] && base=$m
	printf '%-20s to first line %6.2f s  (%+.2f s vs initramfs)\n' "$1/$2" "$m" "$(echo "$m - $base" | bc)"
done
