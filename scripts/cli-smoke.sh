#!/usr/bin/env bash
# The CLI end to end against a real conclaved: sign in, schedule, export the invitation in
# both languages (password left out), the separate password message (password in), a policy
# refusal, update and cancel. Fails on the first wrong answer.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same build as scripts/test-all.sh's test step (nothing to do after it): building the two
# binaries on their own would resolve other features and compile the crates a second time.
cargo test --quiet --locked --workspace --tests --no-run
bin="${CARGO_TARGET_DIR:-target}/debug"
data="$(mktemp -d)"
port="${CONCLAVE_SMOKE_PORT:-19443}"
server="127.0.0.1:$port"
"$bin/conclaved" serve --data-dir "$data" --listen "$server" >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "SHA-256" "$data/log" && break; sleep 0.1; done
pin="$(sed -n 's/^TLS certificate SHA-256: //p' "$data/log")"
fail() { echo "cli-smoke: $*" >&2; exit 1; }

# --version names the workspace version and the commit the binary was built from.
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
for program in conclave-cli conclave; do
    line="$("$bin/$program" --version)"
    [[ "$line" =~ ^$program\ $version\ \((commit\ [0-9a-f]{12}|unknown\ commit)\)$ ]] ||
        fail "$program --version printed: $line"
done

echo "Host-pass-123" | "$bin/conclaved" user add --data-dir "$data" hana "Hana" --password-stdin >/dev/null
c=(--server "$server" --pin "$pin" --user hana --credentials-file "$data/cred")
echo "Host-pass-123" | "$bin/conclave-cli" signin "${c[@]}" >/dev/null
"$bin/conclave-cli" schedule "${c[@]}" --title "定例会議" --start 2026-12-01T10:00 \
    --time-zone Asia/Tokyo --duration 30 --weekly tue,thu --count 10 --lobby >/dev/null
[ "$(stat -c %a "$data/cred")" = 600 ] || fail "credentials file is not 0600"
number="$("$bin/conclave-cli" list "${c[@]}" --json | sed -n 's/.*"number":"\([0-9]*\)".*/\1/p')"
[ -n "$number" ] || fail "list shows no meeting"
message="$("$bin/conclave-cli" password-message "${c[@]}" "$number" --lang ja)"
password="$(echo "$message" | sed -n 's/.*パスワード: \(.*\)$/\1/p')"
[ -n "$password" ] || fail "no password in the password message"
for lang in en ja; do
    for format in ics text html; do
        out="$("$bin/conclave-cli" export-invite "${c[@]}" "$number" --format "$format" --lang "$lang")"
        # Here-strings, not pipes: under pipefail, `grep -q` exiting at the first match can
        # kill the writer with SIGPIPE and turn a match into a failure.
        flat="$(tr -d '\r\n ' <<<"$out")"
        grep -qF "$password" <<<"$flat" && fail "$format/$lang contains the password"
        grep -q "$number" <<<"$out" || fail "$format/$lang lacks the meeting number"
    done
done
ics="$("$bin/conclave-cli" export-invite "${c[@]}" "$number" --format ics)"
grep -q "^DTSTART;TZID=Asia/Tokyo:20261201T100000" <<<"$ics" || fail "ics DTSTART"
if echo "short" | "$bin/conclave-cli" update "${c[@]}" "$number" --password-stdin 2>"$data/err"; then
    fail "a weak password was accepted"
fi
grep -q "at least" "$data/err" || fail "the policy refusal does not say why"
updated="$("$bin/conclave-cli" update "${c[@]}" "$number" --title "Renamed" --lobby false)"
grep -q "sequence 1" <<<"$updated" || fail "update"
"$bin/conclave-cli" cancel "${c[@]}" "$number" --out "$data/cancel.ics" >/dev/null
grep -q "^METHOD:CANCEL" "$data/cancel.ics" || fail "cancellation is not METHOD:CANCEL"
grep -q "^SEQUENCE:2" "$data/cancel.ics" || fail "cancellation SEQUENCE"
echo "cli-smoke: ok"
