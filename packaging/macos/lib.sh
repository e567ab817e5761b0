# shellcheck shell=bash
# Shared by build-dmg.sh (on a Mac) and check.sh (on Linux): the version and the bundle
# layout live here once, so the Linux check runs the same code the DMG build runs.

# The directory holding the templates (this file's directory).
CONCLAVE_MACOS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Both slices are built for this; it must equal LSMinimumSystemVersion (check.sh compares).
# 11.0 is the first macOS on Apple silicon and Rust's floor for aarch64-apple-darwin.
# shellcheck disable=SC2034 # read by the scripts that source this file
CONCLAVE_MACOS_MIN="11.0"

# Prints the [workspace.package] version of the Cargo.toml in directory $1.
conclave_workspace_version() {
    local version
    version="$(awk '
        /^\[/ { section = $0 }
        section == "[workspace.package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
    ' "$1/Cargo.toml")"
    if [[ -z "$version" ]]; then
        echo "error: no [workspace.package] version in $1/Cargo.toml" >&2
        return 1
    fi
    printf '%s\n' "$version"
}

# Prints the bundle version for workspace version $1: macOS wants one to three integers, so
# a pre-release or build suffix (0.2.0-beta.1, 0.2.0+abc) is dropped.
conclave_bundle_version() {
    local version="${1%%[-+]*}"
    if [[ ! "$version" =~ ^[0-9]+(\.[0-9]+){0,2}$ ]]; then
        echo "error: version '$1' has no numeric major.minor.patch for CFBundleVersion" >&2
        return 1
    fi
    printf '%s\n' "$version"
}

# Writes Info.plist to $2 with @VERSION@ replaced by bundle version $1.
conclave_fill_info_plist() {
    sed "s/@VERSION@/$1/g" "$CONCLAVE_MACOS_DIR/Info.plist" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then
        echo "error: $2 still holds a placeholder" >&2
        return 1
    fi
}

# Assembles the bundle $1 (…/Conclave.app) from executable $2, icon $3 (conclave.icns) and
# bundle version $4. Replaces any earlier bundle at $1.
conclave_assemble_app() {
    local app="$1" binary="$2" icns="$3" version="$4" lang
    rm -rf "$app"
    mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
    cp "$binary" "$app/Contents/MacOS/conclave"
    chmod 0755 "$app/Contents/MacOS/conclave"
    cp "$icns" "$app/Contents/Resources/conclave.icns"
    for lang in en ja; do
        mkdir -p "$app/Contents/Resources/$lang.lproj"
        cp "$CONCLAVE_MACOS_DIR/$lang.lproj/InfoPlist.strings" "$app/Contents/Resources/$lang.lproj/"
    done
    conclave_fill_info_plist "$version" "$app/Contents/Info.plist"
    # The classic type/creator file; Finder no longer needs it, but Xcode still writes it.
    printf 'APPL????' >"$app/Contents/PkgInfo"
}
