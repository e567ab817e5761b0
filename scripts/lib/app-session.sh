# Shared by scripts/app-screenshots.sh and scripts/measure-app.sh (sourced, not run): a real
# conclaved on loopback with a signed-in host account, Xvfb, and the app signed in as that host
# by keyboard. Expects `bin` (the build's binary dir) and `work` (a temporary dir) to be set.

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Waits up to $3 seconds for a line matching $2 in file $1.
wait_for() {
    local file="$1" pattern="$2" seconds="$3"
    for _ in $(seq $((seconds * 10))); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "error: no \"$pattern\" in $file after $seconds s; its end:" >&2
    tail -n 20 "$file" >&2
    return 1
}

# Starts conclaved on 127.0.0.1:$1 and the host account "hana"; sets server, pin, common,
# host_id and host_password.
start_server_with_host() {
    server="127.0.0.1:$1"
    "$bin/conclaved" serve --data-dir "$work" --listen "$server" >"$work/server.log" 2>&1 &
    pids+=($!)
    wait_for "$work/server.log" "TLS certificate SHA-256" 30
    pin="$(sed -n 's/^TLS certificate SHA-256: //p' "$work/server.log")"
    host_password="local-$RANDOM$RANDOM$RANDOM"
    echo "$host_password" | "$bin/conclaved" user add --data-dir "$work" hana "Hana Sato" \
        --password-stdin >/dev/null
    common=(--server "$server" --pin "$pin")
    host_id=(--user hana --credentials-file "$work/hana.credentials")
    echo "$host_password" | "$bin/conclave-cli" signin "${common[@]}" "${host_id[@]}" >/dev/null
}

# Creates a meeting as the host (extra flags in "$@"); sets number and password.
create_meeting() {
    local meeting
    meeting="$("$bin/conclave-cli" create-meeting "${common[@]}" "${host_id[@]}" --json "$@")"
    number="$(echo "$meeting" | sed -n 's/.*"number":"\([0-9]*\)".*/\1/p')"
    password="$(echo "$meeting" | sed -n 's/.*"password":"\([^"]*\)".*/\1/p')"
}

# Starts Xvfb on display $1 and exports DISPLAY.
start_xvfb() {
    Xvfb "$1" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do xdpyinfo -display "$1" >/dev/null 2>&1 && break; sleep 0.1; done
    export DISPLAY="$1"
}

# Starts the app in language $1 with --join $number, logging to $work/app-$1.log; sets app.
start_app() {
    local data="$work/app-$1"
    mkdir -p "$data"
    "$bin/conclave" --lang "$1" --server "$server" --pin "$pin" --data-dir "$data" \
        --join "$number" >"$work/app-$1.log" 2>&1 &
    app=$!
    pids+=("$app")
    local window
    window="$(xdotool search --sync --onlyvisible --name Conclave | head -n 1)"
    wait_for "$work/app-$1.log" "first frame" 30
    sleep 1
    # No window manager under Xvfb: give the window the X input focus by hand, as a window
    # manager would (a click would also take the keyboard out of the app's first field).
    xdotool mousemove --window "$window" 1010 710
    xdotool windowfocus --sync "$window"
}

# Keyboard only: sign in as the host (the sign-in form opens in the user name field).
app_sign_in() {
    # User name, Tab, password in one go, as an auto-typing password manager would (`focus.rs`
    # moves the focus within the batch of keys). Enter separately: xdotool types "\n" as a
    # character, not as the Return key.
    xdotool type --delay 20 "hana"$'\t'"$host_password"
    xdotool key Return
    sleep 3
}

# Keyboard only: home opened with --join's number and the keyboard in the password field;
# Enter goes to pre-join, Enter there joins. Waits until the app is in the meeting.
# Types the password, then Enter on pre-join (after calling `on_prejoin` if it is defined).
app_join() {
    xdotool type --delay 20 "$password"
    xdotool key Return
    sleep 2
    if declare -F on_prejoin >/dev/null; then on_prejoin; fi
    xdotool key Return
    wait_for "$work/app-$1.log" "InMeeting" 30
}
