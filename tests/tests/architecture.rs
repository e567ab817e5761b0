//! Architecture rules that must hold whatever else changes.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// GUI and device crates that no library crate may pull in, directly or transitively.
const FORBIDDEN: &[&str] = &["iced", "cpal", "nokhwa", "keyring", "rfd"];

/// What the server must not link: codecs and audio processing (it never decodes media), the
/// HTTP client, and the client-side crates. It forwards SFrame ciphertext and checks MLS.
const NOT_IN_SERVER: &[&str] = &[
    "opus",
    "audiopus_sys",
    "openh264",
    "openh264-sys2",
    "webrtc-audio-processing",
    "webrtc-audio-processing-sys",
    "hound",
    "reqwest",
    "fluent-bundle",
    "conclave-media",
    "conclave-core",
];

/// The workspace's crates, each with the workspace crates it may depend on (normal edges).
/// Lower layers first; a crate may use only crates listed before it, so none depends upward.
const LAYERS: &[(&str, &[&str])] = &[
    ("conclave-build-info", &[]),
    ("conclave-policy", &[]),
    ("conclave-protocol", &[]),
    ("conclave-rtc", &[]),
    ("conclave-e2ee", &["conclave-protocol"]),
    ("conclave-media", &["conclave-e2ee", "conclave-rtc"]),
    (
        "conclave-core",
        &[
            "conclave-protocol",
            "conclave-e2ee",
            "conclave-rtc",
            "conclave-media",
        ],
    ),
    (
        "conclave-server",
        &["conclave-protocol", "conclave-e2ee", "conclave-rtc"],
    ),
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            manifest,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Names of every package reachable from `root` through normal (non-dev, non-build) edges.
fn normal_closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let packages: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = packages
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    seen.iter().map(|id| packages[id].to_string()).collect()
}

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| {
        name == *f || name.starts_with(&format!("{f}_")) || name.starts_with(&format!("{f}-"))
    })
}

#[test]
fn core_depends_on_no_gui_or_device_crate() {
    let meta = metadata();
    let closure = normal_closure(&meta, "conclave-core");
    assert!(
        closure.contains("openmls"),
        "sanity: the walk found core's dependencies"
    );
    let bad: Vec<&String> = closure.iter().filter(|n| is_forbidden(n)).collect();
    assert!(bad.is_empty(), "conclave-core must not depend on {bad:?}");
}

/// The workspace crates `package` depends on directly through normal edges.
fn direct_workspace_deps(meta: &Value, package: &str) -> BTreeSet<String> {
    let found = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("no package {package}"));
    found["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null() && d["path"].is_string())
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn no_library_crate_depends_on_a_gui_or_device_crate() {
    let meta = metadata();
    for (crate_name, _) in LAYERS {
        let closure = normal_closure(&meta, crate_name);
        let bad: Vec<&String> = closure.iter().filter(|n| is_forbidden(n)).collect();
        assert!(bad.is_empty(), "{crate_name} must not depend on {bad:?}");
    }
}

#[test]
fn the_server_links_no_codec_audio_processing_http_client_or_client_crate() {
    let meta = metadata();
    let closure = normal_closure(&meta, "conclave-server");
    assert!(
        closure.contains("openmls") && closure.contains("webrtc"),
        "sanity: the walk found the server's MLS and WebRTC dependencies"
    );
    let bad: Vec<&&str> = NOT_IN_SERVER
        .iter()
        .filter(|n| closure.contains(**n))
        .collect();
    assert!(bad.is_empty(), "conclaved must not link {bad:?}");
    let gui: Vec<&String> = closure.iter().filter(|n| is_forbidden(n)).collect();
    assert!(gui.is_empty(), "conclaved must not link {gui:?}");
}

#[test]
fn the_policy_crate_links_no_gui_device_or_network_crate() {
    // The templates are generated from it at build time and the app reads it at start: it
    // stays a small library of types and parsers.
    let meta = metadata();
    let closure = normal_closure(&meta, "conclave-policy");
    let bad: Vec<&String> = closure
        .iter()
        .filter(|n| is_forbidden(n) || ["reqwest", "tokio", "openmls"].contains(&n.as_str()))
        .collect();
    assert!(bad.is_empty(), "conclave-policy must not link {bad:?}");
}

#[test]
fn the_c_media_libraries_are_linked_only_by_the_media_crate() {
    let meta = metadata();
    for (crate_name, _) in LAYERS {
        if *crate_name == "conclave-media" || *crate_name == "conclave-core" {
            continue;
        }
        let closure = normal_closure(&meta, crate_name);
        for c_library in [
            "audiopus_sys",
            "openh264-sys2",
            "webrtc-audio-processing-sys",
        ] {
            assert!(
                !closure.contains(c_library),
                "{crate_name} links {c_library}"
            );
        }
    }
    let media = normal_closure(&meta, "conclave-media");
    assert!(media.contains("audiopus_sys") && media.contains("openh264-sys2"));
}

#[test]
fn no_crate_depends_upward() {
    let meta = metadata();
    for (crate_name, allowed) in LAYERS {
        let deps = direct_workspace_deps(&meta, crate_name);
        let upward: Vec<&String> = deps
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            upward.is_empty(),
            "{crate_name} may depend only on {allowed:?}, not on {upward:?}"
        );
    }
}

#[test]
fn the_check_recognises_forbidden_names() {
    assert!(is_forbidden("iced"));
    assert!(is_forbidden("iced_wgpu"));
    assert!(is_forbidden("keyring"));
    assert!(!is_forbidden("icedtea-like-but-not"));
    assert!(!is_forbidden("openmls"));
}
