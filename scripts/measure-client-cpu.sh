#!/usr/bin/env bash
# Client CPU and memory in an audio-only meeting: a real `conclaved` and CLIENTS real
# `conclave-cli join --tone` processes (release build) in one meeting on loopback, each sending
# a tone and receiving everyone else's. After all of them have audio connected and a settling
# pause, each process's utime+stime is read from /proc/PID/stat over SECS seconds, with VmRSS
# and VmHWM from /proc/PID/status at the end.
#
# Usage: scripts/measure-client-cpu.sh [CLIENTS] [SECS] [TALKERS]
#   (defaults: 5 clients, 60 s, every client talking; the others join muted and send only
#   Opus DTX silence, as in a meeting where one person speaks)
# Binaries come from $CONCLAVE_BIN (default: target/release); build them first with
#   cargo build --release -p conclave-cli -p conclave-server
set -euo pipefail

clients=${1:-5}
secs=${2:-60}
talkers=${3:-$clients}
bin=${CONCLAVE_BIN:-target/release}
settle=5
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
for program in conclaved conclave-cli; do
    [[ -x $bin/$program ]] || { echo "missing $bin/$program (build it first)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# An account to host the meeting, which may start before its host arrives: all clients are
# guests, and the server designates one of them to commit the MLS Adds.
echo "load-bot-host-password" |
    "$bin/conclaved" user --data-dir "$work/data" add host "Load Host" --password-stdin >/dev/null
created=$("$bin/conclaved" meeting --data-dir "$work/data" create --host host --join-before-host)
number=$(sed -n 's/^meeting number: //p' <<<"$created")
password=$(sed -n 's/^password: //p' <<<"$created")

"$bin/conclaved" --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do
    grep -q '^TLS certificate SHA-256:' "$work/server.log" && break
    sleep 0.1
done
address=$(sed -n 's|^conclaved listening on https://||p' "$work/server.log")
pin=$(sed -n 's/^TLS certificate SHA-256: //p' "$work/server.log")

client_pids=()
for i in $(seq "$clients"); do
    mute=()
    [[ $i -gt $talkers ]] && mute=(--muted)
    echo "$password" | "$bin/conclave-cli" join --server "$address" --pin "$pin" "$number" \
        --name "Bot $i" --password-stdin --tone "${mute[@]}" --stay-secs $((secs + settle + 30)) \
        >"$work/client$i.log" 2>&1 &
    client_pids+=($!)
    pids+=($!)
done
for _ in $(seq 300); do
    connected=$(cat "$work"/client*.log | grep -c 'audio connected' || true)
    [[ $connected -ge $clients ]] && break
    sleep 0.1
done
if [[ ${connected:-0} -lt $clients ]]; then
    echo "only ${connected:-0} of $clients clients got audio connected" >&2
    tail -n 5 "$work"/client*.log >&2
    exit 1
fi
sleep "$settle"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
declare -A before
for pid in "${client_pids[@]}" "$server_pid"; do before[$pid]=$(cpu_ticks "$pid"); done
sleep "$secs"

printf '%-10s %12s %10s %10s\n' process "CPU % core" "VmRSS MB" "VmHWM MB"
i=0
for pid in "${client_pids[@]}" "$server_pid"; do
    used=$(( $(cpu_ticks "$pid") - before[$pid] ))
    name="client $((++i))"
    [[ $pid == "$server_pid" ]] && name=conclaved
    awk -v used="$used" -v ticks="$ticks" -v secs="$secs" -v name="$name" \
        -v rss="$(status_kb "$pid" VmRSS)" -v hwm="$(status_kb "$pid" VmHWM)" \
        'BEGIN { printf "%-10s %12.2f %10.1f %10.1f\n", name, 100 * used / ticks / secs,
                 rss / 1024, hwm / 1024 }'
done
echo "($clients clients, $talkers talking, $secs s measured after all had audio; CLK_TCK $ticks)"
