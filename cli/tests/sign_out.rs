//! The real `conclave-cli` binary signing in and out against a real server on loopback: the
//! refresh token is kept in the credentials file, and `sign-out` revokes the sign-in on the
//! server (the token is refused afterwards) as well as deleting the file; with the server
//! unreachable it still forgets locally and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use conclave_server::config::ServerConfig;
use conclave_server::server::start;

fn cli(args: &[String], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conclave-cli"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the conclave-cli binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn args(words: &[&str], server: &str, pin: &str, file: &Path) -> Vec<String> {
    let mut all: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    all.extend([
        "--server".into(),
        server.into(),
        "--pin".into(),
        pin.into(),
        "--user".into(),
        "hana".into(),
        "--credentials-file".into(),
        file.display().to_string(),
    ]);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_the_sign_in_on_the_server_and_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("server"),
        ..ServerConfig::default()
    };
    let server = start(config).await.unwrap();
    let store = server.hub().store().clone();
    store
        .add_user("hana", "Hana", "correct horse battery")
        .await
        .unwrap();
    let address = server.addr.to_string();
    let pin = server.tls_fingerprint.clone();
    let file = dir.path().join("hana.credentials");

    let signin = args(&["signin"], &address, &pin, &file);
    let output = tokio::task::spawn_blocking(move || cli(&signin, "correct horse battery\n"))
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let token = stored["token"].as_str().unwrap().to_owned();
    assert!(!stored["refresh_token"].as_str().unwrap().is_empty());
    assert!(stored["expires_at"].as_i64().unwrap() > 0);
    assert!(store.user_for_token(&token).await.unwrap().is_some());

    let sign_out = args(&["sign-out"], &address, &pin, &file);
    let output = tokio::task::spawn_blocking(move || cli(&sign_out, ""))
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("revoked on the server"), "{stdout}");
    assert!(!file.exists());
    // The token a thief might have copied is dead.
    assert_eq!(store.user_for_token(&token).await.unwrap(), None);
    server.shutdown().await;
}

#[test]
fn sign_out_with_the_server_unreachable_still_forgets_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hana.credentials");
    std::fs::write(
        &file,
        r#"{"server":"127.0.0.1:1","user_id":"u","display_name":"Hana","token":"t",
            "refresh_token":"r","expires_at":1,"signature_keys":"","certificate":"","org_key":""}"#,
    )
    .unwrap();
    let output = cli(
        &args(&["signout"], "127.0.0.1:1", &["AB"; 32].join(":"), &file),
        "",
    );
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("on this computer only"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("could not revoke"));
    assert!(!file.exists());
}
