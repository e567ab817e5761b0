//! The video pipeline end to end without a network: test pattern → H.264 → SFrame per NAL →
//! RTP payloads → (loss, reordering, garbage) → depacketize → decrypt → decode → recognizer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_e2ee::media_keys::{EpochKeys, MediaSender};
use conclave_media::h264::{VideoDecoder, VideoEncoder, VideoEncoderConfig};
use conclave_media::pattern::{DEFAULT_TOLERANCE, TestPattern, is_test_pattern};
use conclave_media::video_pipeline::VideoPipeline;
use conclave_media::{VideoError, VideoFrame, VideoSink, VideoSource};
use conclave_rtc::reorder::REORDER_WAIT;
use conclave_rtc::video_frame::OutgoingVideoFrame;
use rand::{Rng as _, RngCore as _, SeedableRng as _};

/// The SSRC of the one downstream stream these tests feed (one publisher).
const STREAM: u32 = 0x5eed;

type Shown = Arc<Mutex<Vec<(u32, VideoFrame)>>>;

struct Collect(Shown);

impl VideoSink for Collect {
    fn show(&mut self, sender: u32, frame: &VideoFrame) -> Result<(), VideoError> {
        self.0.lock().expect("lock").push((sender, frame.clone()));
        Ok(())
    }
}

fn keys(epoch: u64) -> EpochKeys {
    EpochKeys::new(
        epoch,
        vec![epoch as u8 + 1; 16],
        [0u32, 1, 2].into_iter().collect(),
    )
}

fn sender() -> VideoPipeline {
    let pattern = TestPattern::new(320, 240).expect("pattern");
    VideoPipeline::new(Some(Box::new(pattern)), None, VideoEncoderConfig::default())
        .expect("sender pipeline")
}

fn receiver() -> (VideoPipeline, Shown) {
    let shown = Shown::default();
    let pipeline = VideoPipeline::new(
        None,
        Some(Box::new(Collect(shown.clone()))),
        VideoEncoderConfig::default(),
    )
    .expect("receiver pipeline");
    (pipeline, shown)
}

/// Delivers a frame's payloads in order with consecutive sequence numbers from `*sequence`.
fn deliver(frame: &OutgoingVideoFrame, to: &mut VideoPipeline, sequence: &mut u16, now: Instant) {
    let last = frame.payloads.len() - 1;
    for (i, payload) in frame.payloads.iter().enumerate() {
        to.incoming(STREAM, payload, *sequence, i == last, now)
            .expect("incoming");
        *sequence = sequence.wrapping_add(1);
    }
}

fn recognized(shown: &Shown) -> usize {
    shown
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, f)| is_test_pattern(f, DEFAULT_TOLERANCE))
        .count()
}

#[test]
fn encoder_and_decoder_carry_the_pattern_and_keyframes_come_on_demand() {
    let mut encoder = VideoEncoder::new(VideoEncoderConfig::default()).expect("encoder");
    let mut decoder = VideoDecoder::new().expect("decoder");
    let pattern = TestPattern::new(320, 240).expect("pattern");
    let mut keyframes = Vec::new();
    for i in 0..10 {
        if i == 6 {
            encoder.force_keyframe();
        }
        let encoded = encoder
            .encode(&pattern.frame(i))
            .expect("encode")
            .expect("frame");
        keyframes.push(encoded.keyframe);
        let picture = decoder
            .decode(&encoded.access_unit)
            .expect("decode")
            .expect("picture");
        assert_eq!((picture.width, picture.height), (320, 240));
        assert!(is_test_pattern(&picture, DEFAULT_TOLERANCE), "frame {i}");
    }
    assert_eq!(
        keyframes,
        [
            true, false, false, false, false, false, true, false, false, false
        ]
    );
    // A frame of the wrong size is a clear error.
    assert!(matches!(
        encoder.encode(&VideoFrame::black(64, 64)),
        Err(VideoError::FrameSize { .. })
    ));
    assert!(matches!(
        VideoEncoder::new(VideoEncoderConfig {
            width: 321,
            ..VideoEncoderConfig::default()
        }),
        Err(VideoError::Resolution { .. })
    ));
}

