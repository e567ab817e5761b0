//! Mouth-to-ear latency of the audio pipeline without the network: a sender's real
//! [`AudioPipeline`] (capture frame → Opus → SFrame) hands every frame straight to a receiver's
//! real pipeline (SFrame → jitter buffer → Opus → mix → sink), both driven on a virtual 20 ms
//! clock exactly as `media_session` drives them. The source is silence with short 1 kHz
//! bursts starting at known samples; the latency of each burst is where its onset shows up in
//! the played stream, so it counts every frame of buffering (capture framing, jitter buffer
//! target delay) and the codec's own delay. The CPU time of each stage is measured with a
//! real clock on the side.
//!
//! Run: `cargo run --release -p conclave-tests --example pipeline_latency -- [BURSTS] [PHASE_MS]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/two_members.rs"]
mod two_members;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_media::pipeline::AudioPipeline;
use conclave_media::{
    AudioSink, AudioSource, FRAME_MS, FRAME_SAMPLES, MediaPipelineError, SAMPLE_RATE,
};
use two_members::two_members;

const USAGE: &str = "\
pipeline_latency [BURSTS] [PHASE_MS]

Measures mouth-to-ear latency through the real audio pipeline (no network, no devices):
capture framing + Opus + SFrame + jitter buffer + decode + mix, on a virtual 20 ms clock.
BURSTS (default 50) 1 kHz bursts are sent, each starting at a different sample of its frame.
PHASE_MS (0–19, default 0): the receiver's 20 ms tick comes this long after each frame arrives
(two devices' clocks are not aligned).";

/// Samples between burst starts (0.5 s, plus an odd offset so onsets sweep the frame).
const BURST_PERIOD: usize = 24_000 + 137;
const BURST_SAMPLES: usize = 4_800;
const AMPLITUDE: f64 = 10_000.0;
/// An output sample this loud counts as the burst having arrived.
const ONSET_THRESHOLD: i16 = 2_000;

/// Silence with 100 ms bursts of 1 kHz every ~0.5 s; remembers where each burst starts.
struct BurstSource {
    next_sample: usize,
    end: usize,
}

impl BurstSource {
    fn onsets(count: usize) -> Vec<usize> {
        (0..count).map(|k| (k + 1) * BURST_PERIOD).collect()
    }

    fn sample(index: usize) -> i16 {
        if index < BURST_PERIOD {
            return 0;
        }
        let offset = index % BURST_PERIOD;
        if offset >= BURST_SAMPLES {
            return 0;
        }
        let t = offset as f64 / f64::from(SAMPLE_RATE);
        (AMPLITUDE * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
    }
}

impl AudioSource for BurstSource {
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        if self.next_sample >= self.end {
            return Ok(false);
        }
        for (i, sample) in frame.iter_mut().enumerate() {
            *sample = Self::sample(self.next_sample + i);
        }
        self.next_sample += frame.len();
        Ok(true)
    }
}

/// Keeps every played sample.
struct Playback(Arc<Mutex<Vec<i16>>>);

impl AudioSink for Playback {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        self.0.lock().unwrap().extend_from_slice(frame);
        Ok(())
    }
}

fn stats(label: &str, mut values: Vec<f64>, unit: &str) {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    println!(
        "{label}: median {:.2} {unit}, min {:.2}, p95 {:.2}, max {:.2} (n = {})",
        at(0.5),
        values[0],
        at(0.95),
        values[values.len() - 1],
        values.len()
    );
}

