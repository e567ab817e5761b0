#!/usr/bin/env python3
"""Checks of the macOS bundle that need no Mac (standard library only).

Run: python3 -m unittest packaging/macos/test_macos_bundle.py -v   (from the repository root)
Set CONCLAVE_ICNS to a conclave.icns (from `cargo xtask icons`) to check the icon as well;
check.sh does. The bundle is assembled by lib.sh, the same code build-dmg.sh runs on a Mac.
"""

import os
import plistlib
import shutil
import re
import struct
import subprocess
import tempfile
import tomllib
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUNDLE_ID = "app.conclave.Conclave"
ENTITLEMENTS = {
    "com.apple.security.device.audio-input",
    "com.apple.security.device.camera",
    "com.apple.security.network.client",
    "com.apple.security.network.server",
}
# Keys both InfoPlist.strings must translate.
LOCALIZED = {"CFBundleDisplayName", "NSMicrophoneUsageDescription", "NSCameraUsageDescription"}
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def lib(script: str, *args: str) -> str:
    """Runs bash with lib.sh sourced and returns stdout; raises on failure."""
    done = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "$0"; {script}', str(HERE / "lib.sh"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return done.stdout.strip()


def parse_strings(text: str) -> dict[str, str]:
    """Parses an old-style .strings file: `"key" = "value";` entries and /* */ or // comments."""
    token = re.compile(
        r'\s*(?:/\*.*?\*/|//[^\n]*|"((?:[^"\\]|\\.)*)"\s*=\s*"((?:[^"\\]|\\.)*)"\s*;)', re.S
    )
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    entries: dict[str, str] = {}
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = token.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot parse .strings at offset {pos}: {text[pos:pos + 40]!r}")
        pos = match.end()
        if match.group(1) is None:
            continue
        key, value = (
            re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), g)
            for g in match.group(1, 2)
        )
        if key in entries:
            raise ValueError(f"duplicate key {key}")
        entries[key] = value
    return entries


def icns_types(data: bytes) -> list[str]:
    """The element types of an .icns file, after checking its framing."""
    magic, total = struct.unpack(">4sI", data[:8])
    if magic != b"icns" or total != len(data):
        raise ValueError("not an .icns file or wrong length")
    types, pos = [], 8
    while pos < total:
        kind, size = struct.unpack(">4sI", data[pos : pos + 8])
        if size < 8:
            raise ValueError("bad element")
        types.append(kind.decode("ascii"))
        pos += size
    if pos != total:
        raise ValueError("elements overrun the file")
    return types


class Versions(unittest.TestCase):
    def test_workspace_version_is_cargo_tomls(self):
        with open(ROOT / "Cargo.toml", "rb") as f:
            expected = tomllib.load(f)["workspace"]["package"]["version"]
        self.assertEqual(lib('conclave_workspace_version "$1"', str(ROOT)), expected)

    def test_bundle_version_keeps_only_numbers(self):
        self.assertEqual(lib('conclave_bundle_version "$1"', "0.1.0"), "0.1.0")
        self.assertEqual(lib('conclave_bundle_version "$1"', "0.2.0-beta.1"), "0.2.0")
        self.assertEqual(lib('conclave_bundle_version "$1"', "1.4.2+g0123abc"), "1.4.2")
        for bad in ("", "v1.0", "1.2.3.4", "abc"):
            with self.assertRaises(RuntimeError, msg=bad):
                lib('conclave_bundle_version "$1"', bad)


class InfoPlist(unittest.TestCase):
    def setUp(self):
        self.version = lib('conclave_bundle_version "$(conclave_workspace_version "$1")"', str(ROOT))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "Info.plist"
            lib('conclave_fill_info_plist "$1" "$2"', self.version, str(out))
            self.raw = out.read_bytes()
        self.plist = plistlib.loads(self.raw)

    def test_every_key_is_there_with_its_value(self):
        p = self.plist
        self.assertEqual(p["CFBundleIdentifier"], BUNDLE_ID)
        self.assertEqual(p["CFBundleName"], "Conclave")
        self.assertEqual(p["CFBundleDisplayName"], "Conclave")
        self.assertEqual(p["CFBundleExecutable"], "conclave")
        self.assertEqual(p["CFBundleIconFile"], "conclave")
        self.assertEqual(p["CFBundlePackageType"], "APPL")
        self.assertEqual(p["CFBundleInfoDictionaryVersion"], "6.0")
        self.assertEqual(p["CFBundleShortVersionString"], self.version)
        self.assertEqual(p["CFBundleVersion"], self.version)
        self.assertEqual(p["CFBundleDevelopmentRegion"], "en")
        self.assertEqual(p["CFBundleLocalizations"], ["en", "ja"])
        self.assertIn(
            p["LSApplicationCategoryType"],
            ("public.app-category.business", "public.app-category.social-networking"),
        )
        self.assertIs(p["NSHighResolutionCapable"], True)
        for key in ("NSMicrophoneUsageDescription", "NSCameraUsageDescription"):
            self.assertGreater(len(p[key]), 20, key)

    def test_minimum_macos_is_what_the_build_targets(self):
        self.assertEqual(self.plist["LSMinimumSystemVersion"], lib('echo "$CONCLAVE_MACOS_MIN"'))

    def test_the_url_scheme_is_registered(self):
        (url_type,) = self.plist["CFBundleURLTypes"]
        self.assertEqual(url_type["CFBundleURLSchemes"], ["conclave"])
        self.assertEqual(url_type["CFBundleURLName"], BUNDLE_ID)
        self.assertEqual(url_type["CFBundleTypeRole"], "Viewer")

    def test_no_placeholder_is_left(self):
        self.assertNotRegex(self.raw.decode("utf-8"), r"@[A-Z_]*@")

    def test_the_template_names_the_managed_preferences_domain(self):
        template = (HERE / "Info.plist").read_text(encoding="utf-8")
        self.assertIn("/Library/Managed Preferences/", template)
        self.assertIn(BUNDLE_ID, template)


