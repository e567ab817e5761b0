#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Conclave's build needs, or says exactly what is missing.
# Sourced by scripts/run.sh and scripts/test-all.sh.
set -euo pipefail

CONCLAVE_APT_PACKAGES=(build-essential pkg-config cmake libclang-dev libasound2-dev libopus-dev libwebrtc-audio-processing-dev libdbus-1-dev nasm libxkbcommon-x11-0 fonts-noto-cjk)
# What the packaging tests use (scripts/test-all.sh installs them too): the .deb checks, the
# Secret Service test and the macOS checks that run on Linux.
CONCLAVE_PACKAGING_APT_PACKAGES=(lintian appstream desktop-file-utils systemd xdg-utils shellcheck dbus gnome-keyring libsecret-tools python3)
# What the join page's browser test uses (scripts/test-join-page.sh): headless Chromium, and the
# CJK fonts so the Japanese page renders with real glyphs.
CONCLAVE_BROWSER_APT_PACKAGES=(chromium fonts-noto-cjk)
# What the Windows cross-build and MSI test use (scripts/test-packaging-windows.sh): mingw-w64 and
# autotools for the C libraries, wixl/msitools for the MSI, osslsigncode and openssl for signing,
# 64-bit Wine, Xvfb, x11-utils (xwininfo), ImageMagick and a font for the install and window tests.
CONCLAVE_WINDOWS_APT_PACKAGES=(mingw-w64 autoconf automake libtool wixl msitools osslsigncode openssl wine wine64 xvfb x11-utils imagemagick fonts-liberation)

conclave_missing_packages() {
  local missing=()
  for pkg in "${CONCLAVE_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

conclave_install_system_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "note: not a Debian/Ubuntu system; make sure these are installed: ${CONCLAVE_APT_PACKAGES[*]}" >&2
  else
    local missing
    missing=$(conclave_missing_packages)
    if [ -n "$missing" ]; then
      if [ "$(id -u)" -eq 0 ]; then
        echo "Installing system packages: $missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # shellcheck disable=SC2086
        apt-get install -y -q $missing
      else
        echo "error: these system packages are missing: $missing" >&2
        echo "       install them with:  sudo apt-get install -y $missing" >&2
        echo "       (or run this script as root and it installs them itself)" >&2
        exit 1
      fi
    fi
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: the Rust toolchain (cargo) is not installed; see https://rustup.rs" >&2
    exit 1
  fi
}