#[test]
fn pattern_crosses_the_pipeline_and_is_recognized() {
    let now = Instant::now();
    let mut a = sender();
    let (mut b, shown) = receiver();
    a.update_keys(&keys(1), 0, now).expect("keys");
    b.update_keys(&keys(1), 1, now).expect("keys");
    let mut sequence = 40_000;
    for _ in 0..30 {
        let frame = a.next_outgoing(now).expect("encode").expect("frame");
        assert!(frame.payloads.iter().all(|p| p.len() <= 1_150));
        deliver(&frame, &mut b, &mut sequence, now);
    }
    assert_eq!(recognized(&shown), 30, "every frame shows the pattern");
    assert!(
        shown
            .lock()
            .expect("lock")
            .iter()
            .all(|(leaf, _)| *leaf == 0)
    );
    let stats = b.stats();
    assert_eq!(stats.frames_decoded, 30);
    assert_eq!(stats.frames_refused + stats.frames_damaged, 0);
    assert!(b.keyframe_request(now).is_none(), "nothing to ask for");
}

#[test]
fn a_lost_packet_leads_to_a_keyframe_request_answered_once() {
    let mut now = Instant::now();
    let mut a = sender();
    let (mut b, shown) = receiver();
    a.update_keys(&keys(1), 0, now).expect("keys");
    b.update_keys(&keys(1), 1, now).expect("keys");
    let mut sequence = 65_530; // wraps during the test
    for _ in 0..5 {
        let frame = a.next_outgoing(now).expect("encode").expect("frame");
        deliver(&frame, &mut b, &mut sequence, now);
    }
    // Lose the first packet of the next frame.
    let frame = a.next_outgoing(now).expect("encode").expect("frame");
    sequence = sequence.wrapping_add(1);
    for (i, payload) in frame.payloads.iter().enumerate().skip(1) {
        b.incoming(
            STREAM,
            payload,
            sequence,
            i == frame.payloads.len() - 1,
            now,
        )
        .expect("incoming");
        sequence = sequence.wrapping_add(1);
    }
    if frame.payloads.len() == 1 {
        // The whole frame was one packet: the next one reveals the gap.
        let next = a.next_outgoing(now).expect("encode").expect("frame");
        deliver(&next, &mut b, &mut sequence, now);
    }
    assert_eq!(b.stats().frames_damaged, 0, "waiting for a retransmission");
    now += REORDER_WAIT;
    b.poll(now).expect("poll");
    assert_eq!(b.stats().packets_given_up, 1);
    assert!(b.stats().frames_damaged >= 1);
    let wanted = b
        .keyframe_request(now)
        .expect("the loss asks for a keyframe");
    assert!(
        wanted.streams.contains(&STREAM) && !wanted.every_stream,
        "asked of the damaged stream only: {wanted:?}"
    );
    assert!(
        b.keyframe_request(now).is_none(),
        "asked once, not on every packet"
    );
    // The sender answers the first request and ignores a second one right after.
    now += Duration::from_secs(1);
    assert!(a.on_keyframe_request(now));
    assert!(!a.on_keyframe_request(now + Duration::from_millis(10)));
    let before = shown.lock().expect("lock").len();
    let keyframe = a.next_outgoing(now).expect("encode").expect("frame");
    assert!(keyframe.keyframe);
    deliver(&keyframe, &mut b, &mut sequence, now);
    assert_eq!(a.stats().keyframes_on_request, 1);
    let after = shown.lock().expect("lock");
    assert_eq!(after.len(), before + 1);
    assert!(is_test_pattern(&after[before].1, DEFAULT_TOLERANCE));
}

#[test]
fn a_retransmission_within_the_wait_completes_its_picture() {
    let start = Instant::now();
    let mut a = sender();
    let (mut b, shown) = receiver();
    a.update_keys(&keys(1), 0, start).expect("keys");
    b.update_keys(&keys(1), 1, start).expect("keys");
    // The first picture is a keyframe of several packets; the second one goes missing.
    let keyframe = a.next_outgoing(start).expect("encode").expect("frame");
    assert!(keyframe.payloads.len() >= 3, "{}", keyframe.payloads.len());
    let last = keyframe.payloads.len() - 1;
    let sequence = |i: usize| 65_534u16.wrapping_add(i as u16); // wraps inside the picture
    for (i, payload) in keyframe
        .payloads
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
    {
        b.incoming(STREAM, payload, sequence(i), i == last, start)
            .expect("incoming");
    }
    assert_eq!(shown.lock().expect("lock").len(), 0, "waiting for packet 1");
    // The NACK's answer comes 120 ms later.
    let repaired_at = start + Duration::from_millis(120);
    b.poll(repaired_at).expect("poll");
    b.incoming(
        STREAM,
        &keyframe.payloads[1],
        sequence(1),
        false,
        repaired_at,
    )
    .expect("incoming");
    assert_eq!(recognized(&shown), 1, "the picture is complete");
    let stats = b.stats();
    assert_eq!(
        (
            stats.packets_repaired,
            stats.packets_given_up,
            stats.frames_damaged
        ),
        (1, 0, 0)
    );
    assert!(
        b.keyframe_request(repaired_at).is_none(),
        "nothing to ask for"
    );
    // A duplicate of the repaired packet changes nothing.
    b.incoming(
        STREAM,
        &keyframe.payloads[1],
        sequence(1),
        false,
        repaired_at,
    )
    .expect("incoming");
    assert_eq!(b.stats().frames_damaged, 0);
}

