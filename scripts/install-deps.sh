#!/usr/bin/env bash
# Installs what kvmtest needs on a Debian 12 machine: QEMU, Debian's kernel
# source tarballs, the kernel build dependencies and ccache. Idempotent:
# packages already present are left alone. Needs root (or sudo).
set -euo pipefail

pkgs=(
	qemu-system-x86
	linux-source-6.12 linux-source-6.1
	build-essential flex bison bc libelf-dev libssl-dev
	cpio kmod ccache xz-utils patch git procps
	busybox-static # the shell of `kvmtest boot` with no program
	chromium # the report's browser test (headless)
	qemu-system-common # /usr/lib/qemu/virtiofsd: vm.rootfs host over virtiofs
	python3 # a host program the e2e runs in the shared root
	stress-ng # the stressng guest suite runs the host's stress-ng in the shared root
	libxml2-utils # xmllint: report's tests validate junit.xml against Jenkins' schema
	shellcheck # the CI examples' test runs it on the GitHub workflow's scripts (docs/ci)
	# Other architectures (matrix arch: arm64, riscv64): Debian's cross
	# compilers with the static libc kselftests link against, and QEMU
	# for their virt machines (qemu-system-misc brings riscv64's OpenSBI
	# through qemu-system-data).
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm
	gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-system-misc
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	"${SUDO[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	echo "install-deps: all packages present"
fi

if ! command -v go >/dev/null 2>&1; then
	echo "install-deps: kvmtest needs Go 1.26 (go.dev/dl or your distribution's backports)" >&2
	exit 1
fi
