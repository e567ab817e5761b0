//! The real `conclave-cli` joining a server that asks for a newer client: a clear error naming
//! the minimum version and where to get it, and a failing exit code; with only a newer
//! `latest`, it joins and says an update exists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use conclave_server::config::{ClientVersionsTable, ServerConfig};
use conclave_server::server::{RunningServer, start};

const DOWNLOAD: &str = "https://intranet.example/conclave";

async fn server(dir: &std::path::Path, versions: ClientVersionsTable) -> RunningServer {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("server"),
        media_bind: "127.0.0.1:0".to_owned(),
        media_tcp_bind: String::new(),
        client_versions: versions,
        ..ServerConfig::default()
    };
    start(config).await.unwrap()
}

async fn join(server: &RunningServer, number: &str) -> Output {
    let args = [
        "join".to_owned(),
        "--server".into(),
        server.addr.to_string(),
        "--pin".into(),
        server.tls_fingerprint.clone(),
        "--stay-secs".into(),
        "0".into(),
        number.to_owned(),
    ];
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_conclave-cli"))
            .args(args)
            .output()
            .expect("the conclave-cli binary runs")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_with_a_client_below_the_minimum_fails_and_says_where_to_update() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(
        dir.path(),
        ClientVersionsTable {
            minimum: Some("999.0.0".into()),
            latest: None,
            download_url: Some(DOWNLOAD.into()),
        },
    )
    .await;
    let output = join(&server, "12345678901").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("999.0.0") && stderr.contains(DOWNLOAD) && stderr.contains("update"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_latest_version_is_announced_but_does_not_stop_the_join() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(
        dir.path(),
        ClientVersionsTable {
            minimum: Some("0.0.1".into()),
            latest: Some("999.0.0".into()),
            download_url: Some(DOWNLOAD.into()),
        },
    )
    .await;
    // No such meeting: the join gets as far as the server's answer (wrong number or password),
    // which is past the version check.
    let output = join(&server, "12345678901").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Conclave 999.0.0 is available") && stderr.contains(DOWNLOAD),
        "{stderr}"
    );
    assert!(!stderr.contains("too old"), "{stderr}");
    server.shutdown().await;
}
