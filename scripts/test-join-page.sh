#!/usr/bin/env bash
# The join page (GET /join/<number>) in a real browser: headless Chromium against a real
# conclaved, in English and Japanese, for a meeting that exists and one that does not.
# Screenshots go to target/join-page/ (look at them); the rendered DOMs of the real and the
# made-up number must be the same page apart from the number, so the page cannot be used to
# find meetings. Installs Debian's chromium (and the CJK fonts) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-deps.sh
# Only what this test needs; scripts/test-all.sh installs the same list up front.
# shellcheck disable=SC2034 # read by conclave_install_system_deps
CONCLAVE_APT_PACKAGES=("${CONCLAVE_BROWSER_APT_PACKAGES[@]}")
conclave_install_system_deps

out="${CONCLAVE_JOIN_PAGE_OUT:-target/join-page}"
mkdir -p "$out"
if [ -z "${CONCLAVED:-}" ]; then
    cargo build --quiet --locked -p conclave-server --bin conclaved
    CONCLAVED="${CARGO_TARGET_DIR:-target}/debug/conclaved"
fi
fail() { echo "test-join-page: $*" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

download="https://intranet.example/conclave?from=join&lang=any"
cat >"$work/conclaved.toml" <<EOF
data_dir = "$work/data"
listen = "127.0.0.1:0"
media_tcp_bind = ""

[client_versions]
download_url = "$download"
EOF
echo "Host-pass-123" | "$CONCLAVED" user add --config "$work/conclaved.toml" hana "Hana" --password-stdin >/dev/null
created="$("$CONCLAVED" meeting create --config "$work/conclaved.toml" --host hana --title "Secret merger talk")"
number="$(sed -n 's/^meeting number: //p' <<<"$created")"
password="$(sed -n 's/^password: //p' <<<"$created")"
if [ -z "$number" ] || [ -z "$password" ]; then fail "no meeting was created: $created"; fi
made_up=12345678901
[ "$made_up" != "$number" ] || made_up=12345678902

# Port 0: the server picks a free port and prints it.
"$CONCLAVED" serve --config "$work/conclaved.toml" >"$work/log" 2>&1 &
pid=$!
address=""
for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; fail "conclaved stopped"; }
    address="$(sed -n 's|^conclaved listening on https://||p' "$work/log")"
    [ -n "$address" ] && break
    sleep 0.05
done
[ -n "$address" ] || fail "conclaved did not say where it listens"

browser() {
    local lang="$1"
    shift
    local profile
    profile="$(mktemp -d -p "$work")"
    # Every background service off: the test must not reach beyond loopback.
    # A hung browser must not hang CI.
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --hide-scrollbars \
        --user-data-dir="$profile" --ignore-certificate-errors \
        --lang="$lang" --accept-lang="$lang" "$@" 2>>"$work/chromium.log"
}

for lang in en ja; do
    for which in real made-up; do
        n="$number"
        [ "$which" = real ] || n="$made_up"
        url="https://$address/join/$n"
        browser "$lang" --window-size=900,720 --screenshot="$out/$lang-$which.png" "$url" >/dev/null
        [ -s "$out/$lang-$which.png" ] || fail "no screenshot for $lang/$which"
        browser "$lang" --dump-dom "$url" >"$work/$lang-$which.html"
        sed "s/$n/NUMBER/g" "$work/$lang-$which.html" >"$out/$lang-$which.dom.html"
    done
    cmp -s "$out/$lang-real.dom.html" "$out/$lang-made-up.dom.html" ||
        { diff "$out/$lang-real.dom.html" "$out/$lang-made-up.dom.html" >&2 || true; fail "$lang: real and made-up numbers give different pages"; }
    dom="$(cat "$work/$lang-real.html")"
    grep -qF "conclave://join/$address/$number" <<<"$dom" || fail "$lang: no app link"
    grep -qF "intranet.example/conclave?from=join&amp;lang=any" <<<"$dom" || fail "$lang: no download line"
    for secret in "$password" "Secret merger talk" "Hana"; do
        grep -qF "$secret" <<<"$dom" && fail "$lang: the page shows $secret"
    done
done
grep -q '<html lang="en">' "$work/en-real.html" || fail "English page not in English"
grep -qF "Open in Conclave" "$work/en-real.html" || fail "English button"
grep -q '<html lang="ja">' "$work/ja-real.html" || fail "Japanese page not in Japanese"
grep -qF "Conclave で開く" "$work/ja-real.html" || fail "Japanese button"

# A malformed number: 404, in the visitor's language.
browser ja --window-size=900,720 --screenshot="$out/ja-malformed.png" "https://$address/join/12ab" >/dev/null
browser ja --dump-dom "https://$address/join/12ab" >"$work/ja-malformed.html"
grep -qF "会議のリンクではありません" "$work/ja-malformed.html" || fail "malformed number page"
echo "test-join-page: ok (screenshots in $out/)"
