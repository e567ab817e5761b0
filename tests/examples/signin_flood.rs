//! Load bot: a sign-in flood against a server that hosts a meeting. A real `conclaved` runs in
//! this process on loopback (TLS, SQLite, production Argon2 costs, SFU); a signed-in host and a
//! guest are in a meeting (real MLS, SFrame) and the host sends a 440 Hz tone through the SFU.
//! The bot counts the guest's received audio frames per second for a while, then fires
//! `requests` `POST /v1/signin` with random user names, `parallel` at a time, from `addresses`
//! loopback source addresses (127.0.1.x, so the per-address guess throttle lets most reach the
//! password check), keeps counting during the flood and a while after, and prints the frame
//! rates and the process's peak memory (VmHWM: server, both clients and the bot together).
//!
//! Run: `cargo run -p conclave-tests --example signin_flood -- [requests] [parallel] [addresses]
//! [seconds]` (defaults 400 200 200 5; `seconds` is the quiet window before and after the
//! flood). Loopback only; the flood is bounded by `requests` and a 120 s deadline. Linux only
//! (reads /proc/self/status).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::client::media_session::MediaSession;
use conclave_core::client::tls::owned_client_config;
use conclave_media::pipeline::AudioPipeline;
use conclave_media::signal::ToneSource;
use conclave_tests::media::{self, Meeting, poll_until, start_media, udp};
use rand::Rng as _;
use tokio::sync::Semaphore;

/// Audio frames are 20 ms: 50 a second when nothing is lost.
const NOMINAL_FPS: f64 = 50.0;
/// The flood gives up after this, whatever is still in flight.
const FLOOD_DEADLINE: Duration = Duration::from_secs(120);
/// A 32-byte Ed25519-sized public key, base64 (never reached: every name is unknown).
const DEVICE_KEY_B64: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in KiB.
fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One second of the meeting: frames per second the host sent, the guest received and the
/// guest played, and the process's VmRSS (MiB) at its end.
#[derive(Debug, Clone, Copy)]
struct Second {
    sent: f64,
    received: f64,
    played: f64,
    rss: u64,
}

/// One-second samples until `until` holds or `max` has passed.
async fn sample(
    speaker: &MediaSession,
    listener: &MediaSession,
    until: impl Fn() -> bool,
    max: Duration,
) -> Vec<Second> {
    let counts = || {
        let (s, l) = (speaker.stats(), listener.stats());
        (
            Instant::now(),
            s.frames_sent,
            l.frames_received,
            l.frames_played,
        )
    };
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut last = counts();
    while !until() && started.elapsed() < max {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = counts();
        let secs = now.0.duration_since(last.0).as_secs_f64();
        let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        samples.push(Second {
            sent: rate(now.1, last.1),
            received: rate(now.2, last.2),
            played: rate(now.3, last.3),
            rss: memory_kib("VmRSS:") / 1024,
        });
        last = now;
    }
    samples
}

fn summary(samples: &[Second]) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    let n = samples.len() as f64;
    let mean = |f: fn(&Second) -> f64| samples.iter().map(f).sum::<f64>() / n;
    let worst = |f: fn(&Second) -> f64| samples.iter().map(f).fold(f64::INFINITY, f64::min);
    let received = mean(|s| s.received);
    format!(
        "{} s: received mean {received:.1} frames/s ({:.0} % of {NOMINAL_FPS}), worst second \
         {:.1}; played mean {:.1}, worst {:.1}; host sent mean {:.1}, worst {:.1}; highest \
         RSS sampled {} MiB",
        samples.len(),
        100.0 * received / NOMINAL_FPS,
        worst(|s| s.received),
        mean(|s| s.played),
        worst(|s| s.played),
        mean(|s| s.sent),
        worst(|s| s.sent),
        samples.iter().map(|s| s.rss).max().unwrap_or(0),
    )
}

