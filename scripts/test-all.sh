#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (warnings are errors) and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI runs from scratch on a small disk: incremental caches would only cost space there.
export CARGO_INCREMENTAL=0
. scripts/system-deps.sh
conclave_install_system_deps
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
echo "All checks passed."
