//! `conclaved meeting create` (the admin command) generates the meeting password by the
//! organization's configured policy, refuses a chosen one that breaks it, and takes the
//! organisation's meeting defaults, as the server's own endpoints do.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use conclave_server::store::Store;
use conclave_server::{MeetingOptions, StoredOptions as _};

fn conclaved(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let output = run(config, args, stdin);
    assert!(
        output.status.success(),
        "conclaved {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn run(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
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
    child.wait_with_output().unwrap()
}

/// A configuration with a strict policy and lobby and sign-in on by default, and an account.
fn strict_organisation(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("conclaved.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n\n[password_policy]\nmin_length = 16\nrequire_symbol = true\n\n\
             [meeting_defaults]\nlobby = true\nrequire_sign_in = true\nauto_lock_minutes = 20\n",
            dir.join("data")
        ),
    )
    .unwrap();
    conclaved(
        &config,
        &["user", "add", "hana", "Hana", "--password-stdin"],
        Some("Host-pass-1234\n"),
    );
    config
}

fn meeting_number(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("meeting number: "))
        .expect("a number line")
        .to_owned()
}

async fn stored_options(dir: &std::path::Path, number: &str) -> MeetingOptions {
    let store = Store::open(dir.join("data")).await.unwrap();
    let record = store.meeting(number).await.unwrap().expect("the meeting");
    store.close().await;
    MeetingOptions::from_json(&record.options_json)
}

#[test]
fn a_weak_chosen_password_is_refused_with_the_rule_it_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let config = strict_organisation(dir.path());
    let args = ["meeting", "create", "--host", "hana", "--password-stdin"];
    let refused = run(&config, &args, Some("password1\n"));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("does not meet the policy") && stderr.contains("at least 16"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "no meeting was created");
    let out = conclaved(&config, &args, Some("Strong-enough-pass-2026!\n"));
    assert!(out.contains("password: Strong-enough-pass-2026!"), "{out}");
}

#[tokio::test]
async fn options_not_given_take_the_organisation_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = strict_organisation(dir.path());
    let out = conclaved(&config, &["meeting", "create", "--host", "hana"], None);
    let options = stored_options(dir.path(), &meeting_number(&out)).await;
    assert!(options.lobby && options.require_sign_in && !options.join_before_host);
    assert_eq!(options.auto_lock_minutes, Some(20));
    let out = conclaved(
        &config,
        &[
            "meeting",
            "create",
            "--host",
            "hana",
            "--lobby",
            "false",
            "--join-before-host",
        ],
        None,
    );
    let options = stored_options(dir.path(), &meeting_number(&out)).await;
    assert!(!options.lobby && options.join_before_host && options.require_sign_in);
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

#[test]
fn the_audit_command_lists_and_exports_what_the_admin_did() {
    let dir = tempfile::tempdir().unwrap();
    let config = strict_organisation(dir.path());
    let out = conclaved(&config, &["meeting", "create", "--host", "hana"], None);
    let number = meeting_number(&out);
    let list = conclaved(&config, &["audit", "list", "--meeting", &number], None);
    assert!(
        list.contains("meeting.create") && list.contains("admin-cli"),
        "{list}"
    );
    let csv = conclaved(&config, &["audit", "export", "--format", "csv"], None);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,at,meeting,action,actor,user_id,display_name,device,address,target")
    );
    assert!(csv.contains("user.add") && csv.contains(&number), "{csv}");
    let future = conclaved(
        &config,
        &["audit", "list", "--since", "2999-01-01T00:00:00Z"],
        None,
    );
    assert_eq!(future.trim(), "no audit entries");
    let refused = run(&config, &["audit", "list", "--until", "last tuesday"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("RFC 3339"));
}