#[tokio::main]
async fn main() {
    conclave_tests::log_to_stderr();
    let mut args = std::env::args().skip(1).map(|a| {
        a.parse::<usize>()
            .expect("numbers: requests parallel addresses seconds")
    });
    let requests = args.next().unwrap_or(400);
    let parallel = args.next().unwrap_or(200).max(1);
    let addresses = args.next().unwrap_or(200).clamp(1, 250);
    let quiet = Duration::from_secs(args.next().unwrap_or(5).clamp(1, 60) as u64);

    let Meeting {
        server,
        mut host,
        mut guests,
        ..
    } = media::meeting(&["Guest"]).await;
    let mut guest = guests.pop().unwrap();
    let (listener, _) = start_media(
        &mut guest,
        AudioPipeline::new(None, None).unwrap(),
        None,
        &udp(None),
    )
    .await;
    // 100 000 frames of 20 ms: far longer than the run.
    let tone = ToneSource::new(vec![(440.0, 100_000)]);
    let (speaker, _) = start_media(
        &mut host,
        AudioPipeline::new(Some(Box::new(tone)), None).unwrap(),
        None,
        &udp(None),
    )
    .await;
    media::until_tracks(&server, &[&host], &[&guest]).await;
    poll_until(
        "the guest hearing the host",
        || listener.stats().frames_received,
        |frames| *frames > 50,
    )
    .await;

    let url = format!("https://{}/v1/signin", server.address());
    let trust = server.trust();
    let clients: Vec<reqwest::Client> = (0..addresses)
        .map(|n| {
            reqwest::Client::builder()
                .use_preconfigured_tls(owned_client_config(&trust).unwrap())
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n as u8 + 1)))
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap()
        })
        .collect();

    let before = sample(&speaker, &listener, || false, quiet).await;
    let peak_before = memory_kib("VmHWM:") / 1024;
    println!(
        "meeting on {}: guest hears the host; {requests} sign-ins, {parallel} at a time, from \
         {addresses} addresses; peak RSS before the flood {peak_before} MiB",
        server.address()
    );

    let started = Instant::now();
    let flood = tokio::spawn(async move {
        let gate = Arc::new(Semaphore::new(parallel));
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
                    "device_signature_key": DEVICE_KEY_B64,
                });
                let status = match client.post(&url).json(&body).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                };
                drop(permit);
                status
            }));
        }
        let mut statuses = BTreeMap::<u16, usize>::new();
        for task in tasks {
            *statuses.entry(task.await.unwrap_or(0)).or_default() += 1;
        }
        statuses
    });
    let during = sample(&speaker, &listener, || flood.is_finished(), FLOOD_DEADLINE).await;
    let flood_time = started.elapsed();
    let statuses = if flood.is_finished() {
        format!("{:?}", flood.await.unwrap())
    } else {
        flood.abort();
        "unfinished at the deadline".into()
    };
    let peak_flood = memory_kib("VmHWM:") / 1024;
    let after = sample(&speaker, &listener, || false, quiet).await;

    println!("answers (HTTP status: count, 0 = transport error): {statuses}");
    println!("flood took {:.1} s", flood_time.as_secs_f64());
    println!("audio before the flood: {}", summary(&before));
    println!("audio during the flood: {}", summary(&during));
    println!("audio  after the flood: {}", summary(&after));
    println!(
        "during, per second (sent/received/played): {:?}",
        during
            .iter()
            .map(|s| format!("{:.0}/{:.0}/{:.0}", s.sent, s.received, s.played))
            .collect::<Vec<_>>()
    );
    let stats = listener.stats();
    println!(
        "guest totals: {} received, {} refused, {} played; host sent {}",
        stats.frames_received,
        stats.frames_refused,
        stats.frames_played,
        speaker.stats().frames_sent
    );
    println!(
        "peak RSS (VmHWM, whole process) {peak_flood} MiB after the flood, {} MiB at the end",
        memory_kib("VmHWM:") / 1024
    );
    speaker.stop().await;
    listener.stop().await;
    drop((host, guest));
    server.running.shutdown().await;
}
