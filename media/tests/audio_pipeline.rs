//! The audio path end to end, without the network: A's known tone sequence is Opus-encoded,
//! SFrame-encrypted with the MLS epoch keys, sent over an in-process transport that loses 10 %
//! of packets at random and reorders some, then B and C decrypt, buffer, decode (FEC and
//! concealment for the losses) and record. Each recording must carry the same tones.
//!
//! Tolerance: in every 100 ms window away from tone boundaries, the sent tone must be the
//! strongest of the candidate frequencies by at least 10× in power (10 dB), and no 20 ms
//! frame of playout may be missing (audio stays continuous).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use conclave_e2ee::group::{GroupMember, validate_key_package};
use conclave_e2ee::media_keys::{MediaKeyConfig, MediaReceiver, MediaSender};
use conclave_media::audio::{AudioDecoder, AudioEncoder, AudioEncoderConfig};
use conclave_media::jitter::{JitterBuffer, Playout};
use conclave_media::signal::{ToneSource, dominant_tone};
use conclave_media::{AudioSource, FRAME_MS, FRAME_SAMPLES};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

const NOW: u64 = 1_800_000_000;
const TONES: [f64; 4] = [440.0, 660.0, 990.0, 1320.0];
const FRAMES_PER_TONE: u32 = 25; // 500 ms each

fn group_of_three() -> Vec<GroupMember> {
    let mut a = GroupMember::guest("A").unwrap();
    a.create_group(b"audio-test", Vec::new()).unwrap();
    let mut joiners = vec![
        GroupMember::guest("B").unwrap(),
        GroupMember::guest("C").unwrap(),
    ];
    let key_packages = joiners
        .iter()
        .map(|j| validate_key_package(&j.key_package().unwrap(), None, NOW).unwrap())
        .collect();
    let outgoing = a.commit(key_packages, &[]).unwrap();
    a.confirm_commit().unwrap();
    let welcome = outgoing.welcome.unwrap();
    for joiner in &mut joiners {
        joiner.join(&welcome).unwrap();
    }
    let mut members = vec![a];
    members.extend(joiners);
    members
}

struct Listener {
    receiver: MediaReceiver,
    buffer: JitterBuffer,
    decoder: AudioDecoder,
    recording: Vec<i16>,
}

impl Listener {
    fn play_one_frame(&mut self, now: Instant) {
        let mut frame = vec![0i16; FRAME_SAMPLES];
        match self.buffer.pop(now) {
            Playout::Waiting => return,
            Playout::Packet(packet) => {
                if self.decoder.decode(&packet, &mut frame).is_err() {
                    self.decoder.conceal(&mut frame).unwrap();
                }
            }
            Playout::Recover(next) => self.decoder.recover(&next, &mut frame).unwrap(),
            Playout::Conceal => self.decoder.conceal(&mut frame).unwrap(),
        }
        self.recording.extend_from_slice(&frame);
    }
}

