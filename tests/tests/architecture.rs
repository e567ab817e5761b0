//! Architecture rules that must hold whatever else changes.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// GUI and device crates that `conclave-core` must never pull in, directly or transitively.
const FORBIDDEN: &[&str] = &["iced", "cpal", "nokhwa", "keyring", "rfd"];

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

#[test]
fn the_check_recognises_forbidden_names() {
    assert!(is_forbidden("iced"));
    assert!(is_forbidden("iced_wgpu"));
    assert!(is_forbidden("keyring"));
    assert!(!is_forbidden("icedtea-like-but-not"));
    assert!(!is_forbidden("openmls"));
}
