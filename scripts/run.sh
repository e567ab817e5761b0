#!/usr/bin/env bash
# Runs Conclave. Until the desktop app lands this is a local E2EE demo meeting of headless
# clients (real MLS + SFrame in one process). Extra arguments go to `conclave-cli demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
conclave_install_system_deps
exec cargo run --quiet --locked -p conclave-cli -- demo "$@"
