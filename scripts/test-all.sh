#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (warnings are errors), all tests, and the
# packaging tests (the .deb installed and removed, the macOS bundle files checked).
set -euo pipefail
cd "$(dirname "$0")/.."
# CI runs from scratch on a small disk: incremental caches would only cost space there.
export CARGO_INCREMENTAL=0
. scripts/system-deps.sh
CONCLAVE_APT_PACKAGES+=("${CONCLAVE_PACKAGING_APT_PACKAGES[@]}" "${CONCLAVE_BROWSER_APT_PACKAGES[@]}")
conclave_install_system_deps
if ! cargo deb --version >/dev/null 2>&1; then
    echo "== installing cargo-deb (builds the .deb packages)"
    cargo install --locked cargo-deb --version 3.8.0
fi
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
# --tests: unit and integration tests, without linking every example as a binary (clippy
# above already compiled them) and without the empty doc-test runs.
cargo test --locked --workspace --tests
echo "== CLI against a real server"
./scripts/cli-smoke.sh
echo "== the join page in a headless browser, English and Japanese"
# The conclaved the test step built (the same features as the rest of the test build).
CONCLAVED="${CARGO_TARGET_DIR:-target}/debug/conclaved" ./scripts/test-join-page.sh
echo "== a sign-in kept in the desktop's Secret Service survives a restart"
./scripts/test-secret-service.sh
echo "== Linux packages: build, lint, install, remove"
./scripts/test-packaging-linux.sh
echo "== macOS packaging: what can be checked on Linux"
./packaging/macos/check.sh --no-cargo
echo "All checks passed."
