#!/usr/bin/env bash
# Tests Conclave's MSI under Wine: builds it (packaging/windows/build-msi.sh) from a cross-built
# conclave.exe, installs it silently with policy properties, checks the files, the registry
# values, the Start-menu shortcut, the URL protocol and `conclave.exe --version`, upgrades it with
# a newer version (one product left, policy kept, a new value on the command line wins), refuses a
# downgrade, uninstalls it (files, values and the Add/Remove Programs entry gone), signs both files
# with a throwaway self-signed certificate and verifies them, and prints the MSI's tables.
#
# Usage: packaging/windows/test-msi.sh <conclave.exe> [conclave.ico]
#   The version is the workspace version (Cargo.toml); the upgrade is built as X.Y.(Z+1).
#   The icon defaults to target/icons/conclave.ico (`cargo xtask icons`).
#   CONCLAVE_TEST_MSI_KEEP=DIR keeps the built MSIs in DIR.
# Needs: wine (64-bit), wixl, msitools, osslsigncode, openssl. Uses its own Wine prefix in a
# temporary directory; nothing outside it is touched.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
exe=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ico=$(realpath "${2:-$repo/target/icons/conclave.ico}")

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml")
IFS=. read -r major minor patch <<<"$version"
newer="$major.$minor.$((patch + 1))"

