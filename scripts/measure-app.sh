#!/usr/bin/env bash
# The desktop app's figures for docs/performance.md, measured under Xvfb on a release build:
#   1. cold start: process start to the first frame the window draws (the app logs
#      "first frame" with the milliseconds since main() began), over RUNS fresh starts, each with
#      an empty data directory (the page cache is warm after the first run);
#   2. a 5-person audio meeting: the app signed in as host plus 4 conclave-cli guests sending
#      tones through the SFU; the app's RSS and CPU share over 10 s once everyone is in;
#   3. a 9-tile video meeting: the same with 8 guests sending the test-pattern video too.
#
# Usage: scripts/measure-app.sh [RUNS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
CONCLAVE_APT_PACKAGES+=(xvfb x11-utils xdotool)
conclave_install_system_deps
runs="${1:-10}"
shots="$(realpath -m target/screenshots)"

# CONCLAVE_NO_BUILD=1 measures the release binaries already built (say which commit they are).
if [ -z "${CONCLAVE_NO_BUILD:-}" ]; then
    cargo build --quiet --locked --release -p conclave-server -p conclave-cli -p conclave-app
fi
bin="$(realpath "${CARGO_TARGET_DIR:-target}/release")"
work="$(mktemp -d)"
. scripts/lib/app-session.sh
start_server_with_host "${CONCLAVE_PORT:-18544}"
start_xvfb ":${CONCLAVE_XVFB_DISPLAY:-96}"
create_meeting --title "Cold start"

echo "== cold start to first frame ($runs runs)"
starts=()
for run in $(seq "$runs"); do
    rm -rf "$work/app-en" "$work/app-en.log"
    start_app en
    millis="$(sed -n 's/.*first frame.*millis="\{0,1\}\([0-9.]*\).*/\1/p' "$work/app-en.log" | head -n 1)"
    starts+=("$millis")
    echo "  run $run: $millis ms"
    kill "$app"
    wait "$app" 2>/dev/null || true
done
printf '%s\n' "${starts[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    printf "  median %.1f ms, min %.1f ms, max %.1f ms\n", v[int((NR + 1) / 2)], v[1], v[NR] }'

# Joins the app (as host) and $1 conclave-cli guests, each with the flags after $1, to a new
# meeting; once everyone is in, prints the app's CPU share and RSS over 10 s.
meeting_figures() {
    local guests="$1"
    shift
    kill "${app:-0}" 2>/dev/null || true
    create_meeting --title "Measured"
    rm -rf "$work/app-en" "$work/app-en.log"
    start_app en
    app_sign_in
    app_join en
    local names=()
    for i in $(seq "$guests"); do
        names+=("guest$i")
        { echo "$password"; sleep 120; } |
            "$bin/conclave-cli" join "${common[@]}" "$number" --name "Guest $i" --password-stdin \
                --stay-secs 90 "$@" >"$work/guest$i.log" 2>&1 &
        pids+=($!)
    done
    for name in "${names[@]}"; do wait_for "$work/$name.log" "in the meeting" 90; done
    sleep 10
    local before after hz rss_kb hwm_kb
    before="$(awk '{ print $14 + $15 }' "/proc/$app/stat")"
    sleep 10
    after="$(awk '{ print $14 + $15 }' "/proc/$app/stat")"
    hz="$(getconf CLK_TCK)"
    rss_kb="$(awk '/^VmRSS/ { print $2 }' "/proc/$app/status")"
    hwm_kb="$(awk '/^VmHWM/ { print $2 }' "/proc/$app/status")"
    awk -v b="$before" -v a="$after" -v hz="$hz" -v rss="$rss_kb" -v hwm="$hwm_kb" 'BEGIN {
        printf "  app CPU %.1f %% of one core over 10 s; RSS %.1f MB (peak %.1f MB)\n",
            (a - b) / hz / 10 * 100, rss / 1024, hwm / 1024 }'
    if command -v import >/dev/null 2>&1; then
        mkdir -p "$shots"
        import -window root "$shots/measure-$guests-guests.png"
    fi
    for i in $(seq "$guests"); do pkill -f "Guest $i" 2>/dev/null || true; done
}

echo "== 5-person audio meeting (4 guests send tones)"
meeting_figures 4 --tone
echo "== 9-tile video meeting (8 guests send the test pattern video and tones)"
meeting_figures 8 --tone --send-video test-pattern
