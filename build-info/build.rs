//! Records the commit this build comes from, for `--version` and the app's About line.
//!
//! `CONCLAVE_COMMIT` in the environment wins (packaging from a source tarball has no `.git`);
//! otherwise `git rev-parse`; otherwise "unknown commit". A crate of its own so that a new
//! commit rebuilds only this crate and the binaries that print it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=CONCLAVE_COMMIT");
    let commit = std::env::var("CONCLAVE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    // Rebuild when HEAD moves: HEAD itself (branch switch) and the branch it points to.
    for path in ["HEAD", "packed-refs"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(file) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={file}");
    }
    let line = match commit {
        Some(commit) => format!("commit {commit}"),
        None => "unknown commit".to_owned(),
    };
    println!("cargo:rustc-env=CONCLAVE_COMMIT_LINE={line}");
}
