#!/usr/bin/env bash
# The Linux packages end to end: builds both .deb files (from the test build unless
# PACKAGE_PROFILE=dist), validates the desktop entry, the AppStream metainfo and the systemd
# unit, runs lintian (no errors allowed), installs both packages with apt-get, checks the
# installed app and server, then removes them and checks nothing is left behind.
# Installing needs root; without it the script validates and builds, then says what it skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PACKAGE_PROFILE:-dev}"
fail() { echo "test-packaging-linux: $*" >&2; exit 1; }

if [ "$profile" = dev ]; then
    # The binaries the test step built (same features; nothing compiles again).
    cargo test --quiet --locked --workspace --tests --no-run
    cargo xtask dist deb --profile dev --no-build 2>&1 |
        grep -v -e "^warning: Only source paths" -e "dev profile is not supported" -e "^ *To enable debug" || true
else
    cargo xtask dist deb --profile "$profile"
fi
app_deb="$(ls target/debian/conclave_*.deb)"
server_deb="$(ls target/debian/conclaved_*.deb)"
if [ ! -f "$app_deb" ] || [ ! -f "$server_deb" ]; then fail "the packages were not built"; fi
ls -l "$app_deb" "$server_deb"

desktop-file-validate packaging/linux/app.conclave.Conclave.desktop
appstreamcli validate --no-net --explain packaging/linux/app.conclave.Conclave.metainfo.xml
lintian_out="$(lintian --tag-display-limit 0 "$app_deb" "$server_deb" 2>&1 | grep -v "root privileges" || true)"
echo "$lintian_out"
if grep -q "^E:" <<<"$lintian_out"; then fail "lintian reports errors"; fi

if [ "$(id -u)" -ne 0 ]; then
    echo "test-packaging-linux: not root: the install/remove test was skipped"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "./$app_deb" "./$server_deb" >/dev/null
command -v conclave >/dev/null || fail "conclave is not on PATH after install"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
conclave --version | grep -q "^conclave $version (" || fail "installed conclave --version: $(conclave --version)"
handler="$(xdg-mime query default x-scheme-handler/conclave)"
[ "$handler" = app.conclave.Conclave.desktop ] || fail "conclave:// opens '$handler'"
[ -f /usr/share/icons/hicolor/256x256/apps/conclave.png ] || fail "the icon is not installed"
systemd-analyze verify /usr/lib/systemd/system/conclaved.service
dpkg-query -W -f='${Conffiles}\n' conclaved | grep -q /etc/conclave/conclaved.toml ||
    fail "conclaved.toml is not a conffile"

# The installed server starts from the packaged configuration (on a spare port and directory).
data="$(mktemp -d)"
conclaved serve --config /etc/conclave/conclaved.toml --data-dir "$data" \
    --listen 127.0.0.1:0 >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "SHA-256" "$data/log" && break; sleep 0.1; done
grep -q "SHA-256" "$data/log" || fail "the installed conclaved did not start: $(cat "$data/log")"
kill "$pid"; wait "$pid" 2>/dev/null || true

apt-get remove -y -q conclave conclaved >/dev/null
if [ -e /usr/bin/conclave ] || [ -e /usr/bin/conclaved ]; then fail "binaries left after remove"; fi
[ ! -e /usr/share/applications/app.conclave.Conclave.desktop ] || fail "desktop file left"
apt-get purge -y -q conclaved >/dev/null
[ ! -e /etc/conclave/conclaved.toml ] || fail "purge left /etc/conclave/conclaved.toml"
echo "test-packaging-linux: ok"
