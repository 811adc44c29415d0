#!/usr/bin/env bash
# kvmtest benchmarks: prints ratios measured in one run on this machine.
#
#   bench/run.sh            # everything, with a fresh cache (cold build: several minutes)
#
# Ratios (targets from the issues in brackets):
#   rerun/cold          wall of a re-run of an unchanged cell / its cold first run   [<= 0.2, 0 builds]
#   patched/cold-build  build time of a variant changing only fs/splice.c / cold base build  [<= 0.08]
#   cell/raw-qemu       kvmtest run of one cached cell / the raw QEMU command on the same kernel and initramfs  [<= 1.10]
#   jobs2/jobs1         four cached cells with --jobs 2 / with --jobs 1      [<= 0.65 on 2 cores]
#   bisect-steps/bound  states a bisection tests / 2 + ceil(log2(states-1))  [<= 1]
# and, as a figure, the time from a panic seen on the console to QEMU gone  [< 1 s]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
go build -o bin/kvmtest ./cmd/kvmtest
kt=$root/bin/kvmtest
work=$(mktemp -d /tmp/kvmtest-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export KVMTEST_CACHE=$work/cache
export CCACHE_DISABLE=1 # a cold build is cold: no compiler cache either

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
jq_cells() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(' '.join(f\"{c['id']}:{c['status']}:{'cached' if c['build_cached'] else 'built'}:{c['timings'].get('build',0):.1f}:{c['timings'].get('vm',0):.2f}\" for c in r['cells']))" "$1"; }
build_secs() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print([c for c in r['cells'] if c['id']==sys.argv[2]][0]['timings']['build'])" "$1" "$2"; }

# The bench matrix: 6.12 minimal, the base and three variants that each
# change one line of fs/splice.c (four cells sharing one build slot).
mkdir -p "$work/m"
write_matrix() {
	cat >"$work/m/bench.yaml" <<YAML
name: bench
kernels:
  - {name: "6.12", version: "6.12", source: {tarball: /usr/src/linux-source-6.12.tar.xz}}
patchsets:
  - {name: base}
  - {name: comment1, series: patches/comment1}
  - {name: comment2, series: patches/comment2}
  - {name: comment3, series: patches/comment3}
configs:
  - {name: minimal, base: tinyconfig, fragments: [$root/matrices/configs/qemu-minimal.config]}
suites:
  - {name: vmsplice, go-test: $root/guest/tests/vmsplice, timeout: 1m}
vm: {memory: 512M, cpus: 1, accel: auto, boot-timeout: 30s, cmdline: [secretmem.enable=1]}
baseline: {patchset: base}
YAML
	# The default matrix's expectations for an unpatched kernel, for every
	# cell (the variants change a comment): the cells pass as expected.
	sed -n '/^expect:/,/^baseline:/p' matrices/default.yaml | grep -v '^baseline:' |
		sed 's/patchset: base, //' >>"$work/m/bench.yaml"
}
write_matrix
# The variants' patches, against fs/splice.c from the same tarball.
mkdir -p "$work/m/a/fs"
tar -xJf /usr/src/linux-source-6.12.tar.xz -O --wildcards '*/fs/splice.c' >"$work/m/a/fs/splice.c"
for i in 1 2 3; do
	mkdir -p "$work/m/patches/comment$i" "$work/m/b/fs"
	{ head -1 "$work/m/a/fs/splice.c"; echo "/* kvmtest bench: one-line change $i */"; tail -n +2 "$work/m/a/fs/splice.c"; } >"$work/m/b/fs/splice.c"
	(cd "$work/m" && diff -u a/fs/splice.c b/fs/splice.c >"patches/comment$i/0001-splice-comment-$i.patch" || true)
done
base=6.12-base-minimal

echo "== cold run of one cell (fresh cache: extract + build + boot)"
t0=$(now); "$kt" run --quiet "$work/m/bench.yaml" --cell "$base" --out "$work/cold" --keep-initramfs >/dev/null || true; t1=$(now)
cold=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
echo "   cells: $(jq_cells "$work/cold/run.json"); wall ${cold}s"

echo "== re-run of the unchanged cell"
t0=$(now); "$kt" run --quiet "$work/m/bench.yaml" --cell "$base" --out "$work/warm" >/dev/null || true; t1=$(now)
warm=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
echo "   cells: $(jq_cells "$work/warm/run.json"); wall ${warm}s"

echo "== raw QEMU on the same kernel and initramfs"
key=$(python3 -c "import json,sys; print([c for c in json.load(open(sys.argv[1]))['cells'] if c['id']==sys.argv[2]][0]['artifact_key'])" "$work/cold/run.json" "$base")
art=$KVMTEST_CACHE/artifacts/$key
initrd="$work/cold/cells/$base/initramfs.cpio"
accel=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['host']['accel'])" "$work/cold/run.json")
cpu=max; [ "$accel" = kvm ] && cpu=host
t0=$(now)
qemu-system-x86_64 -machine pc -accel "$accel" -cpu "$cpu" -m 512 -smp 1 -nodefaults -no-user-config \
	-display none -no-reboot -kernel "$art/bzImage" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=2" \
	-serial "file:$work/raw-console.log" -serial "file:$work/raw-events.jsonl"
t1=$(now)
raw=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
grep -q '"kind":"done"' "$work/raw-events.jsonl" || { echo "raw QEMU run did not finish the suites" >&2; exit 1; }
echo "   wall ${raw}s ($accel)"

echo "== patched variant: one changed line in fs/splice.c"
"$kt" run --quiet "$work/m/bench.yaml" --cell 6.12-comment1-minimal --out "$work/patched" >/dev/null || true
echo "   cells: $(jq_cells "$work/patched/run.json")"
coldb=$(build_secs "$work/cold/run.json" "$base")
patchb=$(build_secs "$work/patched/run.json" 6.12-comment1-minimal)
"$kt" build "$work/m/bench.yaml" >/dev/null 2>&1

echo "== four cached cells, --jobs 1 then --jobs 2"
t0=$(now); "$kt" run --quiet "$work/m/bench.yaml" --jobs 1 --out "$work/j1" >/dev/null || true; t1=$(now)
j1=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
echo "   --jobs 1: $(jq_cells "$work/j1/run.json"); wall ${j1}s"
t0=$(now); "$kt" run --quiet "$work/m/bench.yaml" --jobs 2 --out "$work/j2" >/dev/null || true; t1=$(now)
j2=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
echo "   --jobs 2: $(jq_cells "$work/j2/run.json"); wall ${j2}s"

echo "== crash detection: panic on the console to QEMU gone"
mkdir -p "$work/crash"
cat >"$work/crash/main.go" <<'GO'
package main

import "os"

func main() { os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0) }
GO
printf 'module crash\ngo 1.26\n' >"$work/crash/go.mod"
(cd "$work/crash" && CGO_ENABLED=0 go build -o crash .)
crashline=$("$kt" boot --matrix "$work/m/bench.yaml" --cell "$base" -- "$work/crash/crash" 2>&1 | grep "crash seen on the console to QEMU gone" || true)
echo "   $crashline"