#[test]
fn a_newcomer_sees_nothing_until_it_asks_for_a_keyframe() {
    let mut now = Instant::now();
    let mut a = sender();
    a.update_keys(&keys(1), 0, now).expect("keys");
    for _ in 0..5 {
        a.next_outgoing(now).expect("encode").expect("frame");
    }
    let (mut c, shown) = receiver();
    c.update_keys(&keys(1), 2, now).expect("keys");
    c.request_keyframe();
    assert!(
        c.keyframe_request(now).is_some_and(|w| w.every_stream),
        "a new watcher asks every stream at once"
    );
    let mut sequence = 7;
    let delta = a.next_outgoing(now).expect("encode").expect("frame");
    assert!(!delta.keyframe);
    deliver(&delta, &mut c, &mut sequence, now);
    assert_eq!(
        shown.lock().expect("lock").len(),
        0,
        "no reference picture yet"
    );
    now += Duration::from_secs(1);
    assert!(a.on_keyframe_request(now));
    let keyframe = a.next_outgoing(now).expect("encode").expect("frame");
    deliver(&keyframe, &mut c, &mut sequence, now);
    assert_eq!(recognized(&shown), 1);
}

#[test]
fn epoch_change_keeps_old_frames_for_the_grace_window_only() {
    let now = Instant::now();
    let mut a = sender();
    let (mut b, shown) = receiver();
    a.update_keys(&keys(1), 0, now).expect("keys");
    b.update_keys(&keys(1), 1, now).expect("keys");
    let mut sequence = 0;
    let first = a.next_outgoing(now).expect("encode").expect("frame");
    deliver(&first, &mut b, &mut sequence, now);
    // B moves to epoch 2 first; A's epoch-1 frame in flight still plays.
    b.update_keys(&keys(2), 1, now).expect("keys");
    let in_flight = a.next_outgoing(now).expect("encode").expect("frame");
    deliver(&in_flight, &mut b, &mut sequence, now);
    assert_eq!(recognized(&shown), 2);
    // A switches at once; its frames use epoch 2.
    a.update_keys(&keys(2), 0, now).expect("keys");
    let rekeyed = a.next_outgoing(now).expect("encode").expect("frame");
    deliver(&rekeyed, &mut b, &mut sequence, now);
    assert_eq!(recognized(&shown), 3);
    // An epoch-1 frame after the grace window is refused.
    let mut stale_sender = sender();
    stale_sender.update_keys(&keys(1), 0, now).expect("keys");
    let stale = stale_sender
        .next_outgoing(now)
        .expect("encode")
        .expect("frame");
    deliver(&stale, &mut b, &mut sequence, now + Duration::from_secs(10));
    assert_eq!(b.stats().frames_refused, 1);
    assert_eq!(recognized(&shown), 3);
}

