#!/usr/bin/env bash
# Builds Conclave's Windows installer (MSI) on Linux with msitools' wixl, and signs the .exe and
# the .msi with osslsigncode when a certificate is given.
#
# Usage: packaging/windows/build-msi.sh <conclave.exe> <version> <out.msi> [conclave.ico]
#   conclave.exe  the app cross-built for x86_64-pc-windows-gnu (see docs/packaging.md, Windows)
#   version       X.Y.Z (the workspace version; MSI versions are numeric: X,Y < 256, Z < 65536)
#   out.msi       where to write the installer
#   conclave.ico  the icon (Start menu, Add/Remove Programs); default target/icons/conclave.ico,
#                 which `cargo xtask icons` writes
#
# Signing (Authenticode), all optional; without a certificate the build says it is unsigned:
#   CONCLAVE_SIGN_PKCS12      a .p12/.pfx with the certificate chain and the key, or
#   CONCLAVE_SIGN_CERT + CONCLAVE_SIGN_KEY   PEM (or DER) certificate chain and private key;
#   CONCLAVE_SIGN_PASS_FILE   a file holding the key's password (never put on a command line), or
#   CONCLAVE_SIGN_PASSWORD    the password itself (written to a private temporary file for
#                             osslsigncode's -readpass, so it is not on a command line either);
#   CONCLAVE_SIGN_TIMESTAMP_URL  an RFC 3161 time-stamping server (signatures outlive the cert).
#
# Needs: wixl and msibuild (Debian: wixl, msitools), osslsigncode when signing.
# Prints the path of the MSI and its size on success.
set -euo pipefail

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

