#!/usr/bin/env bash
# Windows packaging test for CI: cross-builds the app for x86_64-pc-windows-gnu on Linux (Opus,
# OpenH264 and WebRTC audio processing built from source with mingw-w64), renders the icon, and
# runs packaging/windows/test-msi.sh (MSI built with wixl, installed, upgraded and removed under
# Wine, the window opened on Xvfb, Authenticode-signed with a throwaway certificate).
#
# Usage: scripts/test-packaging-windows.sh [--profile P]
#   P defaults to `dev`: CI checks the packaging code, not the optimiser (the release packages
#   use `cargo xtask dist windows`, profile `dist`); the same build-msi.sh runs either way.
# Installs its Debian packages with scripts/system-deps.sh when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
if [ "${1:-}" = --profile ] && [ -n "${2:-}" ]; then
  profile=$2
elif [ $# -ne 0 ]; then
  echo "usage: $0 [--profile P]" >&2
  exit 2
fi

. scripts/system-deps.sh
CONCLAVE_APT_PACKAGES+=("${CONCLAVE_WINDOWS_APT_PACKAGES[@]}")
conclave_install_system_deps
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
  rustup target add x86_64-pc-windows-gnu
fi

target_dir=${CARGO_TARGET_DIR:-target}
start=$SECONDS
echo "== cross-build conclave.exe (x86_64-pc-windows-gnu, profile $profile)"
cargo build --locked --profile "$profile" -p conclave-app --target x86_64-pc-windows-gnu
# Cargo calls the dev profile's directory `debug`.
profile_dir=$profile
[ "$profile" = dev ] && profile_dir=debug
exe="$target_dir/x86_64-pc-windows-gnu/$profile_dir/conclave.exe"
echo "cross-build: $((SECONDS - start)) s, $(stat -c %s "$exe") bytes"

# The .exe must stand alone: only Windows' own DLLs, no MinGW runtime next to it.
mingw_dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' |
  grep -iE '^(libstdc\+\+|libgcc|libwinpthread|libssp)' || true)
if [ -n "$mingw_dlls" ]; then
  echo "error: conclave.exe needs MinGW runtime DLLs: $mingw_dlls" >&2
  exit 1
fi

echo "== icons"
cargo xtask icons
echo "== MSI under Wine"
./packaging/windows/test-msi.sh "$exe" target/icons/conclave.ico
echo "Windows packaging: $((SECONDS - start)) s in all."
