//! Load bot: click-to-first-audio on loopback. A real server runs in-process (TLS, SQLite,
//! SFU); a signed-in host is in the meeting and sends a tone through the SFU. A guest then asks
//! to join (TLS WebSocket connect + `Join`), N times in a row; each run is timed from the
//! moment the guest starts connecting until its pipeline plays the first decoded, decrypted
//! sample of the host's audio. Stages are timed too: in the meeting with keys (padlock on),
//! SFU answer received, WebRTC connected (ICE + DTLS-SRTP), first audio played.
//!
//! Run: `cargo run --release -p conclave-tests --example first_audio -- [RUNS]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::client::MeetingClient;
use conclave_core::client::account::NewMeeting;
use conclave_core::client::connection::ConnectionSignalling;
use conclave_core::client::media_session::{self, MediaSession};
use conclave_core::client::media_start::{MediaSignalling, MediaStartError, connect_media};
use conclave_media::pipeline::AudioPipeline;
use conclave_media::signal::ToneSource;
use conclave_media::{AudioSink, MediaPipelineError};
use conclave_protocol::ClientMessage;
use conclave_rtc::transport::{LinkOptions, MediaLink};
use conclave_tests::{TestServer, in_meeting, wait};
use tokio::sync::watch;

const USAGE: &str = "\
first_audio [RUNS]

Click-to-first-audio on loopback: a real in-process server, a host sending a tone, and a
guest joining RUNS times (default 20). Prints median / p95 / max per stage.";

/// Notes when the first audible sample is played.
struct FirstSound(watch::Sender<Option<Instant>>);

impl AudioSink for FirstSound {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        if self.0.borrow().is_none() && frame.iter().any(|s| *s != 0) {
            self.0.send_replace(Some(Instant::now()));
        }
        Ok(())
    }
}

/// Offers media over signaling; returns the link once the SFU's answer is in and applied,
/// with the instant the answer arrived.
async fn media_link(client: &mut MeetingClient) -> (Arc<MediaLink>, Instant) {
    let (answered_tx, answered) = watch::channel(None);
    let signalling = TimedSignalling {
        inner: client.media_signalling(),
        answered: answered_tx,
    };
    let link = connect_media(&LinkOptions::udp("127.0.0.1:0"), signalling)
        .await
        .unwrap();
    let answered = answered
        .borrow()
        .expect("the answer came before the link connected");
    (link, answered)
}

/// The meeting connection's signalling, noting when the SFU's answer arrived.
struct TimedSignalling {
    inner: ConnectionSignalling,
    answered: watch::Sender<Option<Instant>>,
}

impl MediaSignalling for TimedSignalling {
    async fn exchange(&mut self, offer: String) -> Result<String, MediaStartError> {
        let answer = self.inner.exchange(offer).await;
        self.answered.send_replace(Some(Instant::now()));
        answer
    }

    fn attach(self, link: Arc<MediaLink>) {
        // The others' tracks come in the SFU's renegotiation offer, answered by the connection.
        self.inner.attach(link);
    }
}

fn report(label: &str, mut values: Vec<Duration>) {
    values.sort();
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<42} median {:>6.1} ms   p95 {:>6.1} ms   max {:>6.1} ms",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(values[values.len() - 1])
    );
}

async fn host_session(host: &mut MeetingClient) -> MediaSession {
    let (link, _) = media_link(host).await;
    // A tone that lasts far longer than the bot runs.
    let tone = ToneSource::new(vec![(440.0, u32::MAX)]);
    let pipeline = AudioPipeline::new(Some(Box::new(tone)), None).unwrap();
    media_session::start(link, host.snapshot_watch(), pipeline)
}

#[tokio::main]
async fn main() {
    conclave_tests::log_to_stderr();
    let argument = std::env::args().nth(1);
    if argument
        .as_deref()
        .is_some_and(|a| a == "--help" || a == "-h")
    {
        println!("{USAGE}");
        return;
    }
    let runs: usize = argument.and_then(|a| a.parse().ok()).unwrap_or(20);
    let server = TestServer::start().await;
    server.add_user("host", "Host", "a-long-password").await;
    let device = server.sign_in("host", "a-long-password").await;
    let meeting = server.create_meeting(&device, NewMeeting::default()).await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let host_media = host_session(&mut host).await;

    let (mut keyed, mut answered, mut connected, mut heard) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let started = Instant::now();
        let mut guest = server.guest_joins(&format!("guest {run}"), &meeting).await;
        let snapshot = in_meeting(&mut guest).await;
        let in_meeting_at = Instant::now();
        let (link, answer_at) = media_link(&mut guest).await;
        let connected_at = Instant::now();
        let (first_tx, mut first_rx) = watch::channel(None);
        let pipeline = AudioPipeline::new(None, Some(Box::new(FirstSound(first_tx)))).unwrap();
        let session = media_session::start(link, guest.snapshot_watch(), pipeline);
        let first =
            tokio::time::timeout(Duration::from_secs(10), first_rx.wait_for(Option::is_some))
                .await
                .expect("no audio within 10 s")
                .expect("session ended")
                .expect("checked");
        keyed.push(in_meeting_at - started);
        answered.push(answer_at - started);
        connected.push(connected_at - started);
        heard.push(first - started);

        drop(session.stop().await);
        guest.send(ClientMessage::Leave);
        // The host commits the guest's removal; wait for it so every run starts alike.
        let left_epoch = snapshot.epoch.unwrap() + 1;
        wait(&mut host, "the guest's removal", |s| {
            s.epoch >= Some(left_epoch)
        })
        .await;
        guest.close();
    }
    println!("click-to-first-audio on loopback, {runs} joins (from connect + Join):");
    report("in the meeting, keys ready (padlock)", keyed);
    report("SFU's SDP answer received", answered);
    report("WebRTC connected (ICE + DTLS-SRTP)", connected);
    report("first decrypted audio played", heard);
    drop(host_media.stop().await);
    server.running.shutdown().await;
}
