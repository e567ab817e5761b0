#!/usr/bin/env bash
# Runs Conclave. Until the desktop app lands this is a real local meeting: conclaved on
# loopback and three headless clients (a signed-in host and two guests) over TLS + WebSocket
# with MLS keys (scripts/local-meeting.sh). `./scripts/run.sh demo` runs the in-process demo
# (MLS + SFrame audio frames, no server) instead; extra arguments go to `conclave-cli demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
conclave_install_system_deps
if [ "${1:-}" = "demo" ]; then
    shift
    exec cargo run --quiet --locked -p conclave-cli -- demo "$@"
fi
exec ./scripts/local-meeting.sh
