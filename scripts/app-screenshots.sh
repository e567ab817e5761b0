#!/usr/bin/env bash
# Screenshots of the desktop app as a user sees it, in English and Japanese.
#
# Runs conclaved on loopback (TLS, SQLite in a temporary directory), creates a host account and
# a meeting with a lobby, then for each language starts the app under Xvfb and drives it only
# with the keyboard, the way a user without a mouse would:
#   sign in as the host → home (meeting number prefilled by --join) → type the password → Enter
#   → pre-join → Enter → the meeting. A headless guest (conclave-cli, sending the test-pattern
#   video) then knocks, the host's lobby list shows them, Ctrl+Shift+A admits them, both share
#   one verification code, the guest's picture appears in the host's grid, and Ctrl+Shift+V
#   starts the host's video (its self-view in the host's own tile).
#
# Saves, per language, into OUT_DIR (default target/screenshots):
#   LANG-1-home.png     home with the upcoming meeting
#   LANG-2-prejoin.png  pre-join: camera picker and preview, microphone, speaker, name
#   LANG-3-lobby.png    the host's lobby admission (knock banner, lobby list, Admit/Deny)
#   LANG-4-meeting.png  the meeting with the padlock and the verification code
#
# Usage: scripts/app-screenshots.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
CONCLAVE_APT_PACKAGES+=(xvfb x11-utils imagemagick xdotool)
conclave_install_system_deps

out="$(realpath -m "${1:-target/screenshots}")"
mkdir -p "$out"
cargo build --quiet --locked -p conclave-server -p conclave-cli -p conclave-app
bin="$(realpath "${CARGO_TARGET_DIR:-target}/debug")"
work="$(mktemp -d)"
. scripts/lib/app-session.sh
start_server_with_host "${CONCLAVE_PORT:-18543}"
start_xvfb ":${CONCLAVE_XVFB_DISPLAY:-97}"

shoot() {
    import -window root "$out/$1.png"
    echo "  saved $out/$1.png"
}

for lang in en ja; do
    echo "== $lang"
    create_meeting --title "Design review ($lang)" --lobby
    start_app "$lang"
    app_sign_in
    shoot "$lang-1-home"
    on_prejoin() { shoot "$lang-2-prejoin"; }
    app_join "$lang"

    { echo "$password"; sleep 60; } |
        "$bin/conclave-cli" join "${common[@]}" "$number" --name "Kenji" --password-stdin \
            --send-video test-pattern \
            --stay-secs 40 >"$work/guest-$lang.log" 2>&1 &
    guest=$!
    pids+=("$guest")
    wait_for "$work/guest-$lang.log" "waiting for the host" 30
    sleep 2
    shoot "$lang-3-lobby"

    xdotool key ctrl+shift+a
    wait_for "$work/guest-$lang.log" "in the meeting" 30
    xdotool key ctrl+shift+v # the host's video on: the self-view fills the host's tile
    sleep 3
    shoot "$lang-4-meeting"
    code="$(grep -o "verification code [0-9 ]*" "$work/guest-$lang.log" | tail -n 1 || true)"
    echo "  the guest's ${code:-verification code was not printed} (the host's is in $lang-4-meeting.png)"

    kill "$app" "$guest" 2>/dev/null || true
    wait "$app" "$guest" 2>/dev/null || true
done
echo "screenshots in $out"
