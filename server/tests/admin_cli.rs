//! `conclaved meeting create` (the admin command) generates the meeting password by the
//! organization's configured policy, as the server's own endpoints do.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

fn conclaved(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conclaved"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "conclaved {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_admin_command_generates_meeting_passwords_by_the_configured_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("conclaved.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n\n[password_policy]\nmin_length = 24\nrequire_symbol = true\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    conclaved(
        &config,
        &["user", "add", "hana", "Hana", "--password-stdin"],
        Some("Host-pass-1234\n"),
    );
    let out = conclaved(&config, &["meeting", "create", "--host", "hana"], None);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a password line");
    assert!(password.chars().count() >= 24, "{password}");
    assert!(
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
        "the policy requires a symbol: {password}"
    );
}
