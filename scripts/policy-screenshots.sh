#!/usr/bin/env bash
# Screenshots of the app under an organisation policy, in English and Japanese.
#
# Writes a Linux policy directory (docs/it-deployment.md) that locks the server, forbids guests
# and hosting on this computer, and carries two mistakes (an unknown key, a bad number); then,
# per language, starts a debug build of the app under Xvfb with that directory (--policy-dir,
# debug builds only) and a meeting link to another server, which the policy refuses.
#
# Saves into OUT_DIR (default target/screenshots):
#   LANG-policy-signin.png  the refused link's banner, the locked server with "Managed by your
#                           organisation", no guest form, no "This computer"
#   LANG-policy-link.png    after a second launch with a link to the allowed server: the running
#                           window took it (no second window), banner gone, the server kept
#
# Usage: scripts/policy-screenshots.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
CONCLAVE_APT_PACKAGES+=(xvfb x11-utils imagemagick xdotool)
conclave_install_system_deps

out="$(realpath -m "${1:-target/screenshots}")"
mkdir -p "$out"
cargo build --quiet --locked -p conclave-app
bin="$(realpath "${CARGO_TARGET_DIR:-target}/debug")"
work="$(mktemp -d)"
. scripts/lib/app-session.sh
start_xvfb ":${CONCLAVE_XVFB_DISPLAY:-96}"

mkdir -p "$work/policy/managed"
cat >"$work/policy/managed/10-org.json" <<'JSON'
{"ServerUrl": "https://meet.example.com:8443", "LockServer": true, "AllowGuestJoin": false,
 "AllowLocalHosting": false, "AllowLanHosting": false, "Colour": "blue",
 "DefaultAutoLockMinutes": "soon"}
JSON

for lang in en ja; do
    echo "== $lang"
    mkdir -p "$work/app-$lang"
    "$bin/conclave" --lang "$lang" --data-dir "$work/app-$lang" --policy-dir "$work/policy" \
        "conclave://join/other.example.net:443/12345678901" >"$work/app-$lang.log" 2>&1 &
    app=$!
    pids+=("$app")
    xdotool search --sync --onlyvisible --name Conclave >/dev/null
    wait_for "$work/app-$lang.log" "first frame" 30
    sleep 1
    import -window root "$out/$lang-policy-signin.png"
    echo "  saved $out/$lang-policy-signin.png"
    # A second launch with a link hands it to the running window and exits at once.
    "$bin/conclave" --data-dir "$work/app-$lang" --policy-dir "$work/policy" \
        "conclave://join/meet.example.com:8443/12345678901" >"$work/second-$lang.log" 2>&1
    grep -q "already running" "$work/second-$lang.log"
    wait_for "$work/app-$lang.log" "meeting link was handed over" 10
    windows="$(xdotool search --onlyvisible --name Conclave | wc -l)"
    [ "$windows" = 1 ] || { echo "error: $windows Conclave windows" >&2; exit 1; }
    xdotool key Escape
    sleep 1
    import -window root "$out/$lang-policy-link.png"
    echo "  saved $out/$lang-policy-link.png"
    kill "$app" 2>/dev/null || true
    wait "$app" 2>/dev/null || true
done
echo "screenshots in $out"
