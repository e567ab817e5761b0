//! The client media engine's device-independent parts: Opus audio with in-band FEC and DTX
//! ([`audio`]), an adaptive jitter buffer with loss concealment ([`jitter`]), mixing
//! ([`mixer`]), synthetic and file sources and sinks for headless use ([`signal`]), and SFrame
//! per H.264 NAL unit with start-code emulation prevention ([`video`]).
//!
//! Devices plug in through [`AudioSource`] and [`AudioSink`]: the desktop app implements them
//! with cpal, the CLI and tests with tones and WAV files. This module holds no device crate.
//!
//! Status: the audio path from samples to SFrame-ready packets and back is here and tested
//! (`core/tests/audio_pipeline.rs`); WebRTC transport, the SFU and video are not built yet.

pub mod audio;
pub mod jitter;
pub mod mixer;
pub mod pipeline;
pub mod signal;
pub mod transport;
pub mod video;

/// Audio sample rate everywhere in Conclave (Opus's native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// One audio frame: 20 ms.
pub const FRAME_MS: u32 = 20;
/// Samples per (mono) 20 ms frame.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;

/// Why the media pipeline failed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum MediaPipelineError {
    #[error("audio codec error: {0}")]
    Codec(String),
    #[error("cannot read or write the audio file: {0}")]
    File(String),
    #[error("unsupported audio file: {0}")]
    Unsupported(String),
    #[error("a frame must have {FRAME_SAMPLES} samples, not {0}")]
    FrameSize(usize),
}

/// Where outgoing audio comes from (a microphone, a tone, a WAV file), one 20 ms frame at a
/// time.
pub trait AudioSource {
    /// Fills `frame` ([`FRAME_SAMPLES`] mono samples); `Ok(false)` once the source has ended.
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError>;
}

/// Where incoming audio goes (speakers, a WAV recording), one 20 ms frame at a time.
pub trait AudioSink {
    /// Takes one mixed frame of [`FRAME_SAMPLES`] mono samples.
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError>;
}
