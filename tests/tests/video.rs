//! Video through the real server: the host sends the test pattern (H.264, SFrame per NAL unit,
//! RTP), two guests receive pictures the recognizer accepts, the SFU forwards nothing a
//! decoder can use, and a guest who joins mid-stream gets a picture through the keyframe
//! request path (PLI from the SFU, keyframe from the sender) — the sender's periodic keyframe
//! interval (300 frames, 20 s) is far longer than the test.
//!
//! Tolerance: every bar's average color within 40 (of 255) per channel of the pattern's
//! (`pattern::DEFAULT_TOLERANCE`).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_core::client::MeetingClient;
use conclave_core::client::media_session::MediaSession;
use conclave_media::h264::{VideoDecoder, VideoEncoder, VideoEncoderConfig};
use conclave_media::pattern::{DEFAULT_TOLERANCE, TestPattern, is_test_pattern};
use conclave_media::pipeline::AudioPipeline;
use conclave_media::video_pipeline::{VideoPipeline, VideoStats};
use conclave_rtc::bottleneck::Bottleneck;
use conclave_rtc::nal::split_annex_b;
use conclave_rtc::transport::LinkOptions;
use conclave_tests::media::{self, Meeting, Shown, start_media, udp, watcher};
use conclave_tests::{PATIENCE, in_meeting, wait};
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer as _;

/// Starts silent audio plus `video` on loopback UDP without loss.
async fn start_video(client: &mut MeetingClient, video: VideoPipeline) -> MediaSession {
    let audio = AudioPipeline::new(None, None).unwrap();
    start_media(client, audio, Some(video), &udp(None)).await.0
}

/// Starts silent audio plus `pattern` as the camera, at the default encoder settings, on
/// the sockets `options` names.
async fn start_camera(
    client: &mut MeetingClient,
    pattern: TestPattern,
    options: &LinkOptions,
) -> MediaSession {
    let sender =
        VideoPipeline::new(Some(Box::new(pattern)), None, VideoEncoderConfig::default()).unwrap();
    let audio = AudioPipeline::new(None, None).unwrap();
    start_media(client, audio, Some(sender), options).await.0
}

/// Starts silent audio and a watching video pipeline on the sockets `options` names.
async fn start_watching(
    client: &mut MeetingClient,
    options: &LinkOptions,
) -> (MediaSession, Shown) {
    let (pipeline, shown) = watcher();
    let audio = AudioPipeline::new(None, None).unwrap();
    (
        start_media(client, audio, Some(pipeline), options).await.0,
        shown,
    )
}

fn recognized(shown: &Shown) -> Vec<u32> {
    shown
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, f)| is_test_pattern(f, DEFAULT_TOLERANCE))
        .map(|(leaf, _)| *leaf)
        .collect()
}

/// Waits (bounded by PATIENCE, a failure guard) until `shown` holds `count` pattern pictures.
async fn until_recognized(shown: &Shown, count: usize, who: &str) {
    until_recognized_within(shown, count, who, PATIENCE).await;
}

