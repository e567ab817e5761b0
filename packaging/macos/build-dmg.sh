#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds Conclave-<version>-universal.dmg ON A MAC: `conclave` for arm64 and x86_64 joined by
# lipo, Conclave.app signed inside-out with the hardened runtime, a compressed DMG with an
# /Applications link, signed, notarized and stapled. See docs/packaging.md, "macOS".
#
# Usage: packaging/macos/build-dmg.sh [--out DIR]      (default DIR: target/macos)
#
# Environment (all optional):
#   MACOS_SIGN_IDENTITY   codesign identity, e.g. "Developer ID Application: Example (TEAMID)";
#                         unset or empty: an UNSIGNED (ad-hoc) build that Gatekeeper blocks
#   MACOS_NOTARY_PROFILE  name of a notarytool keychain profile (`xcrun notarytool
#                         store-credentials`); the credentials stay in the keychain.
#                         Unset: signed but not notarized
#   MACOS_KEYCHAIN        keychain holding the identity and the profile (CI's temporary one)
#   CARGO_PROFILE         cargo profile; default `dist` when Cargo.toml defines it, else `release`
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=lib.sh
. "$root/packaging/macos/lib.sh"

out="$root/target/macos"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        -h | --help) sed -n '3,16p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ "$(uname -s)" != Darwin ]]; then
    echo "error: build-dmg.sh needs macOS (lipo, codesign, hdiutil, notarytool)." >&2
    echo "On Linux, packaging/macos/check.sh runs the checks that are possible here." >&2
    exit 1
fi

identity="${MACOS_SIGN_IDENTITY:-}"
notary_profile="${MACOS_NOTARY_PROFILE:-}"
# Written as ${a[@]+"${a[@]}"} below: macOS's bash 3.2 calls an empty array unbound under -u.
keychain_args=()
if [[ -n "${MACOS_KEYCHAIN:-}" ]]; then
    keychain_args=(--keychain "$MACOS_KEYCHAIN")
fi
entitlements="$CONCLAVE_MACOS_DIR/conclave.entitlements"

version="$(conclave_workspace_version "$root")"
bundle_version="$(conclave_bundle_version "$version")"
if [[ -n "${CARGO_PROFILE:-}" ]]; then
    profile="$CARGO_PROFILE"
elif grep -q '^\[profile\.dist\]' "$root/Cargo.toml"; then
    profile=dist
else
    profile=release
fi
case "$profile" in
    dev) profile_dir=debug ;;
    *) profile_dir="$profile" ;;
esac
echo "== Conclave $version (bundle version $bundle_version), cargo profile $profile"

mkdir -p "$out"
out="$(cd "$out" && pwd)" # later steps run cargo from the repository root
work="$out/work"
rm -rf "$work"
mkdir -p "$work"

# Every C dependency and Rust's own objects target the same floor as LSMinimumSystemVersion.
export MACOSX_DEPLOYMENT_TARGET="$CONCLAVE_MACOS_MIN"
targets=(aarch64-apple-darwin x86_64-apple-darwin)
if command -v rustup >/dev/null; then
    rustup target add "${targets[@]}"
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
slices=()
for target in "${targets[@]}"; do
    echo "== cargo build $target"
    (cd "$root" && cargo build --locked --profile "$profile" -p conclave-app --target "$target")
    slices+=("$target_dir/$target/$profile_dir/conclave")
done

echo "== lipo"
lipo -create -output "$work/conclave" "${slices[@]}"
archs="$(lipo -archs "$work/conclave")"
echo "universal binary: $archs"
[[ "$archs" == *arm64* && "$archs" == *x86_64* ]] || {
    echo "error: the universal binary lacks a slice: $archs" >&2
    exit 1
}

echo "== icons"
(cd "$root" && cargo xtask icons "$work/icons")

echo "== Conclave.app"
stage="$work/dmg"
app="$stage/Conclave.app"
mkdir -p "$stage"
conclave_assemble_app "$app" "$work/conclave" "$work/icons/conclave.icns" "$bundle_version"
plutil -lint "$app/Contents/Info.plist" "$app/Contents/Resources/"*.lproj/InfoPlist.strings \
    "$entitlements"
