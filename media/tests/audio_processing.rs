//! Echo cancellation, noise suppression and gain control as a listener would notice them:
//! the other side's voice coming back from our loudspeaker is gone, background hiss is
//! quieter, a quiet talker is louder, and our own voice survives all of it.

use std::f64::consts::TAU;
use std::sync::{Arc, Mutex};

use conclave_media::processing::{AudioProcessingConfig, AudioProcessor, with_audio_processing};
use conclave_media::signal::tone_power;
use conclave_media::{AudioSink, AudioSource, FRAME_SAMPLES, MediaPipelineError, SAMPLE_RATE};

/// The other side's voice, played by our loudspeaker.
const FAR_HZ: f64 = 440.0;
/// Our own voice.
const NEAR_HZ: f64 = 1_000.0;
/// Loudspeaker → microphone: 40 ms later, at a quarter of the amplitude (−12 dB).
const ECHO_DELAY_SAMPLES: usize = 40 * (SAMPLE_RATE as usize / 1000);
const ECHO_GAIN: f64 = 0.25;

fn tone(frequency: f64, amplitude: f64, start: usize, length: usize) -> Vec<f64> {
    (start..start + length)
        .map(|n| amplitude * (TAU * frequency * n as f64 / f64::from(SAMPLE_RATE)).sin())
        .collect()
}