#[test]
fn audio_keyed_frames_and_garbage_are_refused_without_panicking() {
    let now = Instant::now();
    let (mut b, shown) = receiver();
    b.update_keys(&keys(1), 1, now).expect("keys");
    // A frame sealed with member 0's *audio* key, shaped like a video NAL unit.
    let mut audio = MediaSender::new(Default::default(), &keys(1), 0).expect("audio sender");
    let au = conclave_media::video::protect_access_unit(&mut audio, &[0, 0, 0, 1, 0x65, 1, 2, 3])
        .expect("protect");
    let payload = &au[4..];
    b.incoming(STREAM, payload, 0, true, now).expect("incoming");
    assert_eq!(b.stats().frames_refused, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut sequence = 1u16;
    for _ in 0..2_000 {
        let mut junk = vec![0u8; rng.gen_range(0..1_400)];
        rng.fill_bytes(&mut junk);
        if rng.gen_bool(0.3) && !junk.is_empty() {
            junk[0] = [0x78, 0x7c, 0x65, 0x67][rng.gen_range(0..4)];
        }
        b.incoming(STREAM, &junk, sequence, rng.gen_bool(0.2), now)
            .expect("garbage is dropped, not an error");
        sequence = sequence.wrapping_add(rng.gen_range(0..3));
    }
    assert_eq!(shown.lock().expect("lock").len(), 0);
    let stats = b.stats();
    assert_eq!(stats.frames_decoded, 0);
    assert!(stats.frames_refused + stats.frames_damaged > 0);
}

#[test]
fn a_source_that_ends_stops_sending() {
    struct Two(u32);
    impl VideoSource for Two {
        fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
            self.0 += 1;
            Ok((self.0 <= 2).then(|| TestPattern::new(320, 240).expect("p").frame(0)))
        }
    }
    let now = Instant::now();
    let mut a = VideoPipeline::new(Some(Box::new(Two(0))), None, VideoEncoderConfig::default())
        .expect("pipeline");
    assert!(a.next_outgoing(now).expect("no keys yet").is_none());
    a.update_keys(&keys(1), 0, now).expect("keys");
    assert!(a.next_outgoing(now).expect("encode").is_some());
    assert!(a.next_outgoing(now).expect("ended").is_none());
    assert!(!a.is_sending());
}

/// Prints what a picture costs on the wire (RTP payload bytes, before RTP/SRTP headers):
/// `cargo test -p conclave-core --test video_pipeline -- --nocapture bytes_per_picture`.
#[test]
fn bytes_per_picture() {
    let now = Instant::now();
    let config = VideoEncoderConfig::default();
    let mut encoder = VideoEncoder::new(config).expect("encoder");
    let pattern = TestPattern::new(320, 240).expect("pattern");
    let mut a = sender();
    a.update_keys(&keys(1), 0, now).expect("keys");
    let (mut clear_key, mut clear_delta, mut wire_key, mut wire_delta) = (0, 0, 0, 0);
    let (mut packets, mut keys_seen, mut deltas) = (0, 0, 0);
    for i in 0..150 {
        let clear = encoder
            .encode(&pattern.frame(i))
            .expect("encode")
            .expect("frame");
        let frame = a.next_outgoing(now).expect("encode").expect("frame");
        assert_eq!(clear.keyframe, frame.keyframe);
        let wire: usize = frame.payloads.iter().map(|p| p.len()).sum();
        packets += frame.payloads.len();
        if frame.keyframe {
            keys_seen += 1;
            clear_key += clear.access_unit.len();
            wire_key += wire;
        } else {
            deltas += 1;
            clear_delta += clear.access_unit.len();
            wire_delta += wire;
        }
    }
    assert_eq!(keys_seen, 1);
    println!(
        "320x240 test pattern, {} kbit/s target, {} fps: keyframe {} B clear → {} B on the wire; \
         delta frame {:.0} B clear → {:.0} B on the wire (mean of {deltas}); {:.2} RTP packets per picture",
        config.bitrate_bps / 1000,
        config.fps,
        clear_key,
        wire_key,
        clear_delta as f64 / deltas as f64,
        wire_delta as f64 / deltas as f64,
        packets as f64 / 150.0
    );
    assert!(wire_delta > clear_delta, "SFrame adds its header and tag");
}