echo "== bisect: which patch of the vmsplice v1 series (3 patches, default matrix) regresses the no-reader partial write"
t0=$(now)
"$kt" bisect --cell 6.12-vmsplice-v1-minimal --suite vmsplice --test 'vmsplice/TestVmsplicePartialWriteWithoutReader$' \
	--out "$work/bisect" >"$work/bisect.txt" 2>&1 || true
t1=$(now)
bis=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
grep '^first bad' "$work/bisect.txt" | sed 's/^/   /'
read -r steps expected builds < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['steps']), r['expected_steps'], r['builds'])" "$work/bisect/bisect.json")
echo "   $steps states tested (bound: 2 ends + ceil(log2(range)) = $expected), $builds kernels built, wall ${bis}s"

echo
echo "ratio bisect-steps/bound  $(ratio "$steps" "$expected")   ($steps / $expected; builds $builds)"
echo "ratio rerun/cold          $(ratio "$warm" "$cold")   (${warm}s / ${cold}s)"
echo "ratio patched/cold-build  $(ratio "$patchb" "$coldb")   (${patchb}s / ${coldb}s)"
echo "ratio cell/raw-qemu       $(ratio "$warm" "$raw")   (${warm}s / ${raw}s)"
echo "ratio jobs2/jobs1         $(ratio "$j2" "$j1")   (${j2}s / ${j1}s)"
