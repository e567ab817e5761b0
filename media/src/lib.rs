//! Conclave's media, independent of devices and of the network: Opus audio with in-band FEC
//! and DTX ([`audio`]), echo cancellation and noise suppression ([`processing`]), an adaptive
//! jitter buffer with loss concealment ([`jitter`]), mixing ([`mixer`]), levels and the active
//! speaker ([`level`]), synthetic and file sources and sinks for headless use ([`signal`],
//! [`pattern`]); H.264 video ([`h264`]) with SFrame per NAL unit ([`video`]), quality
//! adaptation ([`rate`]) and the audio and video pipelines ([`pipeline`], [`video_pipeline`])
//! that join codecs to SFrame keys. The RTP side is `conclave-rtc`'s; the C libraries (Opus,
//! OpenH264, WebRTC audio processing) are linked only here.
//!
//! Devices plug in through [`AudioSource`]/[`AudioSink`] and [`VideoSource`]/[`VideoSink`]:
//! the desktop app implements them with cpal and nokhwa, the CLI and tests with tones, WAV
//! files, the test pattern and PNG files. This crate holds no device crate.

pub mod audio;
pub mod h264;
pub mod jitter;
pub mod level;
pub mod mixer;
pub mod pattern;
pub mod pipeline;
pub mod processing;
pub mod rate;
pub mod signal;
pub mod video;
pub mod video_pipeline;

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
    #[error("echo cancellation / noise suppression failed: {0}")]
    Processing(String),
    /// SFrame refused to encrypt (no key for this epoch, the counter ran out).
    #[error("cannot encrypt the audio frame: {0}")]
    Encryption(#[from] conclave_e2ee::media_keys::MediaError),
}

/// Where outgoing audio comes from (a microphone, a tone, a WAV file), one 20 ms frame at a
/// time.
pub trait AudioSource {
    /// Fills `frame` ([`FRAME_SAMPLES`] mono samples); `Ok(false)` once the source has ended.
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError>;

    /// Moves on by one frame whose samples nobody will hear (muted, or no keys yet). Devices
    /// and files must still be read so they stay in step; a synthetic source need not compute
    /// its samples.
    fn skip_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        self.next_frame(frame)
    }
}

/// Where incoming audio goes (speakers, a WAV recording), one 20 ms frame at a time.
pub trait AudioSink {
    /// Takes one mixed frame of [`FRAME_SAMPLES`] mono samples.
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError>;
}

/// One picture, 8-bit RGB, row by row with no padding (`width * height * 3` bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl VideoFrame {
    /// A black frame.
    pub fn black(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rgb: vec![0; width * height * 3],
        }
    }

    /// The RGB triple at (`x`, `y`); `None` outside the picture.
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = (y * self.width + x) * 3;
        let p = self.rgb.get(at..at + 3)?;
        Some([p[0], p[1], p[2]])
    }
}

/// Why video could not be captured, coded or shown.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("video codec error: {0}")]
    Codec(String),
    #[error("a {width}×{height} frame needs {expected} RGB bytes, not {actual}")]
    FrameSize {
        width: usize,
        height: usize,
        expected: usize,
        actual: usize,
    },
    #[error("the picture size {width}×{height} is not supported (even sizes up to 3840×2160)")]
    Resolution { width: usize, height: usize },
    #[error("cannot write the picture: {0}")]
    File(String),
    #[error("cannot encrypt the video frame: {0}")]
    Encrypt(String),
    #[error("cannot packetize the video frame: {0}")]
    Packetize(String),
    #[error("the video source failed: {0}")]
    Source(String),
}

/// Where outgoing video comes from (a camera, a test pattern), one frame at a time.
pub trait VideoSource {
    /// The next frame; `Ok(None)` once the source has ended.
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError>;
}

/// Where decoded video goes (a window, numbered picture files). `sender` is the MLS leaf
/// index of the member whose picture it is.
pub trait VideoSink {
    fn show(&mut self, sender: u32, frame: &VideoFrame) -> Result<(), VideoError>;
}