class Entitlements(unittest.TestCase):
    def test_valid_xml_with_exactly_the_four_entitlements_all_true(self):
        path = HERE / "conclave.entitlements"
        ET.parse(path)  # raises on malformed XML
        raw = path.read_bytes()
        self.assertNotIn(b"<!--", raw, "the entitlements stay comment-free; docs explain them")
        entitlements = plistlib.loads(raw)
        self.assertEqual(set(entitlements), ENTITLEMENTS)
        for key, value in entitlements.items():
            self.assertIs(value, True, key)


class Strings(unittest.TestCase):
    def load(self, lang: str) -> dict[str, str]:
        raw = (HERE / f"{lang}.lproj" / "InfoPlist.strings").read_bytes()
        self.assertFalse(raw.startswith(b"\xef\xbb\xbf"), "UTF-8 without a byte-order mark")
        return parse_strings(raw.decode("utf-8"))

    def test_both_languages_carry_the_usage_descriptions(self):
        en, ja = self.load("en"), self.load("ja")
        self.assertEqual(set(en), set(ja))
        self.assertLessEqual(LOCALIZED, set(en))
        for key in ("NSMicrophoneUsageDescription", "NSCameraUsageDescription"):
            self.assertTrue(en[key].isascii() and len(en[key]) > 20, key)
            self.assertRegex(ja[key], JAPANESE, key)
            self.assertNotEqual(ja[key], en[key], key)

    def test_english_matches_the_info_plist_and_every_key_exists_there(self):
        plist = plistlib.loads((HERE / "Info.plist").read_bytes())
        for key, value in self.load("en").items():
            self.assertEqual(plist[key], value, key)

    def test_the_parser_reads_escapes_and_comments_and_refuses_junk(self):
        self.assertEqual(
            parse_strings('/* c */\n"a" = "x \\"y\\"\\n";\n// d\n"b"="z";'),
            {"a": 'x "y"\n', "b": "z"},
        )
        with self.assertRaises(ValueError):
            parse_strings('"a" = "x"')
        with self.assertRaises(ValueError):
            parse_strings('"a" = "x"; "a" = "y";')


class Bundle(unittest.TestCase):
    def test_the_assembled_app_has_its_layout(self):
        icns = os.environ.get("CONCLAVE_ICNS")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            binary = tmp / "conclave"
            binary.write_bytes(b"stand-in for the universal binary")
            if icns is None:
                icns = tmp / "stub.icns"
                icns.write_bytes(b"icns\x00\x00\x00\x08")
            app = tmp / "dmg" / "Conclave.app"
            lib('conclave_assemble_app "$1" "$2" "$3" 1.2.3', str(app), str(binary), str(icns))
            contents = app / "Contents"
            files = sorted(str(p.relative_to(app)) for p in app.rglob("*") if p.is_file())
            self.assertEqual(
                files,
                [
                    "Contents/Info.plist",
                    "Contents/MacOS/conclave",
                    "Contents/PkgInfo",
                    "Contents/Resources/conclave.icns",
                    "Contents/Resources/en.lproj/InfoPlist.strings",
                    "Contents/Resources/ja.lproj/InfoPlist.strings",
                ],
            )
            self.assertTrue(os.access(contents / "MacOS" / "conclave", os.X_OK))
            info = plistlib.loads((contents / "Info.plist").read_bytes())
            self.assertEqual(info["CFBundleVersion"], "1.2.3")
            self.assertTrue((contents / "MacOS" / info["CFBundleExecutable"]).is_file())
            self.assertTrue((contents / "Resources" / f"{info['CFBundleIconFile']}.icns").is_file())
            self.assertEqual((contents / "PkgInfo").read_bytes(), b"APPL????")

    @unittest.skipUnless(os.environ.get("CONCLAVE_ICNS"), "CONCLAVE_ICNS not set")
    def test_the_icon_has_the_retina_sizes(self):
        types = set(icns_types(Path(os.environ["CONCLAVE_ICNS"]).read_bytes()))
        # 256, 512 and 1024 px (512@2x), what Finder and the Dock draw on a Retina screen, and
        # 128 px either as PNG (ic07) or in the classic RLE form with its mask (it32 + t8mk).
        self.assertLessEqual({"ic08", "ic09", "ic10"}, types, types)
        self.assertTrue("ic07" in types or {"it32", "t8mk"} <= types, types)


