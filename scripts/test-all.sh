#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (warnings are errors) and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
conclave_install_system_deps
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --workspace
echo "== CLI against a real server"
./scripts/cli-smoke.sh
echo "All checks passed."