work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64
cleanup() {
  # Waits for this prefix's Wine processes (it is ours alone), then removes everything.
  wineserver -k 2>/dev/null || true
  wineserver -w 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fails=0
pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}
check() { # check <description> <command...>
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

echo "== build the MSIs ($version and $newer)"
"$here/build-msi.sh" "$exe" "$version" "$work/conclave.msi" "$ico"
"$here/build-msi.sh" "$exe" "$newer" "$work/conclave-newer.msi" "$ico"
if [ -n "${CONCLAVE_TEST_MSI_KEEP:-}" ]; then
  mkdir -p "$CONCLAVE_TEST_MSI_KEEP"
  cp "$work/conclave.msi" "$work/conclave-newer.msi" "$CONCLAVE_TEST_MSI_KEEP/"
fi

echo "== Wine prefix"
wineboot -i >"$work/wineboot.log" 2>&1
wineserver -w
# Debian 12's Wine 8 has no bcryptprimitives.dll, where Rust's standard library gets random
# bytes (Windows 8 and later have it): a test-only stand-in goes into this throwaway prefix.
x86_64-w64-mingw32-gcc -O2 -shared -s -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  "$here/wine/bcryptprimitives.c" "$here/wine/bcryptprimitives.def" -ladvapi32

msiexec() { # msiexec <args...>: runs Windows Installer in the prefix and waits for it.
  local rc=0
  wine msiexec "$@" >>"$work/msiexec.log" 2>&1 || rc=$?
  wineserver -w
  return "$rc"
}
# `wine reg query` output with CRs removed; empty (and status 1) when the key is missing.
regq() { wine reg query "$@" 2>/dev/null | tr -d '\r'; }
reg_value() { # reg_value <key> <name>: the value's data, or nothing
  regq "$1" /v "$2" | awk -v n="$2" '$1 == n { $1 = ""; $2 = ""; sub(/^  */, ""); print }'
}
uninstall_key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall'
products() { # how many Add/Remove Programs entries are called Conclave
  regq "$uninstall_key" /s | grep -c '^ *DisplayName *REG_SZ *Conclave$' || true
}
program_files="$WINEPREFIX/drive_c/Program Files/Conclave"
policy='HKLM\SOFTWARE\Policies\Conclave'

echo "== install $version silently with policy"
check "msiexec /i exits 0" msiexec /i "$work/conclave.msi" /qn \
  SERVER_URL=https://meet.example.test:8443 SERVER_PIN=AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01 LOCK_SERVER=1 \
  ALLOW_GUEST_JOIN=0 ALLOW_LOCAL_HOSTING=1 UPDATE_CHECK=0 DEFAULT_LANGUAGE=ja /l*v 'C:\install.log'
check "conclave.exe under Program Files" test -f "$program_files/conclave.exe"
check "the installed exe is the built one" cmp -s "$exe" "$program_files/conclave.exe"
check "ServerUrl = https://meet.example.test:8443" test "$(reg_value "$policy" ServerUrl)" = https://meet.example.test:8443
check "ServerPin = AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01" test "$(reg_value "$policy" ServerPin)" = AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01:AB:CD:EF:01
check "LockServer = 1 (DWORD)" test "$(reg_value "$policy" LockServer)" = 0x1
check "AllowGuestJoin = 0 (DWORD)" test "$(reg_value "$policy" AllowGuestJoin)" = 0x0
check "AllowLocalHosting = 1 (DWORD)" test "$(reg_value "$policy" AllowLocalHosting)" = 0x1
check "UpdateCheck = 0 (DWORD)" test "$(reg_value "$policy" UpdateCheck)" = 0x0
check "DefaultLanguage = ja" test "$(reg_value "$policy" DefaultLanguage)" = ja
check "LockServer is a REG_DWORD" bash -c "wine reg query '$policy' /v LockServer 2>/dev/null | grep -q REG_DWORD"
check "conclave:// URL protocol" test "$(reg_value 'HKLM\Software\Classes\conclave' 'URL Protocol'; echo set)" = set
check "conclave:// opens the installed exe" test \
  "$(regq 'HKLM\Software\Classes\conclave\shell\open\command' /ve | sed -n 's/^ *(Default) *REG_SZ *//p')" \
  = '"C:\Program Files\Conclave\conclave.exe" "%1"'
# Windows puts an ALLUSERS=1 shortcut in ProgramData's Start menu; Wine 8 resolves
# ProgramMenuFolder to the user's, so either place counts here.
shortcut=$(find "$WINEPREFIX/drive_c" -path '*Start Menu/Programs/Conclave.lnk' | head -n 1)
check "Start-menu shortcut (${shortcut#"$WINEPREFIX/drive_c/"})" test -n "$shortcut"
check "one Add/Remove Programs entry" test "$(products)" = 1
arp=$(regq "$uninstall_key" /s)
check "Add/Remove Programs: publisher Conclave" grep -q '^ *Publisher *REG_SZ *Conclave$' <<<"$arp"
check "Add/Remove Programs: version $version" grep -q "^ *DisplayVersion *REG_SZ *$version\$" <<<"$arp"
# ARPPRODUCTICON: Windows Installer keeps the icon under C:\Windows\Installer\{ProductCode}
# and names it in the product's ProductIcon, which Add/Remove Programs shows.
product_icon=$(regq 'HKLM\Software\Classes\Installer\Products' /s | sed -n 's/^ *ProductIcon *REG_SZ *//p' | head -n 1)
check "Add/Remove Programs: icon ($product_icon)" grep -q 'ConclaveIcon.ico$' <<<"$product_icon"
check "Add/Remove Programs: icon file cached" test -f "$(wine winepath -u "$product_icon" 2>/dev/null | tr -d '\r')"

echo "== the installed conclave.exe --version"
out=$(wine "C:\\Program Files\\Conclave\\conclave.exe" --version 2>"$work/version.err" | tr -d '\r') || true
wineserver -w
echo "$out"
check "conclave.exe --version names $version" grep -q "$version" <<<"$out"

echo "== the installed conclave.exe --print-policy reads what the MSI wrote (the real registry)"
out=$(wine "C:\\Program Files\\Conclave\\conclave.exe" --print-policy 2>"$work/policy.err" | tr -d '\r') || true
wineserver -w
echo "$out"
enforced='enforced (HKLM\SOFTWARE\Policies\Conclave)'
check "ServerUrl enforced from HKLM" grep -qF "meet.example.test:8443" <<<"$(grep '^ServerUrl ' <<<"$out" | grep -F "$enforced")"
check "LockServer true, enforced" grep -qE '^LockServer +true ' <<<"$(grep -F "$enforced" <<<"$out")"
check "AllowGuestJoin false, enforced" grep -qE '^AllowGuestJoin +false ' <<<"$(grep -F "$enforced" <<<"$out")"
check "UpdateCheck false, enforced" grep -qE '^UpdateCheck +false ' <<<"$(grep -F "$enforced" <<<"$out")"
check "DefaultLanguage ja, enforced" grep -qE '^DefaultLanguage +ja ' <<<"$(grep -F "$enforced" <<<"$out")"
check "no policy problems" grep -q "No problems found" <<<"$out"

echo "== the installed app opens its window (Wine on Xvfb, software rendering)"
if command -v Xvfb >/dev/null && command -v xwininfo >/dev/null; then
  # Windows always has Arial and Segoe UI in C:\Windows\Fonts, where the app's font library
  # looks; a fresh Wine prefix has none there (Wine's own fonts live elsewhere), and the app
  # would draw its controls without a word. Liberation Sans (metric-compatible with Arial) and,
  # when installed, Noto Sans CJK stand in.
  for font in /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf \
    /usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf \
    /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc; do
    if [ -f "$font" ]; then cp "$font" "$WINEPREFIX/drive_c/windows/Fonts/"; fi
  done
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
  xvfb_pid=$!
  for _ in $(seq 50); do [ -s "$work/display" ] && break; sleep 0.1; done
  display=":$(cat "$work/display")"
  DISPLAY=$display wine "C:\\Program Files\\Conclave\\conclave.exe" --data-dir 'C:\conclave-test' \
    >"$work/app.log" 2>&1 &
  app_pid=$!
  window=""
  for _ in $(seq 120); do
    window=$(DISPLAY=$display xwininfo -root -tree 2>/dev/null | grep -m 1 '"Conclave"' || true)
    [ -n "$window" ] && break
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.5
  done
  check "a window called Conclave opens" test -n "$window"
  sleep 3 # the first frames
  check "the app is still running" kill -0 "$app_pid"
  if command -v import >/dev/null; then
    shot="${CONCLAVE_TEST_MSI_KEEP:-$work}/conclave-wine.png"
    import -display "$display" -window root "$shot"
    echo "screenshot: $shot"
    # Anti-aliased text brings hundreds of colours; the same screen without a font had ~100
    # (white, the accent blue and the edges of the controls).
    colours=$(convert "$shot" -format %k info:)
    check "the window shows text ($colours colours on screen)" test "$colours" -gt 250
  fi
  # Ends the app (its Wine processes belong to this prefix alone) and the X server we started.
  wineserver -k || true
  wait "$app_pid" 2>/dev/null || true
  kill "$xvfb_pid" 2>/dev/null || true
  wait "$xvfb_pid" 2>/dev/null || true
  if [ -z "$window" ]; then sed -n '1,60p' "$work/app.log" >&2; fi
else
  echo "skipped: Xvfb and xwininfo (x11-utils) are needed"
fi

echo "== upgrade to $newer (SERVER_URL given again, the rest remembered)"
check "msiexec /i newer exits 0" msiexec /i "$work/conclave-newer.msi" /qn SERVER_URL=https://other.example.test
check "one product after the upgrade" test "$(products)" = 1
check "Add/Remove Programs: version $newer" grep -q "^ *DisplayVersion *REG_SZ *$newer\$" <<<"$(regq "$uninstall_key" /s)"
check "exe still installed" test -f "$program_files/conclave.exe"
check "ServerUrl from the command line wins" test "$(reg_value "$policy" ServerUrl)" = https://other.example.test
check "LockServer kept (1)" test "$(reg_value "$policy" LockServer)" = 0x1
check "AllowGuestJoin kept (0)" test "$(reg_value "$policy" AllowGuestJoin)" = 0x0
check "DefaultLanguage kept (ja)" test "$(reg_value "$policy" DefaultLanguage)" = ja

echo "== downgrade to $version is refused"
if msiexec /i "$work/conclave.msi" /qn; then fail "downgrade refused"; else pass "downgrade refused"; fi
check "still $newer after the refused downgrade" grep -q "^ *DisplayVersion *REG_SZ *$newer\$" <<<"$(regq "$uninstall_key" /s)"

echo "== uninstall"
check "msiexec /x exits 0" msiexec /x "$work/conclave-newer.msi" /qn
check "conclave.exe removed" test ! -e "$program_files/conclave.exe"
check "no Add/Remove Programs entry" test "$(products)" = 0
values() { regq "$1" /s | grep -c 'REG_' || true; } # how many values under a key
check "policy values removed" test "$(values "$policy")" = 0
check "URL protocol values removed" test "$(values 'HKLM\Software\Classes\conclave')" = 0
check "Start-menu shortcut removed" test -z "$(find "$WINEPREFIX/drive_c" -path '*Start Menu/Programs/Conclave.lnk')"

echo "== install without properties writes no policy"
check "msiexec /i (no properties) exits 0" msiexec /i "$work/conclave.msi" /qn
check "no policy values" test "$(values "$policy")" = 0
check "msiexec /x exits 0" msiexec /x "$work/conclave.msi" /qn

echo "== Authenticode with a throwaway self-signed certificate"
(umask 077 && openssl rand -hex 16 >"$work/pass")
openssl req -x509 -newkey rsa:3072 -sha256 -days 2 -subj "/CN=Conclave test signer (throwaway)" \
  -addext extendedKeyUsage=codeSigning -keyout "$work/key.pem" -out "$work/cert.pem" \
  -passout "file:$work/pass" 2>/dev/null
CONCLAVE_SIGN_CERT="$work/cert.pem" CONCLAVE_SIGN_KEY="$work/key.pem" CONCLAVE_SIGN_PASS_FILE="$work/pass" \
  "$here/build-msi.sh" "$exe" "$version" "$work/signed.msi" "$ico"
mkdir -p "$work/extracted"
msiextract -C "$work/extracted" "$work/signed.msi" >/dev/null
signed_exe=$(find "$work/extracted" -name conclave.exe | head -n 1)
quiet() { "$@" >"$work/quiet.log" 2>&1 || { cat "$work/quiet.log" >&2; return 1; }; }
check "osslsigncode verify conclave.exe" quiet osslsigncode verify -in "$signed_exe" -CAfile "$work/cert.pem"
check "osslsigncode verify conclave.msi" quiet osslsigncode verify -in "$work/signed.msi" -CAfile "$work/cert.pem"
check "the unsigned MSI has no signature" bash -c "! osslsigncode verify -in '$work/conclave.msi' >/dev/null 2>&1"

echo "== msiinfo tables"
msiinfo tables "$work/conclave.msi" | sort | tr '\n' ' '
echo
for table in Property Directory Component Feature File Shortcut Registry RegLocator AppSearch \
  CustomAction Upgrade LaunchCondition InstallExecuteSequence; do
  echo "-- $table"
  msiinfo export "$work/conclave.msi" "$table"
done

if [ "$fails" -ne 0 ]; then
  echo "MSI test: $fails check(s) failed (msiexec output: $work/msiexec.log is removed on exit)" >&2
  sed -n '1,200p' "$work/msiexec.log" >&2 || true
  exit 1
fi
echo "MSI test: all checks passed."