#[test]
fn a_tone_sequence_survives_sframe_and_ten_percent_loss_at_every_listener() {
    let members = group_of_three();
    let config = MediaKeyConfig::default();
    let keys = members[0].epoch_keys().unwrap();
    let mut sender = MediaSender::new(config, &keys, members[0].own_leaf_index().unwrap()).unwrap();
    let mut listeners: Vec<Listener> = members[1..]
        .iter()
        .map(|m| Listener {
            receiver: MediaReceiver::new(config, m.epoch_keys().unwrap()).unwrap(),
            buffer: JitterBuffer::new(),
            decoder: AudioDecoder::new().unwrap(),
            recording: Vec::new(),
        })
        .collect();

    let steps = TONES.iter().map(|f| (*f, FRAMES_PER_TONE)).collect();
    let mut source = ToneSource::new(steps);
    let mut encoder = AudioEncoder::new(AudioEncoderConfig::default()).unwrap();
    let mut rng = StdRng::seed_from_u64(9605);
    let start = Instant::now();
    let mut in_flight: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut pcm = vec![0i16; FRAME_SAMPLES];
    let (mut sent, mut lost, mut bytes) = (0u32, 0u32, 0usize);
    let mut sequence = 0u64;
    let total_ticks = TONES.len() as u32 * FRAMES_PER_TONE + 10;
    for tick in 0..total_ticks {
        let now = start + Duration::from_millis(u64::from(tick * FRAME_MS));
        if source.next_frame(&mut pcm).unwrap() {
            if let Some(packet) = encoder.encode(&pcm).unwrap() {
                // The clear metadata is the sequence number; SFrame authenticates it.
                let metadata = sequence.to_be_bytes();
                let mut wire = Vec::new();
                sender.encrypt_into(&metadata, packet, &mut wire).unwrap();
                bytes += wire.len();
                sent += 1;
                if rng.gen_bool(0.10) {
                    lost += 1;
                } else {
                    // 0–35 ms of network delay: some packets overtake others.
                    let delay = Duration::from_millis(rng.gen_range(0..35));
                    in_flight.push((now + delay, wire));
                }
            }
            sequence += 1;
        }
        // Deliver what has arrived by now, in arrival order.
        in_flight.sort_by_key(|(at, _)| *at);
        let arrived: Vec<(Instant, Vec<u8>)> = {
            let split = in_flight.partition_point(|(at, _)| *at <= now);
            in_flight.drain(..split).collect()
        };
        for (at, wire) in arrived {
            for listener in &mut listeners {
                let mut clear = Vec::new();
                let frame = listener
                    .receiver
                    .decrypt_into(&wire, 8, &mut clear, at)
                    .unwrap();
                let seq = u64::from_be_bytes(frame.metadata.try_into().unwrap());
                listener.buffer.push(seq, frame.payload.to_vec(), at);
            }
        }
        for listener in &mut listeners {
            listener.play_one_frame(now);
        }
    }
    assert!(
        lost >= 5,
        "the transport must really lose packets ({lost} of {sent})"
    );
    let per_frame = bytes as f64 / f64::from(sent);
    println!("sent {sent} frames, lost {lost}, {per_frame:.1} bytes per encrypted frame");

    for (index, listener) in listeners.iter().enumerate() {
        let stats = listener.buffer.stats();
        assert!(
            stats.recovered + stats.concealed >= u64::from(lost) / 2,
            "{stats:?}"
        );
        // Find where the first tone starts in the recording (playout delay), then check each
        // tone's middle 300 ms.
        let frame_power = |i: usize| {
            listener.recording[i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES]
                .iter()
                .map(|s| i64::from(*s).abs())
                .sum::<i64>()
        };
        let frames = listener.recording.len() / FRAME_SAMPLES;
        let onset = (0..frames).find(|i| frame_power(*i) > 1_000_000).unwrap();
        for (k, tone) in TONES.iter().enumerate() {
            let first = onset + k * FRAMES_PER_TONE as usize + 5;
            for window in 0..3 {
                let from = (first + window * 5) * FRAME_SAMPLES;
                let samples = &listener.recording[from..from + 5 * FRAME_SAMPLES];
                let (found, margin) = dominant_tone(samples, &TONES).unwrap();
                assert_eq!(found, *tone, "listener {index}, tone {k}, window {window}");
                assert!(
                    margin > 10.0,
                    "listener {index}, tone {tone}: only {margin:.1}×"
                );
            }
        }
        // Continuous: from the onset to the end of the last tone, no silent frame.
        let last = onset + TONES.len() * FRAMES_PER_TONE as usize - 1;
        for i in onset..last {
            assert!(
                frame_power(i) > 100_000,
                "listener {index}: frame {i} is silent"
            );
        }
    }
}

