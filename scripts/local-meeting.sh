#!/usr/bin/env bash
# A real local meeting on this computer: conclaved on loopback (TLS, SQLite, its own temporary
# data directory), a signed-in host and two guests as conclave-cli clients over WebSocket, with
# MLS group keys. Each client prints its padlock, roster and verification code; the codes match.
# The host sends a test tone over WebRTC through the SFU (SFrame-encrypted); the guests record it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p conclave-server -p conclave-cli
bin="${CARGO_TARGET_DIR:-target}/debug"
port="${CONCLAVE_PORT:-18443}"
server="127.0.0.1:$port"
data="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

"$bin/conclaved" serve --data-dir "$data" --listen "$server" >"$data/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    grep -q "TLS certificate SHA-256" "$data/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$data/server.log"; exit 1; }
    sleep 0.1
done
pin="$(sed -n 's/^TLS certificate SHA-256: //p' "$data/server.log")"
echo "conclaved on https://$server (certificate $pin)"

host_password="local-demo-$RANDOM$RANDOM"
echo "$host_password" | "$bin/conclaved" user add --data-dir "$data" hana "Hana (host)" --password-stdin >/dev/null
common=(--server "$server" --pin "$pin")
host_id=(--user hana --credentials-file "$data/hana.credentials")
echo "$host_password" | "$bin/conclave-cli" signin "${common[@]}" "${host_id[@]}"
meeting="$("$bin/conclave-cli" create-meeting "${common[@]}" "${host_id[@]}" --title "Local meeting" --json)"
number="$(echo "$meeting" | sed -n 's/.*"number":"\([0-9]*\)".*/\1/p')"
password="$(echo "$meeting" | sed -n 's/.*"password":"\([^"]*\)".*/\1/p')"
echo "meeting $number created (its password goes to the guests by another channel)"
echo

label() { sed -u "s/^/[$1] /"; }
client_pids=()
{ sleep 6; echo status; sleep 2; } |
    "$bin/conclave-cli" join "${common[@]}" "${host_id[@]}" "$number" --stay-secs 9 --tone | label host &
client_pids+=($!)
sleep 1
for name in Aiko Ben; do
    { echo "$password"; sleep 5; echo status; sleep 2; } |
        "$bin/conclave-cli" join "${common[@]}" "$number" --name "$name" --password-stdin \
            --stay-secs 7 --record-audio "$data/$name.wav" | label "$name" &
    client_pids+=($!)
    sleep 0.5
done
# Wait for the three clients only (not the server, which runs until we stop it).
failed=0
for pid in "${client_pids[@]}"; do
    wait "$pid" || failed=$((failed + 1))
done
echo
echo "=== Summary ==="
echo "A meeting server (conclaved) ran on https://$server with a throw-away data directory."
echo "Host Hana signed in, created meeting $number and joined; guests Aiko and Ben joined"
echo "with the meeting password. Every participant printed the same verification code for the"
echo "same epoch (compare the [host], [Aiko] and [Ben] lines above): they share one MLS group."
echo "The host sent a test tone, end-to-end encrypted (SFrame) through the server's SFU:"
for name in Aiko Ben; do
    if [ -s "$data/$name.wav" ]; then
        echo "  $name recorded $(wc -c <"$data/$name.wav") bytes of audio"
    else
        echo "  $name recorded no audio"
    fi
done
if [ "$failed" -eq 0 ]; then
    echo "All three clients finished normally. Stopping the server and removing its data."
else
    echo "$failed client(s) exited with an error (see above). Stopping the server."
fi
exit "$failed"
