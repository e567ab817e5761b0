//! Load bot: join latency (connect → admitted → keys ready) and rekey latency (membership
//! change → new key in use at every member) on loopback, with N headless members in one
//! process against a real in-process server.
//!
//! Run: `cargo run --release -p conclave-tests --example latency -- 50`

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use conclave_core::client::account::NewMeeting;
use conclave_core::client::{MeetingClient, Phase};
use conclave_protocol::ClientMessage;
use conclave_tests::{TestServer, in_meeting};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn all_at_epoch(clients: &mut [MeetingClient], epoch: u64) {
    for client in clients.iter_mut() {
        client
            .wait_until(Duration::from_secs(60), |s| s.epoch >= Some(epoch))
            .await
            .unwrap();
    }
}

#[tokio::main]
async fn main() {
    conclave_tests::log_to_stderr();
    let members: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let server = TestServer::start().await;
    server.add_user("host", "Host", "a-long-password").await;
    let device = server.sign_in("host", "a-long-password").await;
    let meeting = server.create_meeting(&device, NewMeeting::default()).await;

    let mut clients = Vec::new();
    let started = Instant::now();
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    println!("host in meeting after {}", ms(started.elapsed()));
    clients.push(host);

    let mut joins = Vec::new();
    for i in 1..members {
        let started = Instant::now();
        let mut client = server.guest_joins(&format!("bot {i}"), &meeting).await;
        in_meeting(&mut client).await;
        let joined = started.elapsed();
        joins.push(joined);
        // The joiner's epoch is the newest; wait for everyone to apply this join before the
        // next one, so each join is measured in a quiet meeting of i members.
        let epoch = client.snapshot().epoch.unwrap();
        clients.push(client);
        all_at_epoch(&mut clients, epoch).await;
    }
    let last_join = *joins.last().unwrap();
    joins.sort();
    println!(
        "join latency over {} joins: median {}, p95 {}, max {}; the {}th member: {}",
        joins.len(),
        ms(percentile(&joins, 0.5)),
        ms(percentile(&joins, 0.95)),
        ms(*joins.last().unwrap()),
        members,
        ms(last_join)
    );

    let mut rekeys = Vec::new();
    for _ in 0..5 {
        let epoch = clients[0].snapshot().epoch.unwrap();
        let leaver = clients.pop().unwrap();
        let started = Instant::now();
        leaver.send(ClientMessage::Leave);
        all_at_epoch(&mut clients, epoch + 1).await;
        rekeys.push(started.elapsed());
        leaver.close();
        // Bring the meeting back to size.
        let mut client = server.guest_joins("bot again", &meeting).await;
        // The joiner's epoch: the host's snapshot may not have merged the join commit yet.
        let epoch = in_meeting(&mut client).await.epoch.unwrap();
        clients.push(client);
        all_at_epoch(&mut clients, epoch).await;
    }
    rekeys.sort();
    println!(
        "rekey latency (leave → new epoch at all {} remaining members), 5 runs: median {}, max {}",
        members - 1,
        ms(percentile(&rekeys, 0.5)),
        ms(*rekeys.last().unwrap())
    );
    assert!(
        clients
            .iter()
            .all(|c| c.snapshot().phase == Some(Phase::InMeeting))
    );
    server.running.shutdown().await;
}