fn main() {
    conclave_tests::log_to_stderr();
    let argument = std::env::args().nth(1);
    if argument
        .as_deref()
        .is_some_and(|a| a == "--help" || a == "-h")
    {
        println!("{USAGE}");
        return;
    }
    let bursts: usize = argument.and_then(|a| a.parse().ok()).unwrap_or(50);
    let phase_ms: u32 = match std::env::args().nth(2).map(|a| a.parse::<u32>()) {
        None => 0,
        Some(Ok(phase)) if phase < FRAME_MS => phase,
        Some(_) => panic!("PHASE_MS must be 0–{}\n{USAGE}", FRAME_MS - 1),
    };
    let phase = Duration::from_millis(u64::from(phase_ms));
    let (sender_member, receiver_member) = two_members("sender", "receiver");
    let frames = (bursts + 2) * BURST_PERIOD / FRAME_SAMPLES;
    let source = BurstSource {
        next_sample: 0,
        end: frames * FRAME_SAMPLES,
    };
    let played = Arc::new(Mutex::new(Vec::new()));
    let mut sender = AudioPipeline::new(Some(Box::new(source)), None).unwrap();
    let mut receiver =
        AudioPipeline::new(None, Some(Box::new(Playback(Arc::clone(&played))))).unwrap();

    let origin = Instant::now();
    let sender_keys = sender_member.epoch_keys().unwrap();
    let receiver_keys = receiver_member.epoch_keys().unwrap();
    sender
        .update_keys(
            &sender_keys,
            sender_member.own_leaf_index().unwrap(),
            origin,
        )
        .unwrap();
    receiver
        .update_keys(
            &receiver_keys,
            receiver_member.own_leaf_index().unwrap(),
            origin,
        )
        .unwrap();

    let (mut send_cpu, mut receive_cpu, mut play_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for tick in 0..frames as u64 {
        // Virtual time: tick k happens at k × 20 ms. The frame the source hands over at tick k
        // was captured during the 20 ms before it; the mix produced at tick k starts playing
        // at tick k.
        let now = origin + Duration::from_millis(tick * u64::from(FRAME_MS));
        let started = Instant::now();
        let outgoing = sender.next_outgoing().unwrap();
        let sent = Instant::now();
        if let Some(wire) = outgoing {
            receiver.incoming(&wire, now);
            send_cpu.push((sent - started).as_secs_f64() * 1e6);
            receive_cpu.push(sent.elapsed().as_secs_f64() * 1e6);
        }
        let ticked = Instant::now();
        // The receiver's own 20 ms clock ticks `phase` after the frame arrived.
        receiver.tick(now + phase).unwrap();
        play_cpu.push(ticked.elapsed().as_secs_f64() * 1e6);
    }

    let played = played.lock().unwrap();
    let frame_ms = f64::from(FRAME_MS);
    let mut latencies = Vec::new();
    for onset in BurstSource::onsets(bursts) {
        // Captured at onset/48 kHz − 20 ms on the tick timeline (its frame is handed over at
        // the end of the frame); played at position/48 kHz.
        let Some(heard) = played[onset..]
            .iter()
            .position(|s| s.abs() >= ONSET_THRESHOLD)
        else {
            continue;
        };
        let samples_per_ms = f64::from(SAMPLE_RATE) / 1000.0;
        // The mix of a tick plays from that tick, `phase` after the sender's.
        latencies.push(heard as f64 / samples_per_ms + frame_ms + f64::from(phase_ms));
    }
    assert!(
        latencies.len() * 10 >= bursts * 9,
        "only {} of {bursts} bursts were heard",
        latencies.len()
    );
    println!(
        "mouth-to-ear without network, receiver ticks {phase_ms} ms after each arrival \
         ({bursts} bursts):"
    );
    stats("  latency", latencies.clone(), "ms");
    let median = {
        latencies.sort_by(f64::total_cmp);
        latencies[latencies.len() / 2]
    };
    // The codec's delay is what is left over whole frames once framing and phase are taken out.
    let phase = f64::from(phase_ms);
    let codec_delay = (median - frame_ms - phase).rem_euclid(frame_ms);
    println!(
        "  components: capture framing {frame_ms:.0} ms + jitter buffer and tick phase {:.0} ms \
         + codec delay ≈ {codec_delay:.1} ms",
        median - frame_ms - codec_delay,
    );
    println!("CPU per 20 ms frame (real clock):");
    stats("  capture frame → Opus → SFrame", send_cpu, "µs");
    stats("  SFrame open → jitter buffer", receive_cpu, "µs");
    stats("  jitter buffer → Opus decode → mix → sink", play_cpu, "µs");
}
