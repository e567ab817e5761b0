//! Load bot: 400 sign-in requests with random user names, 200 at a time, against a real
//! `conclaved` started in this process on loopback, then the process's peak memory (VmHWM).
//!
//! `cargo run -p conclave-server --example signin_load -- [requests] [parallel] [addresses]`
//!
//! Each request comes from one of `addresses` loopback source addresses (127.0.1.x, default
//! 200), so the per-address guess throttle lets most of them reach the password check: the
//! bound on memory measured here is the hashing slots', not the throttle's. Linux only (reads
//! /proc/self/status).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use conclave_core::client::tls::{TlsTrust, owned_client_config};
use conclave_server::config::ServerConfig;
use conclave_server::server::start;
use rand::Rng as _;
use tokio::sync::Semaphore;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let requests = args.next().unwrap_or(400);
    let parallel = args.next().unwrap_or(200);
    let addresses = args.next().unwrap_or(200).clamp(1, 250);

    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        media_bind: "127.0.0.1:0".into(),
        media_tcp_bind: String::new(),
        ..ServerConfig::default()
    })
    .await
    .expect("server starts");
    let url = format!("https://{}/v1/signin", server.addr);
    let trust = TlsTrust::PinnedSha256(server.tls_fingerprint.clone());
    let clients: Vec<reqwest::Client> = (0..addresses)
        .map(|n| {
            reqwest::Client::builder()
                .use_preconfigured_tls(owned_client_config(&trust).unwrap())
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n as u8 + 1)))
                .build()
                .unwrap()
        })
        .collect();
    let before = peak_rss_kib();
    println!(
        "conclaved on {}; {requests} sign-ins, {parallel} at a time, from {addresses} addresses; \
         peak RSS before: {} MiB",
        server.addr,
        before / 1024
    );

    let gate = Arc::new(Semaphore::new(parallel));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests);
    for n in 0..requests {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let client = clients[n % addresses].clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let username: String = rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(16)
                .map(char::from)
                .collect();
            let body = serde_json::json!({
                "username": username,
                "password": "not the password",
                "device_signature_key": BASE64.encode([7u8; 32]),
            });
            let status = match client.post(&url).json(&body).send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            drop(permit);
            status
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let peak = peak_rss_kib();
    println!("answers (HTTP status: count, 0 = transport error): {statuses:?}");
    println!(
        "took {:.1} s; peak RSS (VmHWM) {} MiB",
        elapsed.as_secs_f64(),
        peak / 1024
    );
    server.shutdown().await;
}