#[test]
fn a_keyframe_right_after_a_lost_frame_is_shown_not_dropped_with_the_gap() {
    let mut now = Instant::now();
    let mut a = sender();
    let (mut b, shown) = receiver();
    a.update_keys(&keys(1), 0, now).expect("keys");
    b.update_keys(&keys(1), 1, now).expect("keys");
    let mut sequence = 100;
    for _ in 0..3 {
        let frame = a.next_outgoing(now).expect("encode").expect("frame");
        deliver(&frame, &mut b, &mut sequence, now);
    }
    // A whole frame lost in transit; the keyframe asked for because of it comes next.
    let lost = a.next_outgoing(now).expect("encode").expect("frame");
    sequence = sequence.wrapping_add(lost.payloads.len() as u16);
    now += Duration::from_secs(1);
    assert!(a.on_keyframe_request(now));
    let keyframe = a.next_outgoing(now).expect("encode").expect("frame");
    assert!(keyframe.keyframe);
    let before = shown.lock().expect("lock").len();
    deliver(&keyframe, &mut b, &mut sequence, now);
    let after = shown.lock().expect("lock").len();
    assert_eq!(after, before + 1, "the repairing keyframe is shown");
    assert!(b.stats().frames_damaged >= 1, "the loss is counted");
    // A continuation fragment after a gap, by contrast, spoils its unit.
    let mut fragment = vec![0x7c, 0x05];
    fragment.extend_from_slice(&[0u8; 20]);
    b.incoming(STREAM, &fragment, sequence.wrapping_add(3), true, now)
        .expect("incoming");
    b.poll(now + REORDER_WAIT).expect("poll");
    assert_eq!(shown.lock().expect("lock").len(), after);
    assert_eq!(b.stats().decode_errors, 0);
}

#[test]
fn a_lossy_path_lowers_the_quality_with_a_keyframe_and_a_clean_one_restores_it() {
    let start = Instant::now();
    let mut a = sender();
    let (mut b, shown) = receiver();
    a.update_keys(&keys(1), 0, start).expect("keys");
    b.update_keys(&keys(1), 1, start).expect("keys");
    let mut sequence = 7;
    let mut now = start;
    let mut send = |a: &mut VideoPipeline, b: &mut VideoPipeline, now: Instant| {
        let frame = a.next_outgoing(now).expect("encode").expect("frame");
        deliver(&frame, b, &mut sequence, now);
        (
            frame.keyframe,
            frame.payloads.iter().map(|p| p.len()).sum::<usize>(),
        )
    };
    let (_, full_bytes) = send(&mut a, &mut b, now);
    assert_eq!((a.stats().send_width, a.stats().send_height), (320, 240));

    // The SFU reports 10 % loss on our uplink, once a second for a while.
    let mut keyframes_at_changes = Vec::new();
    let mut smallest_bytes = usize::MAX;
    for tick in 1..=150u32 {
        now = start + Duration::from_millis(u64::from(tick) * 66);
        if tick % 15 == 0 {
            a.on_loss_report(26, now);
        }
        let before = a.stats().send_width;
        let (keyframe, bytes) = send(&mut a, &mut b, now);
        if a.stats().send_width != before {
            keyframes_at_changes.push(keyframe);
        }
        if a.stats().send_width == 160 && !keyframe {
            smallest_bytes = smallest_bytes.min(bytes);
        }
    }
    let stats = a.stats();
    assert_eq!((stats.send_width, stats.send_height), (160, 120));
    assert!(stats.send_bitrate_bps < 300_000 / 4);
    assert_eq!(stats.quality_steps_down, 4);
    assert!(
        keyframes_at_changes.iter().all(|k| *k),
        "every size change starts with a keyframe: {keyframes_at_changes:?}"
    );
    assert!(smallest_bytes < full_bytes, "fewer bytes per picture");
    let last = shown
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("a picture");
    assert_eq!((last.1.width, last.1.height), (160, 120));
    assert!(
        is_test_pattern(&last.1, DEFAULT_TOLERANCE),
        "still recognizable"
    );
    assert_eq!(b.stats().decode_errors, 0);

    // The path clears: one rung back every ten quiet seconds.
    for tick in 1..=(45 * 15u32) {
        now += Duration::from_millis(66);
        if tick % 15 == 0 {
            a.on_loss_report(0, now);
        }
        send(&mut a, &mut b, now);
    }
    let stats = a.stats();
    assert_eq!(stats.quality_steps_up, 4);
    assert_eq!((stats.send_width, stats.send_height), (320, 240));
    assert!(recognized(&shown) > 700);
}

#[test]
fn a_send_only_pipeline_never_asks_for_keyframes() {
    let now = Instant::now();
    let mut a = sender();
    a.update_keys(&keys(1), 0, now).expect("keys");
    a.request_keyframe();
    assert!(
        a.keyframe_request(now).is_none(),
        "nothing to show, nothing to ask"
    );
    assert_eq!(a.stats().keyframe_requests, 0);
    let (mut b, _) = receiver();
    b.request_keyframe();
    assert!(b.keyframe_request(now).is_some(), "a watcher does ask");
}
