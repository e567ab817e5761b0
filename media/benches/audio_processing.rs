//! CPU of echo cancellation + noise suppression + gain control per 20 ms microphone frame:
//! the loudspeaker's frame fed to the echo canceller, then the microphone frame (echo of it
//! plus a talker) cleaned. Dividing by 20 ms gives the share of one core it needs.
//! Run: `cargo bench -p conclave-media --bench audio_processing`

#![allow(clippy::unwrap_used)]

use std::f64::consts::TAU;
use std::hint::black_box;

use conclave_media::processing::{AudioProcessingConfig, AudioProcessor};
use conclave_media::{FRAME_SAMPLES, SAMPLE_RATE};
use criterion::{Criterion, criterion_group, criterion_main};

/// One second of a tone, as a loop of 50 frames.
fn tone_second(frequency: f64, amplitude: f64) -> Vec<i16> {
    (0..SAMPLE_RATE as usize)
        .map(|n| {
            (amplitude * 32_767.0 * (TAU * frequency * n as f64 / f64::from(SAMPLE_RATE)).sin())
                as i16
        })
        .collect()
}

fn bench(c: &mut Criterion, name: &str, config: AudioProcessingConfig) {
    let far = tone_second(440.0, 0.5);
    let near = tone_second(1_000.0, 0.3);
    let microphone: Vec<i16> = far.iter().zip(&near).map(|(f, n)| f / 4 + n).collect();
    let mut processor = AudioProcessor::new(config).unwrap();
    let mut frame = vec![0i16; FRAME_SAMPLES];
    let mut at = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            processor
                .process_render(&far[at..at + FRAME_SAMPLES])
                .unwrap();
            frame.copy_from_slice(&microphone[at..at + FRAME_SAMPLES]);
            processor.process_capture(&mut frame).unwrap();
            black_box(&frame);
            at = (at + FRAME_SAMPLES) % far.len();
        })
    });
}

fn benches(c: &mut Criterion) {
    bench(
        c,
        "processing: echo + noise + gain, per 20 ms frame",
        AudioProcessingConfig::default(),
    );
    bench(
        c,
        "processing: echo only, per 20 ms frame",
        AudioProcessingConfig {
            echo_cancellation: true,
            noise_suppression: false,
            gain_control: false,
        },
    );
    bench(
        c,
        "processing: noise + gain (no echo), per 20 ms frame",
        AudioProcessingConfig {
            echo_cancellation: false,
            noise_suppression: true,
            gain_control: true,
        },
    );
}

criterion_group!(processing, benches);
criterion_main!(processing);
