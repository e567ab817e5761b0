#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What of the macOS packaging can be checked on Linux, with each step's wall time: shellcheck
# of these scripts, the plists, .strings and entitlements (test_macos_bundle.py, on a bundle
# that lib.sh assembles as build-dmg.sh does), the real .icns, a dry run of build-dmg.sh
# against stand-ins for Apple's tools, and `cargo check` of the
# platform-neutral crates for aarch64-apple-darwin. See docs/packaging.md, "macOS".
#
# Usage: packaging/macos/check.sh [--no-cargo]
#   --no-cargo  skip the two cargo steps (icon rendering, the aarch64-apple-darwin check)
# Needs: shellcheck, python3 (3.11+); with cargo also clang, llvm (llvm-ar) and rustup.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=lib.sh
. packaging/macos/lib.sh

cargo_steps=yes
case "${1:-}" in
    "") ;;
    --no-cargo) cargo_steps=no ;;
    *) echo "usage: $0 [--no-cargo]" >&2; exit 2 ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Runs "$@" as step $1 and prints its wall time.
step() {
    local name="$1" start end
    shift
    echo "== $name"
    start="$(date +%s.%N)"
    "$@"
    end="$(date +%s.%N)"
    awk -v n="$name" -v s="$start" -v e="$end" 'BEGIN { printf "-- %s: ok in %.1f s\n", n, e - s }'
}

step "shellcheck packaging/macos/*.sh" shellcheck packaging/macos/*.sh

if [[ "$cargo_steps" == yes ]]; then
    step "cargo xtask icons" cargo xtask icons "$tmp/icons"
    export CONCLAVE_ICNS="$tmp/icons/conclave.icns"
fi

step "plists, .strings, entitlements, bundle layout (python3)" \
    python3 -m unittest packaging/macos/test_macos_bundle.py

if [[ "$cargo_steps" == yes ]]; then
    # Without Apple's SDK: ring's build script compiles C for the target, which needs only
    # freestanding headers plus TargetConditionals.h, stood in for by three defines. The
    # objects are never linked; linking (and every crate that builds C media libraries,
    # hence conclave-media, -core and -app) needs a Mac.
    mkdir -p "$tmp/sdk-shim"
    printf '#define TARGET_OS_MAC 1\n#define TARGET_OS_OSX 1\n#define TARGET_OS_IPHONE 0\n' \
        >"$tmp/sdk-shim/TargetConditionals.h"
    rustup target add aarch64-apple-darwin >/dev/null
    step "cargo check --target aarch64-apple-darwin (protocol, e2ee, rtc)" \
        env CC_aarch64_apple_darwin=clang AR_aarch64_apple_darwin=llvm-ar \
        CFLAGS_aarch64_apple_darwin="-ffreestanding -nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -isystem $tmp/sdk-shim" \
        MACOSX_DEPLOYMENT_TARGET="$CONCLAVE_MACOS_MIN" \
        cargo check --locked --target aarch64-apple-darwin \
        -p conclave-protocol -p conclave-e2ee -p conclave-rtc
fi

echo "macOS packaging checks passed (what only a Mac can check: docs/packaging.md)."