# Stand-ins for the Mac's tools: each logs its arguments, and does just enough (files created,
# answers printed) for build-dmg.sh to run its whole sequence on Linux.
STUBS = {
    "uname": 'echo Darwin',
    "rustup": ':',
    "cargo": """
if [ "$1" = xtask ]; then mkdir -p "$3"; printf 'icns\\0\\0\\0\\10' >"$3/conclave.icns"; exit 0; fi
while [ $# -gt 0 ]; do case "$1" in --profile) p=$2;; --target) t=$2;; esac; shift; done
mkdir -p "$CARGO_TARGET_DIR/$t/$p"
printf '#!/bin/sh\\necho "conclave 0.0.0 (stub)"\\n' >"$CARGO_TARGET_DIR/$t/$p/conclave"
chmod +x "$CARGO_TARGET_DIR/$t/$p/conclave"
""",
    "lipo": """
if [ "$1" = -archs ]; then echo "x86_64 arm64"; exit 0; fi
cp "$4" "$3"
""",
    "plutil": """
case "$1 $2" in "-extract status") echo Accepted;; "-extract id") echo 0000-stub;; esac
""",
    "codesign": ':',
    "hdiutil": 'for a; do last=$a; done; echo stub-dmg >"$last"',
    "xcrun": ':',
    "spctl": ':',
}


class BuildScriptDryRun(unittest.TestCase):
    """build-dmg.sh's sequence, run against stand-ins that log instead of signing."""

    def run_script(self, **env: str) -> tuple[list[str], str]:
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        bin_dir, log = tmp / "bin", tmp / "calls.log"
        bin_dir.mkdir()
        for name, body in STUBS.items():
            stub = bin_dir / name
            stub.write_text(f'#!/bin/sh\necho "{name} $*" >>"{log}"\n{body}\n')
            stub.chmod(0o755)
        done = subprocess.run(
            [str(HERE / "build-dmg.sh"), "--out", str(tmp / "out")],
            env={
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "HOME": str(tmp),
                "CARGO_TARGET_DIR": str(tmp / "target"),
                "CARGO_PROFILE": "dist",
                **env,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        version = lib('conclave_workspace_version "$1"', str(ROOT))
        self.assertTrue((tmp / "out" / f"Conclave-{version}-universal.dmg").is_file())
        return log.read_text().splitlines(), done.stdout

    @staticmethod
    def first(calls: list[str], *needles: str, end: str = "") -> int:
        """The index of the first call holding every needle and ending with `end`."""
        return next(
            i for i, c in enumerate(calls) if all(n in c for n in needles) and c.endswith(end)
        )

    def test_signed_and_notarized_in_order(self):
        calls, out = self.run_script(
            MACOS_SIGN_IDENTITY="Developer ID Application: Test (TEAM123456)",
            MACOS_NOTARY_PROFILE="conclave-notary",
        )
        order = [
            self.first(calls, "cargo build", "aarch64-apple-darwin"),
            self.first(calls, "cargo build", "x86_64-apple-darwin"),
            self.first(calls, "lipo -create"),
            self.first(calls, "codesign", "--sign", end="Contents/MacOS/conclave"),
            self.first(calls, "codesign", "--sign", end="Conclave.app"),
            self.first(calls, "codesign --verify --deep --strict"),
            self.first(calls, "hdiutil create", "-format UDZO"),
            self.first(calls, "codesign", "--sign", ".dmg"),
            self.first(calls, "xcrun notarytool submit", "--keychain-profile conclave-notary"),
            self.first(calls, "xcrun stapler staple", ".dmg"),
            self.first(calls, "spctl", "--type exec"),
        ]
        self.assertEqual(order, sorted(set(order)), calls)
        for end in ("Contents/MacOS/conclave", "Conclave.app"):
            sign = calls[self.first(calls, "codesign", "--sign", end=end)]
            for flag in ("--options runtime", "--timestamp", "conclave.entitlements"):
                self.assertIn(flag, sign)
        self.assertNotIn("WARNING", out)

    def test_without_an_identity_it_is_ad_hoc_and_says_so(self):
        calls, out = self.run_script()
        self.assertIn("--sign -", calls[self.first(calls, "codesign", "--sign", end="Conclave.app")])
        self.assertFalse(any("notarytool" in c or "stapler" in c for c in calls), calls)
        self.assertIn("UNSIGNED", out)

    def test_signed_without_a_notary_profile_warns(self):
        calls, out = self.run_script(MACOS_SIGN_IDENTITY="Developer ID Application: Test")
        self.assertFalse(any("notarytool" in c for c in calls), calls)
        self.assertIn("NOT notarized", out)


if __name__ == "__main__":
    unittest.main()
