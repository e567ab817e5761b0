#!/usr/bin/env bash
# A sign-in survives a restart when the desktop has a Secret Service: runs the app's
# `secret_service_restart` test inside a private D-Bus session with Debian's GNOME Keyring
# (unlocked with a throwaway password, in a temporary home), and checks with `secret-tool`
# that the item is in that keyring while signed in is over. Uses the test step's build.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in dbus-run-session gnome-keyring-daemon secret-tool; do
    command -v "$tool" >/dev/null || { echo "test-secret-service: $tool is missing" >&2; exit 1; }
done
# The toolchain stays where it is when HOME moves to the temporary one.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
mkdir -p -m 0700 "$home/run"
# shellcheck disable=SC2016 # expanded by the inner shell, inside the D-Bus session
HOME="$home" XDG_DATA_HOME="$home/.local/share" XDG_RUNTIME_DIR="$home/run" \
CONCLAVE_TEST_SECRET_SERVICE=1 dbus-run-session -- bash -euo pipefail -c '
    # A fresh login keyring, unlocked; its daemon lives as long as this D-Bus session.
    eval "$(printf "throwaway-keyring-password" | gnome-keyring-daemon --unlock --components=secrets)"
    cargo test --quiet --locked -p conclave-app --test secret_service_restart -- --nocapture
    # Signed out at the end of the test: the keyring holds no sign-in any more.
    if secret-tool search --all service conclave-app 2>/dev/null | grep -q signed-in-identity; then
        echo "test-secret-service: the sign-in is still in the keyring after sign-out" >&2
        exit 1
    fi
'
echo "test-secret-service: ok"