if [ $# -lt 3 ] || [ $# -gt 4 ]; then usage; fi
exe=$1
version=$2
out=$3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ico=${4:-$repo/target/icons/conclave.ico}

[ -f "$exe" ] || { echo "error: no such file: $exe" >&2; exit 1; }
[ -f "$ico" ] || {
  echo "error: no icon at $ico (run \`cargo xtask icons\`, or pass the .ico as the fourth argument)" >&2
  exit 1
}
if ! [[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
  [ "${BASH_REMATCH[1]}" -gt 255 ] || [ "${BASH_REMATCH[2]}" -gt 255 ] || [ "${BASH_REMATCH[3]}" -gt 65535 ]; then
  echo "error: MSI versions are X.Y.Z with X, Y <= 255 and Z <= 65535; got '$version'" >&2
  exit 1
fi
for tool in wixl msibuild; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install wixl msitools)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# wixl resolves sources relative to the working directory (absolute paths are refused), so the
# payload is staged under fixed names.
cp "$exe" "$work/conclave.exe"
cp "$ico" "$work/conclave.ico"

signing=no
if [ -n "${CONCLAVE_SIGN_PKCS12:-}" ] || [ -n "${CONCLAVE_SIGN_CERT:-}" ]; then
  signing=yes
  command -v osslsigncode >/dev/null || { echo "error: osslsigncode is missing" >&2; exit 1; }
  sign_args=()
  if [ -n "${CONCLAVE_SIGN_PKCS12:-}" ]; then
    sign_args+=(-pkcs12 "$CONCLAVE_SIGN_PKCS12")
  else
    [ -n "${CONCLAVE_SIGN_KEY:-}" ] || { echo "error: CONCLAVE_SIGN_CERT needs CONCLAVE_SIGN_KEY" >&2; exit 1; }
    sign_args+=(-certs "$CONCLAVE_SIGN_CERT" -key "$CONCLAVE_SIGN_KEY")
  fi
  if [ -n "${CONCLAVE_SIGN_PASS_FILE:-}" ]; then
    sign_args+=(-readpass "$CONCLAVE_SIGN_PASS_FILE")
  elif [ -n "${CONCLAVE_SIGN_PASSWORD:-}" ]; then
    (umask 077 && printf '%s' "$CONCLAVE_SIGN_PASSWORD" >"$work/pass")
    sign_args+=(-readpass "$work/pass")
  fi
  if [ -n "${CONCLAVE_SIGN_TIMESTAMP_URL:-}" ]; then
    sign_args+=(-ts "$CONCLAVE_SIGN_TIMESTAMP_URL")
  fi
fi

# sign <file> <description>: signs in place (osslsigncode writes a new file).
sign() {
  osslsigncode sign "${sign_args[@]}" -h sha256 -n "$2" -i "https://example.invalid/conclave" \
    -in "$1" -out "$1.signed" >"$work/sign.log" 2>&1 || {
    # The log names files and the certificate, never the password (it is read from a file).
    cat "$work/sign.log" >&2
    echo "error: signing $1 failed" >&2
    exit 1
  }
  mv "$1.signed" "$1"
}

if [ "$signing" = yes ]; then
  sign "$work/conclave.exe" "Conclave"
  echo "signed: conclave.exe"
fi

(
  cd "$work"
  wixl --arch x64 -D Version="$version" -D ExePath=conclave.exe -D IconPath=conclave.ico \
    -o conclave.msi "$here/conclave.wxs"
)

# What wixl cannot express, set in the tables directly:
# - each policy component's condition, so a value is written only when its property is set
#   (booleans only for exactly 0 or 1; a remembered DWORD reads back as #0/#1);
# - SecureCustomProperties, so the properties reach the elevated part of a per-machine install
#   even when a non-administrator starts it (wixl fills in only its own upgrade properties).
bool_condition() { printf "%s = \"%s\" OR %s = \"#%s\"" "$1" "$2" "$1" "$2"; }
conditions=(
  "PolicyServerUrl|SERVER_URL <> \"\""
  "PolicyServerPin|SERVER_PIN <> \"\""
  "PolicyDefaultLanguage|DEFAULT_LANGUAGE <> \"\""
  "PolicyLockServerOn|$(bool_condition LOCK_SERVER 1)"
  "PolicyLockServerOff|$(bool_condition LOCK_SERVER 0)"
  "PolicyAllowGuestJoinOn|$(bool_condition ALLOW_GUEST_JOIN 1)"
  "PolicyAllowGuestJoinOff|$(bool_condition ALLOW_GUEST_JOIN 0)"
  "PolicyAllowLocalHostingOn|$(bool_condition ALLOW_LOCAL_HOSTING 1)"
  "PolicyAllowLocalHostingOff|$(bool_condition ALLOW_LOCAL_HOSTING 0)"
  "PolicyUpdateCheckOn|$(bool_condition UPDATE_CHECK 1)"
  "PolicyUpdateCheckOff|$(bool_condition UPDATE_CHECK 0)"
)
queries=()
for entry in "${conditions[@]}"; do
  queries+=(-q "UPDATE \`Component\` SET \`Condition\` = '${entry#*|}' WHERE \`Component\` = '${entry%%|*}'")
done
secure="SERVER_URL;SERVER_PIN;DEFAULT_LANGUAGE;LOCK_SERVER;ALLOW_GUEST_JOIN;ALLOW_LOCAL_HOSTING;UPDATE_CHECK;WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED"
queries+=(-q "UPDATE \`Property\` SET \`Value\` = '$secure' WHERE \`Property\` = 'SecureCustomProperties'")
msibuild "$work/conclave.msi" "${queries[@]}"

# Every policy component must have come out with its condition: an unconditional one would
# write its value on every install.
for entry in "${conditions[@]}"; do
  name=${entry%%|*}
  msiinfo export "$work/conclave.msi" Component | awk -F'\t' -v c="$name" '$1 == c && $5 != "" { ok = 1 } END { exit !ok }' ||
    { echo "error: component $name has no condition in the built MSI" >&2; exit 1; }
done

if [ "$signing" = yes ]; then
  sign "$work/conclave.msi" "Conclave $version"
  echo "signed: conclave.msi"
else
  echo "note: UNSIGNED build (no CONCLAVE_SIGN_PKCS12 or CONCLAVE_SIGN_CERT given): Windows SmartScreen will warn"
fi

mkdir -p "$(dirname "$out")"
mv "$work/conclave.msi" "$out"
echo "built $out ($(stat -c %s "$out") bytes, version $version)"