# Binary .strings in the bundle, as Xcode writes them; the sources stay UTF-8 text.
for strings in "$app/Contents/Resources/"*.lproj/InfoPlist.strings; do
    plutil -convert binary1 "$strings"
done
"$app/Contents/MacOS/conclave" --version

# Inside-out: every Mach-O first, then the bundle (which seals Info.plist and Resources).
# The hardened runtime and the entitlements go on the executable the bundle launches.
if [[ -n "$identity" ]]; then
    sign=(codesign --force --options runtime --timestamp ${keychain_args[@]+"${keychain_args[@]}"} --sign "$identity")
    echo "== codesign with: $identity"
else
    # Ad-hoc: arm64 refuses to run a binary with no signature at all, and the seal keeps the
    # bundle consistent; it proves nothing about who built it.
    sign=(codesign --force --options runtime --sign -)
    echo "== codesign ad-hoc (no MACOS_SIGN_IDENTITY)"
fi
"${sign[@]}" --entitlements "$entitlements" "$app/Contents/MacOS/conclave"
"${sign[@]}" --entitlements "$entitlements" "$app"

echo "== verify the signature"
codesign --verify --deep --strict --verbose=2 "$app"
codesign --display --entitlements - --xml "$app" >"$work/entitlements-signed.plist"
plutil -p "$work/entitlements-signed.plist"

echo "== DMG"
ln -s /Applications "$stage/Applications"
dmg="$out/Conclave-$version-universal.dmg"
rm -f "$dmg"
hdiutil create -volname "Conclave $version" -srcfolder "$stage" -fs HFS+ \
    -format UDZO -imagekey zlib-level=9 -ov "$dmg"

notarized=no
if [[ -n "$identity" ]]; then
    codesign --force --timestamp ${keychain_args[@]+"${keychain_args[@]}"} --sign "$identity" "$dmg"
    codesign --verify --strict --verbose=2 "$dmg"
    if [[ -n "$notary_profile" ]]; then
        echo "== notarize (profile $notary_profile)"
        # The profile names credentials kept in the keychain: nothing secret on this line.
        xcrun notarytool submit "$dmg" --keychain-profile "$notary_profile" \
            ${keychain_args[@]+"${keychain_args[@]}"} --wait --output-format plist >"$work/notary.plist"
        status="$(plutil -extract status raw -o - "$work/notary.plist")"
        if [[ "$status" != Accepted ]]; then
            submission="$(plutil -extract id raw -o - "$work/notary.plist")"
            echo "error: notarization $status; the service's log follows" >&2
            xcrun notarytool log "$submission" --keychain-profile "$notary_profile" \
                ${keychain_args[@]+"${keychain_args[@]}"} >&2 || true
            exit 1
        fi
        xcrun stapler staple "$dmg"
        xcrun stapler validate "$dmg"
        notarized=yes
    fi
fi

echo "== Gatekeeper"
if [[ "$notarized" == yes ]]; then
    # Rejections before notarization are expected on macOS 10.15 and later, so only here
    # are they errors.
    spctl --assess --type exec -vv "$app"
    spctl --assess --type open --context context:primary-signature -vv "$dmg"
else
    spctl --assess --type exec -vv "$app" || true
fi

bytes="$(wc -c <"$dmg" | tr -d ' ')"
awk -v d="$dmg" -v b="$bytes" 'BEGIN { printf "== %s: %d bytes (%.1f MiB)\n", d, b, b / 1048576 }'
if [[ -z "$identity" ]]; then
    echo "WARNING: UNSIGNED build (ad-hoc signature only). Gatekeeper blocks it on any Mac that"
    echo "downloads it; set MACOS_SIGN_IDENTITY and MACOS_NOTARY_PROFILE for a release."
elif [[ "$notarized" != yes ]]; then
    echo "WARNING: signed but NOT notarized (no MACOS_NOTARY_PROFILE): Gatekeeper blocks it"
    echo "on macOS 10.15 and later."
fi