fn to_i16(samples: &[f64]) -> Vec<i16> {
    samples
        .iter()
        .map(|s| (s * 32_767.0).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect()
}

/// Deterministic white noise in ±`amplitude` (xorshift; the test needs repeatability, not
/// cryptographic randomness).
struct Noise(u64);

impl Noise {
    fn next(&mut self, amplitude: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        amplitude * ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
    }
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.max(f64::MIN_POSITIVE).log10()
}

fn mean_power(samples: &[i16]) -> f64 {
    samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

/// Far-end tone played for `seconds`; the microphone hears its echo plus (from
/// `near_from_frame` on) our own tone. Returns (microphone input, processed output).
fn run_echo_scene(
    processor: &mut AudioProcessor,
    seconds: usize,
    near_from_frame: usize,
) -> (Vec<i16>, Vec<i16>) {
    let frames = seconds * 50;
    let far = tone(FAR_HZ, 0.5, 0, frames * FRAME_SAMPLES + ECHO_DELAY_SAMPLES);
    let far_played = to_i16(&far);
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for frame in 0..frames {
        let at = frame * FRAME_SAMPLES;
        processor
            .process_render(&far_played[at..at + FRAME_SAMPLES])
            .expect("render frame");
        let near = tone(NEAR_HZ, 0.3, at, FRAME_SAMPLES);
        let microphone: Vec<f64> = (0..FRAME_SAMPLES)
            .map(|i| {
                let echo = (at + i)
                    .checked_sub(ECHO_DELAY_SAMPLES)
                    .map_or(0.0, |n| ECHO_GAIN * far[n]);
                echo + if frame >= near_from_frame {
                    near[i]
                } else {
                    0.0
                }
            })
            .collect();
        let mut captured = to_i16(&microphone);
        input.extend_from_slice(&captured);
        processor
            .process_capture(&mut captured)
            .expect("capture frame");
        output.extend_from_slice(&captured);
    }
    (input, output)
}

fn last_seconds(samples: &[i16], seconds: usize) -> &[i16] {
    &samples[samples.len() - seconds * SAMPLE_RATE as usize..]
}

#[test]
fn the_far_end_echo_is_removed_and_our_voice_survives() {
    let mut processor = AudioProcessor::new(AudioProcessingConfig {
        echo_cancellation: true,
        noise_suppression: false,
        gain_control: false,
    })
    .expect("processor");
    // 4 s of far end alone to converge, then 4 s of both talking at once.
    let (input, output) = run_echo_scene(&mut processor, 8, 4 * 50);
    let (input, output) = (last_seconds(&input, 2), last_seconds(&output, 2));

    let echo_drop = db(tone_power(input, FAR_HZ) / tone_power(output, FAR_HZ));
    let voice_change = db(tone_power(output, NEAR_HZ) / tone_power(input, NEAR_HZ));
    eprintln!("echo reduced by {echo_drop:.1} dB, our voice changed by {voice_change:.1} dB");
    assert!(
        echo_drop >= 40.0,
        "the far end's echo dropped only {echo_drop:.1} dB"
    );
    assert!(
        voice_change >= -6.0,
        "our own voice lost {:.1} dB",
        -voice_change
    );
}

#[test]
fn echo_alone_is_silenced_after_convergence() {
    let mut processor = AudioProcessor::new(AudioProcessingConfig::default()).expect("processor");
    // Nobody talks here: the microphone hears only the loudspeaker.
    let (input, output) = run_echo_scene(&mut processor, 6, usize::MAX);
    let (input, output) = (last_seconds(&input, 2), last_seconds(&output, 2));
    let drop = db(mean_power(input) / mean_power(output));
    eprintln!("echo-only microphone reduced by {drop:.1} dB");
    assert!(drop >= 18.0, "the echo dropped only {drop:.1} dB");
}

/// Talking in syllables: 300 ms of voice, 200 ms of pause (in 20 ms frames). A steady tone
/// would not do: the suppressor rightly learns anything that never stops as noise.
fn talking(frame: usize) -> bool {
    frame % 25 < 15
}

#[test]
fn background_noise_is_suppressed_and_the_voice_kept() {
    let mut processor = AudioProcessor::new(AudioProcessingConfig {
        echo_cancellation: false,
        noise_suppression: true,
        gain_control: false,
    })
    .expect("processor");
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let (seconds, measured_from) = (5, 3 * 50);
    let (mut voice_in, mut voice_out, mut pause_in, mut pause_out) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for frame in 0..seconds * 50 {
        let at = frame * FRAME_SAMPLES;
        let voice = tone(NEAR_HZ, 0.3, at, FRAME_SAMPLES);
        let microphone: Vec<f64> = voice
            .iter()
            .map(|v| noise.next(0.05) + if talking(frame) { *v } else { 0.0 })
            .collect();
        let mut captured = to_i16(&microphone);
        let before = captured.clone();
        processor
            .process_capture(&mut captured)
            .expect("capture frame");
        // Measure away from the edges, where the suppressor's few milliseconds of
        // latency carry voice into the pause and back.
        let (input, output) = match (frame >= measured_from, frame % 25) {
            (true, 2..=12) => (&mut voice_in, &mut voice_out),
            (true, 18..=23) => (&mut pause_in, &mut pause_out),
            _ => continue,
        };
        input.extend_from_slice(&before);
        output.extend_from_slice(&captured);
    }
    // In the pauses the microphone hears only the noise.
    let noise_drop = db(mean_power(&pause_in) / mean_power(&pause_out));
    let voice_change = db(tone_power(&voice_out, NEAR_HZ) / tone_power(&voice_in, NEAR_HZ));
    eprintln!("noise reduced by {noise_drop:.1} dB, voice changed by {voice_change:.1} dB");
    assert!(noise_drop >= 10.0, "noise dropped only {noise_drop:.1} dB");
    assert!(
        voice_change >= -6.0,
        "the voice lost {:.1} dB",
        -voice_change
    );
}

#[test]
fn a_quiet_talker_is_made_louder() {
    let mut processor = AudioProcessor::new(AudioProcessingConfig {
        echo_cancellation: false,
        noise_suppression: false,
        gain_control: true,
    })
    .expect("processor");
    let seconds = 5;
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for frame in 0..seconds * 50 {
        // −34 dBFS: a talker far from the microphone.
        let mut captured = to_i16(&tone(NEAR_HZ, 0.02, frame * FRAME_SAMPLES, FRAME_SAMPLES));
        before.extend_from_slice(&captured);
        processor
            .process_capture(&mut captured)
            .expect("capture frame");
        after.extend_from_slice(&captured);
    }
    let gain = db(tone_power(last_seconds(&after, 2), NEAR_HZ)
        / tone_power(last_seconds(&before, 2), NEAR_HZ));
    eprintln!("quiet talker amplified by {gain:.1} dB");
    assert!(gain >= 3.0, "the quiet talker gained only {gain:.1} dB");
}

#[test]
fn frames_of_the_wrong_size_are_refused() {
    let mut processor = AudioProcessor::new(AudioProcessingConfig::default()).expect("processor");
    for wrong in [
        0,
        1,
        FRAME_SAMPLES / 2,
        FRAME_SAMPLES - 1,
        FRAME_SAMPLES + 1,
        4 * FRAME_SAMPLES,
    ] {
        let mut frame = vec![1_000i16; wrong];
        assert!(
            matches!(
                processor.process_capture(&mut frame),
                Err(MediaPipelineError::FrameSize(n)) if n == wrong
            ),
            "capture frame of {wrong} samples"
        );
        assert!(
            matches!(
                processor.process_render(&frame),
                Err(MediaPipelineError::FrameSize(n)) if n == wrong
            ),
            "render frame of {wrong} samples"
        );
    }
    // The processor still works after refusing bad frames.
    let mut frame = vec![0i16; FRAME_SAMPLES];
    processor.process_render(&frame).expect("render frame");
    processor
        .process_capture(&mut frame)
        .expect("capture frame");
}

#[test]
fn extreme_samples_pass_without_panic() {
    let mut processor = AudioProcessor::new(AudioProcessingConfig::default()).expect("processor");
    let square: Vec<i16> = (0..FRAME_SAMPLES)
        .map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN })
        .collect();
    for _ in 0..50 {
        processor.process_render(&square).expect("render frame");
        let mut frame = square.clone();
        processor
            .process_capture(&mut frame)
            .expect("capture frame");
    }
}