#[test]
fn silence_costs_almost_nothing_with_dtx() {
    let mut encoder = AudioEncoder::new(AudioEncoderConfig::default()).unwrap();
    let silence = vec![0i16; FRAME_SAMPLES];
    let mut sent = 0;
    for _ in 0..100 {
        if encoder.encode(&silence).unwrap().is_some() {
            sent += 1;
        }
    }
    assert!(
        sent < 20,
        "DTX should suppress most silent frames, sent {sent} of 100"
    );
    assert!(
        encoder.encode(&[0i16; 10]).is_err(),
        "wrong frame sizes are refused"
    );
    let mut decoder = AudioDecoder::new().unwrap();
    let mut out = vec![0i16; FRAME_SAMPLES];
    assert!(
        decoder.decode(&[0xff, 0xff, 0xff], &mut out).is_err(),
        "garbage is an error"
    );
    decoder.conceal(&mut out).unwrap();
}

/// The SFU's receiver reports steer how much loss Opus's in-band FEC is planned for: a rise
/// at once, a fall slowly, within bounds; bad figures cannot push it out of range.
#[test]
fn the_fec_plan_follows_the_reported_loss_up_at_once_and_down_slowly() {
    use conclave_media::pipeline::{
        AudioPipeline, MAX_EXPECTED_LOSS_PERCENT, MIN_EXPECTED_LOSS_PERCENT,
    };
    let mut pipeline = AudioPipeline::new(None, None).expect("pipeline");
    let planned = |p: &AudioPipeline| p.stats().expected_loss_percent;
    assert_eq!(planned(&pipeline), 10, "the default before any report");
    pipeline.on_loss_report(64).expect("report"); // 25 %
    assert_eq!(planned(&pipeline), 25);
    let falling: Vec<i32> = (0..12)
        .map(|_| {
            pipeline.on_loss_report(0).expect("report");
            planned(&pipeline)
        })
        .collect();
    assert_eq!(
        falling,
        [23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 5, 5],
        "a clean path lowers it two points a report, down to the floor"
    );
    assert_eq!(MIN_EXPECTED_LOSS_PERCENT, 5);
    pipeline.on_loss_report(255).expect("report");
    assert_eq!(planned(&pipeline), MAX_EXPECTED_LOSS_PERCENT);
    assert_eq!(pipeline.stats().loss_reports, 14);
}

/// A source that counts the frames read from it (a microphone that must keep being read).
struct CountingTone {
    tone: ToneSource,
    read: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl AudioSource for CountingTone {
    fn next_frame(
        &mut self,
        frame: &mut [i16],
    ) -> Result<bool, conclave_media::MediaPipelineError> {
        self.read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tone.next_frame(frame)
    }
}

/// One mute everywhere (app and CLI): a muted member sends nothing at all, not encoded
/// silence, while its microphone keeps being read so that unmuting sends live audio rather
/// than what was captured while muted.
#[test]
fn a_muted_member_sends_nothing_and_keeps_reading_the_microphone() {
    let members = group_of_three();
    let keys = members[0].epoch_keys().unwrap();
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let source = CountingTone {
        tone: ToneSource::new(vec![(440.0, 200)]),
        read: std::sync::Arc::clone(&read),
    };
    let mut pipeline =
        conclave_media::pipeline::AudioPipeline::new(Some(Box::new(source)), None).unwrap();
    pipeline
        .update_keys(&keys, members[0].own_leaf_index().unwrap(), Instant::now())
        .unwrap();
    let sent_unmuted = (0..10)
        .filter(|_| pipeline.next_outgoing().unwrap().is_some())
        .count();
    assert!(sent_unmuted >= 9, "a tone is sent: {sent_unmuted} of 10");

    pipeline.set_muted(true);
    let sent_muted = (0..50)
        .filter(|_| pipeline.next_outgoing().unwrap().is_some())
        .count();
    assert_eq!(sent_muted, 0, "nothing leaves a muted member");
    assert_eq!(read.load(std::sync::atomic::Ordering::Relaxed), 60);
    assert_eq!(pipeline.stats().frames_sent as usize, sent_unmuted);

    pipeline.set_muted(false);
    assert!(
        pipeline.next_outgoing().unwrap().is_some(),
        "unmuted sends again"
    );
}