async fn until_recognized_within(shown: &Shown, count: usize, who: &str, guard: Duration) {
    let start = Instant::now();
    while recognized(shown).len() < count {
        assert!(
            start.elapsed() < guard,
            "{who} recognized only {} pictures",
            recognized(shown).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pattern_reaches_every_member_and_the_sfu_sees_no_usable_video() {
    let Meeting {
        server,
        created: meeting,
        mut host,
        mut guests,
    } = media::meeting(&["Aiko", "Ben"]).await;
    let host_leaf = host.snapshot().own_leaf.unwrap();

    let sfu = Arc::clone(server.running.hub().sfu());
    let (tap_tx, mut tap_rx) = tokio::sync::mpsc::unbounded_channel();
    sfu.set_video_tap(tap_tx);

    let mut watchers = Vec::new();
    for guest in &mut guests {
        let (pipeline, shown) = watcher();
        watchers.push((start_video(guest, pipeline).await, shown));
    }
    let pattern = TestPattern::new(320, 240).unwrap();
    let sender =
        VideoPipeline::new(Some(Box::new(pattern)), None, VideoEncoderConfig::default()).unwrap();
    let camera = start_video(&mut host, sender).await;

    for (i, (_, shown)) in watchers.iter().enumerate() {
        until_recognized(shown, 20, &format!("guest {i}")).await;
    }
    for (i, (session, shown)) in watchers.iter().enumerate() {
        // One snapshot: pictures keep arriving while we look.
        let pictures = shown.lock().unwrap().clone();
        assert!(
            pictures.iter().all(|(leaf, _)| *leaf == host_leaf),
            "guest {i}"
        );
        // Loopback loses nothing: every picture shown is the pattern.
        let bad: Vec<usize> = (0..pictures.len())
            .filter(|k| !is_test_pattern(&pictures[*k].1, DEFAULT_TOLERANCE))
            .collect();
        assert!(
            bad.is_empty(),
            "guest {i}: pictures {bad:?} of {}",
            pictures.len()
        );
        let stats = session.video_stats();
        assert_eq!(stats.frames_refused, 0, "guest {i}: {stats:?}");
    }

    // --- A newcomer mid-stream gets a picture through the keyframe request path.
    let requests_before = sfu.keyframe_requests_sent();
    let answered_before = camera.video_stats().keyframes_on_request;
    let mut newcomer = server.guest_joins("Chika", &meeting).await;
    let epoch = in_meeting(&mut newcomer).await.epoch.unwrap();
    wait(&mut host, "newcomer keyed", |s| s.epoch == Some(epoch)).await;
    let (pipeline, late_shown) = watcher();
    let late = start_video(&mut newcomer, pipeline).await;
    until_recognized(&late_shown, 3, "the newcomer").await;
    assert!(
        sfu.keyframe_requests_sent() > requests_before,
        "the SFU asked the sender for a keyframe"
    );
    let camera_stats = camera.video_stats();
    assert!(
        camera_stats.keyframes_on_request > answered_before,
        "the sender answered with a keyframe: {camera_stats:?}"
    );
    assert!(camera_stats.keyframes_sent < camera_stats.frames_sent / 2);
    assert_eq!(
        (camera_stats.send_width, camera_stats.quality_steps_down),
        (320, 0),
        "a clean path keeps the configured quality: {camera_stats:?}"
    );
    late.stop().await;

    // --- What the SFU forwarded is useless without the keys.
    camera.stop().await;
    for (session, _) in watchers {
        session.stop().await;
    }
    let mut units = Vec::new();
    while let Ok((_, unit)) = tap_rx.try_recv() {
        units.push(unit);
    }
    assert!(units.len() >= 20, "tapped {} access units", units.len());
    let mut decoder = VideoDecoder::new().unwrap();
    let mut pictures = 0;
    let mut nal_units = Vec::new();
    for unit in &units {
        let mut depacketizer = H264Packet::default();
        let mut access_unit = Vec::new();
        for payload in unit.iter() {
            if let Ok(bytes) = depacketizer.depacketize(&Bytes::copy_from_slice(payload)) {
                access_unit.extend_from_slice(&bytes);
            }
        }
        nal_units.extend(split_annex_b(&access_unit).iter().map(|n| n.to_vec()));
        if matches!(decoder.decode(&access_unit), Ok(Some(_))) {
            pictures += 1;
        }
    }
    assert_eq!(
        pictures, 0,
        "an H.264 decoder gets no picture from the SFU's view"
    );
    // The sender's real parameter sets (the same encoder settings give the same SPS/PPS) and
    // its IDR slice never cross the SFU in clear.
    let mut encoder = VideoEncoder::new(VideoEncoderConfig::default()).unwrap();
    let clear = encoder
        .encode(&TestPattern::new(320, 240).unwrap().frame(0))
        .unwrap()
        .unwrap();
    let clear_units = split_annex_b(&clear.access_unit);
    let clear_sps = clear_units.iter().find(|n| n[0] & 0x1f == 7).unwrap();
    let clear_pps = clear_units.iter().find(|n| n[0] & 0x1f == 8).unwrap();
    let tapped_sps: Vec<&Vec<u8>> = nal_units.iter().filter(|n| n[0] & 0x1f == 7).collect();
    assert!(!tapped_sps.is_empty(), "keyframes were forwarded");
    for nal in &nal_units {
        assert_ne!(nal.as_slice(), *clear_sps);
        assert_ne!(nal.as_slice(), *clear_pps);
        assert!(
            !nal.windows(clear_sps.len() - 1)
                .any(|w| w == &clear_sps[1..]),
            "no clear SPS body inside any forwarded NAL unit"
        );
    }
    // Only the clear NAL header byte (type and importance) is readable, by design.
    let types: std::collections::BTreeSet<u8> = nal_units.iter().map(|n| n[0] & 0x1f).collect();
    assert!(
        types.is_subset(&[1, 5, 7, 8].into_iter().collect()),
        "{types:?}"
    );
}

/// 10 % of datagrams dropped each way on both the sender's and the watcher's links: the SFU and
/// the watcher wait briefly for NACK retransmissions, so most pictures arrive whole; pictures
/// that cannot be repaired are dropped whole (never shown broken) and the watcher asks for
/// keyframes; the SFU's loss reports reach the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_recovers_through_keyframe_requests_under_ten_percent_loss() {
    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = media::meeting(&["Watcher"]).await;
    let lossy = udp(Some(10.0));
    let (watching, shown) = start_watching(&mut guests[0], &lossy).await;
    let camera = start_camera(&mut host, TestPattern::new(320, 240).unwrap(), &lossy).await;

    // Ten seconds of pictures (150 at 15 fps), so the loss surely hit both hops often.
    let guard = Duration::from_secs(60);
    let start = Instant::now();
    while camera.video_stats().frames_sent < 150 {
        assert!(start.elapsed() < guard, "{:?}", camera.video_stats());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let watcher_stats = watching.video_stats();
    let camera_stats = camera.video_stats();
    println!("10 % loss each way, both links: watcher {watcher_stats:?}; camera {camera_stats:?}");
    camera.stop().await;
    watching.stop().await;

    let pictures = shown.lock().unwrap().clone();
    let broken = pictures
        .iter()
        .filter(|(_, f)| !is_test_pattern(f, DEFAULT_TOLERANCE))
        .count();
    assert_eq!(broken, 0, "no damaged picture is shown");
    assert!(
        watcher_stats.packets_repaired > 0,
        "the loss did hit video and retransmissions filled gaps: {watcher_stats:?}"
    );
    assert!(
        watcher_stats.keyframe_requests > 0,
        "the watcher asked for keyframes: {watcher_stats:?}"
    );
    // Whether the sender had to answer a keyframe request depends on the luck of the loss (NACK
    // may repair everything, and the first request may itself be lost): not asserted here; the
    // newcomer in the test above covers that path.
    // NACK repairs through the SFU keep most pictures (88 % measured, docs/performance.md);
    // a third leaves room for a busy machine.
    assert!(
        pictures.len() * 3 > camera_stats.frames_sent as usize,
        "{} of {} pictures shown: {watcher_stats:?}",
        pictures.len(),
        camera_stats.frames_sent
    );
    assert!(
        camera_stats.loss_reports > 0,
        "the SFU's loss reports reach the sender: {camera_stats:?}"
    );
}

/// Video obeys the same forwarding gate as audio: once expelled, a member gets no more
/// pictures (the SFU stops forwarding, and the new epoch's keys never reach them), while
/// the others keep seeing the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expelled_member_sees_no_picture_after_the_expel_while_the_others_still_do() {
    let Meeting {
        server: _server,
        mut host,
        guests,
        ..
    } = media::meeting(&["Stays", "Expelled"]).await;
    let [mut stays, mut expelled]: [_; 2] = guests.try_into().ok().unwrap();
    let epoch = expelled.snapshot().epoch.unwrap();

    let (pipeline, stays_shown) = watcher();
    let stays_media = start_video(&mut stays, pipeline).await;
    let (pipeline, expelled_shown) = watcher();
    let expelled_media = start_video(&mut expelled, pipeline).await;
    let camera = VideoPipeline::new(
        Some(Box::new(TestPattern::new(320, 240).unwrap())),
        None,
        VideoEncoderConfig::default(),
    )
    .unwrap();
    let camera = start_video(&mut host, camera).await;
    until_recognized(&expelled_shown, 3, "the member to be expelled").await;
    until_recognized(&stays_shown, 3, "the member who stays").await;

    media::expel(&mut host, &mut expelled, epoch).await;
    let seen_at_expel = expelled_shown.lock().unwrap().len();
    let received_at_expel = expelled_media.video_stats().frames_received;
    let stays_at_expel = stays_shown.lock().unwrap().len();
    // 1.5 s is over 20 pictures at 15 fps.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let seen_after = expelled_shown.lock().unwrap().len();
    assert!(
        seen_after <= seen_at_expel + 1,
        "pictures kept reaching the expelled member: {seen_at_expel} → {seen_after}"
    );
    // Not only undecryptable (the new epoch's keys never reached them): not forwarded at all.
    let received_after = expelled_media.video_stats().frames_received;
    assert!(
        received_after <= received_at_expel + 2,
        "the SFU kept forwarding to the expelled member: {received_at_expel} → {received_after}"
    );
    until_recognized(
        &stays_shown,
        stays_at_expel + 5,
        "the member who stays, after",
    )
    .await;
    camera.stop().await;
    stays_media.stop().await;
    expelled_media.stop().await;
}

/// Congestion rather than random loss: the host's uplink carries 150 kbit/s through a 200 ms
/// queue (what overflows is dropped), and the camera's noisy picture fills the 300 kbit/s the
/// encoder is configured for. The SFU's receiver reports show the loss, the sender steps down
/// the ladder until its stream fits, and then the watcher sees the pattern steadily again,
/// with the SFU reporting a clean uplink. (Without adaptation the same link shows nothing:
/// `video_loss -- 40 0 fixed --uplink-kbps 150`, docs/performance.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_steps_down_to_fit_a_narrow_uplink_and_pictures_flow_again() {
    let Meeting {
        server: _server,
        mut host,
        mut guests,
        ..
    } = media::meeting(&["Watcher"]).await;
    let (watching, shown) = start_watching(&mut guests[0], &udp(None)).await;
    let uplink = Bottleneck::kbps(150.0).unwrap();
    let narrow = LinkOptions {
        simulated_uplink: Some(uplink),
        ..udp(None)
    };
    let noisy = TestPattern::new(320, 240).unwrap().with_noise();
    let camera = start_camera(&mut host, noisy, &narrow).await;

    // The configured 300 kbit/s cannot cross: the sender steps down until its rung fits.
    let guard = Duration::from_secs(60);
    let start = Instant::now();
    let fits = |stats: &VideoStats| {
        stats.quality_steps_down > 0 && u64::from(stats.send_bitrate_bps) <= uplink.rate_bps()
    };
    while !fits(&camera.video_stats()) {
        assert!(
            start.elapsed() < guard,
            "the sender never stepped down: {:?}",
            camera.video_stats()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let adapted = camera.video_stats();
    assert!(
        adapted.loss_reports > 0 && adapted.frames_skipped > 0,
        "the SFU reported the loss, and the encoder held its bitrate by skipping: {adapted:?}"
    );

    // Then pictures flow again: a 5 s window in which the watcher shows most of what is sent,
    // what is sent (RTP payload) fits the link, and the SFU reports under 10 % uplink loss. A
    // window in which the sender tried the next rung up (every 10 s) may miss; the next one is
    // tried, up to the guard.
    let window = Duration::from_secs(5);
    loop {
        assert!(
            start.elapsed() < guard,
            "pictures never flowed again: watcher {:?}, camera {:?}",
            watching.video_stats(),
            camera.video_stats()
        );
        let (before, shown_before) = (camera.video_stats(), shown.lock().unwrap().len());
        tokio::time::sleep(window).await;
        let (after, shown_after) = (camera.video_stats(), shown.lock().unwrap().len());
        let sent = after.frames_sent - before.frames_sent;
        let seen = (shown_after - shown_before) as u64;
        let sent_bps = (after.bytes_sent - before.bytes_sent) * 8 / window.as_secs();
        println!("window: {seen} of {sent} pictures shown, {sent_bps} bit/s sent; {after:?}");
        let most_shown = sent > 0 && seen * 10 >= sent * 7;
        let fits = sent_bps < uplink.rate_bps();
        let clean = u32::from(after.last_reported_loss) * 10 < 256;
        if most_shown && fits && clean {
            break;
        }
    }
    camera.stop().await;
    watching.stop().await;
    let pictures = shown.lock().unwrap();
    assert!(
        pictures
            .iter()
            .all(|(_, f)| is_test_pattern(f, DEFAULT_TOLERANCE)),
        "every picture shown is the pattern, never a damaged one"
    );
}
