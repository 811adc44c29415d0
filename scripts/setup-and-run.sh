#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install the dependencies,
# build kvmtest, and run the embedded default matrix. Extra arguments go to
# `kvmtest run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
mkdir -p bin
go build -o bin/kvmtest ./cmd/kvmtest
exec bin/kvmtest run "$@"