/// A loudspeaker whose sound reaches the microphone: what it plays comes back, delayed and
/// attenuated, mixed into what the talker says.
#[derive(Clone, Default)]
struct Room(Arc<Mutex<Vec<i16>>>);

struct Loudspeaker(Room);

impl AudioSink for Loudspeaker {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        self.0.0.lock().expect("room").extend_from_slice(frame);
        Ok(())
    }
}

struct Microphone {
    room: Room,
    frame: usize,
}

impl AudioSource for Microphone {
    fn next_frame(&mut self, out: &mut [i16]) -> Result<bool, MediaPipelineError> {
        let played = self.room.0.lock().expect("room");
        let at = self.frame * FRAME_SAMPLES;
        let near = tone(NEAR_HZ, 0.3, at, FRAME_SAMPLES);
        for (i, o) in out.iter_mut().enumerate() {
            let echo = (at + i)
                .checked_sub(ECHO_DELAY_SAMPLES)
                .and_then(|n| played.get(n))
                .map_or(0.0, |s| ECHO_GAIN * f64::from(*s) / 32_767.0);
            let voice = if self.frame >= 4 * 50 { near[i] } else { 0.0 };
            *o = ((echo + voice) * 32_767.0)
                .round()
                .clamp(-32_768.0, 32_767.0) as i16;
        }
        self.frame += 1;
        Ok(true)
    }
}

#[test]
fn the_wrapped_source_and_sink_cancel_what_the_loudspeaker_played() {
    let room = Room::default();
    let (source, sink) = with_audio_processing(
        Some(Box::new(Microphone {
            room: room.clone(),
            frame: 0,
        })),
        Some(Box::new(Loudspeaker(room.clone()))),
        AudioProcessingConfig::default(),
    )
    .expect("processing");
    let (mut source, mut sink) = (source.expect("source"), sink.expect("sink"));
    let far = to_i16(&tone(FAR_HZ, 0.5, 0, 8 * SAMPLE_RATE as usize));
    let mut sent = Vec::new();
    for played in far.chunks_exact(FRAME_SAMPLES) {
        // The pipeline's order each 20 ms: play what arrived, then capture.
        sink.play(played).expect("play");
        let mut frame = vec![0i16; FRAME_SAMPLES];
        assert!(source.next_frame(&mut frame).expect("capture"));
        sent.extend_from_slice(&frame);
    }
    let sent = last_seconds(&sent, 2);
    let (far_power, near_power) = (tone_power(sent, FAR_HZ), tone_power(sent, NEAR_HZ));
    let ratio = db(near_power / far_power);
    eprintln!("what we send: our voice {ratio:.1} dB above the echo");
    assert!(
        ratio >= 40.0,
        "our voice is only {ratio:.1} dB above the echo"
    );
}

#[test]
fn without_a_source_nothing_is_wrapped() {
    let (source, sink) = with_audio_processing(
        None,
        Some(Box::new(Loudspeaker(Room::default()))),
        AudioProcessingConfig::default(),
    )
    .expect("processing");
    assert!(source.is_none());
    let mut sink = sink.expect("sink");
    // A bad frame still reaches the real sink untouched (no processor in the way).
    sink.play(&[1, 2, 3]).expect("play");
}
