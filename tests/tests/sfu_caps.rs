//! A member that publishes far above any legitimate rate through the real SFU (WebRTC on
//! loopback): the SFU forwards at most its cap (burst plus rate over the time observed) and
//! drops the rest, while an honest publisher in the same meeting loses nothing.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_protocol::ParticipantId;
use conclave_rtc::transport::MediaLink;
use conclave_server::sfu::Sfu;
use conclave_server::sfu::limits::{AUDIO_BURST_BYTES, AUDIO_BYTES_PER_SECOND};
use conclave_tests::media;

const ATTACKER: ParticipantId = ParticipantId(1);
const HONEST: ParticipantId = ParticipantId(2);
const HONEST_PACKETS: u32 = 100;

async fn connect(sfu: &Arc<Sfu>, id: ParticipantId) -> Arc<MediaLink> {
    media::connect_to_sfu(sfu, id, "12345678901").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_blast_is_cut_to_the_cap_and_an_honest_speaker_is_untouched() {
    let sfu = Sfu::new("127.0.0.1:0");
    let (tap_tx, mut tap) = tokio::sync::mpsc::unbounded_channel();
    sfu.set_tap(tap_tx);
    let attacker = connect(&sfu, ATTACKER).await;
    let honest = connect(&sfu, HONEST).await;
    let _listener = connect(&sfu, ParticipantId(3)).await;
    sfu.set_meeting_members("12345678901", &[ATTACKER, HONEST, ParticipantId(3)]);
    let settled = Instant::now() + Duration::from_secs(30);
    while sfu.renegotiations() < 3 || sfu.renegotiations_running() > 0 {
        assert!(Instant::now() < settled, "renegotiation did not settle");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    // 4,000 packets of 1,000 bytes as fast as the attacker's connection sends them
    // (32 Mbit/s over a second or more than 100 times the cap).
    let blast = tokio::spawn(async move {
        let packet = vec![0xAA; 1_000];
        for _ in 0..4_000 {
            attacker.send_audio(&packet).await.unwrap();
        }
    });
    // Meanwhile an honest speaker: Opus-sized packets every 20 ms, each numbered.
    let speak = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for i in 0..HONEST_PACKETS {
            ticker.tick().await;
            let mut packet = i.to_be_bytes().to_vec();
            packet.resize(120, 0x55);
            honest.send_audio(&packet).await.unwrap();
        }
    });

    // Every honest packet is forwarded; count what of the attacker's was.
    let mut heard = HashSet::new();
    let mut attacker_bytes = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while heard.len() < HONEST_PACKETS as usize {
        let (publisher, payload) = tokio::time::timeout_at(deadline, tap.recv())
            .await
            .expect("every honest packet forwarded")
            .unwrap();
        if publisher == HONEST {
            heard.insert(u32::from_be_bytes(payload[..4].try_into().unwrap()));
        } else {
            attacker_bytes += payload.len() as u64;
        }
    }
    blast.await.unwrap();
    speak.await.unwrap();
    // What of the blast was forwarded by now fits the cap over the time since it began (an
    // upper bound however slowly the test runs: the bucket holds at most its burst when the
    // blast begins, and the attacker sent nothing before).
    while let Ok((publisher, payload)) = tap.try_recv() {
        if publisher == ATTACKER {
            attacker_bytes += payload.len() as u64;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "blast: {attacker_bytes} bytes forwarded in {elapsed:?}, {} packets dropped over the cap",
        sfu.over_cap_drops()
    );
    let allowed = AUDIO_BURST_BYTES as f64 + AUDIO_BYTES_PER_SECOND as f64 * elapsed.as_secs_f64();
    assert!(
        (attacker_bytes as f64) <= allowed,
        "{attacker_bytes} bytes of the blast forwarded in {elapsed:?}, cap {allowed}"
    );
    assert!(sfu.over_cap_drops() > 0);
}
