#!/usr/bin/env bash
# Runs Conclave: the desktop app (`conclave`), which offers "Host on this computer" (the meeting
# server runs inside the app on loopback, with its database, certificate and host account in
# the app's data directory) or signing in to / joining on another server. Extra arguments go to
# the app (e.g. --lang ja, --server host:port, --data-dir DIR).
#
# Without a display ($DISPLAY and $WAYLAND_DISPLAY empty) the app cannot open a window: this
# says so and runs the headless local meeting instead (scripts/local-meeting.sh: conclaved on
# loopback, a signed-in host and two guests as conclave-cli clients with MLS keys and an
# SFrame-encrypted tone through the SFU). `./scripts/run.sh demo` runs the in-process MLS +
# SFrame demo; `./scripts/run.sh headless` forces the headless local meeting.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
conclave_install_system_deps
case "${1:-}" in
demo)
    shift
    exec cargo run --quiet --locked -p conclave-cli -- demo "$@"
    ;;
headless)
    exec ./scripts/local-meeting.sh
    ;;
esac
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "No display (DISPLAY and WAYLAND_DISPLAY are empty), so the desktop app cannot open a window."
    echo "Running the headless local meeting instead (scripts/local-meeting.sh)."
    echo "To see the app without a screen: Xvfb :99 & DISPLAY=:99 ./scripts/run.sh"
    echo
    exec ./scripts/local-meeting.sh
fi
exec cargo run --release --quiet --locked -p conclave-app -- "$@"
