//! H.264 with OpenH264 (the `openh264` crate, built from bundled source): a real-time encoder
//! (constrained baseline, one slice per NAL unit, keyframes on demand) and a decoder to RGB.
//!
//! The encoder emits Annex-B access units; [`super::video`] then encrypts them NAL by NAL.

use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
    UsageType,
};
use openh264::formats::{RgbSliceU8, YUVBuffer, YUVSource};
use openh264::{OpenH264API, Timestamp};

use crate::{VideoError, VideoFrame};

/// Largest NAL unit the encoder should produce: one RTP packet's worth after SFrame overhead,
/// so most NAL units travel unfragmented.
const MAX_NAL_BYTES: u32 = 1_000;

/// What the encoder produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoEncoderConfig {
    pub width: usize,
    pub height: usize,
    pub bitrate_bps: u32,
    pub fps: f32,
    /// A keyframe at least this often (frames), so a receiver that missed every request
    /// still recovers.
    pub keyframe_interval: u32,
}

impl Default for VideoEncoderConfig {
    fn default() -> Self {
        Self {
            width: 320,
            height: 240,
            bitrate_bps: 300_000,
            fps: 15.0,
            keyframe_interval: 300,
        }
    }
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Annex-B NAL units (SPS and PPS precede every keyframe).
    pub access_unit: Vec<u8>,
    pub keyframe: bool,
}

fn codec_error(e: impl std::fmt::Display) -> VideoError {
    VideoError::Codec(e.to_string())
}

/// H.264 encoder for one outgoing stream.
pub struct VideoEncoder {
    config: VideoEncoderConfig,
    encoder: Encoder,
    yuv: YUVBuffer,
    /// OpenH264 initialises on the first picture; a keyframe request before that is moot
    /// (the first picture is an IDR anyway).
    started: bool,
    keyframe_requested: bool,
    frames: u64,
}

impl VideoEncoder {
    pub fn new(config: VideoEncoderConfig) -> Result<Self, VideoError> {
        let (width, height) = (config.width, config.height);
        if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(VideoError::Resolution { width, height });
        }
        if width.max(height) > 3840 || width.min(height) > 2160 {
            return Err(VideoError::Resolution { width, height });
        }
        let encoder_config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(config.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(config.fps))
            .intra_frame_period(IntraFramePeriod::from_num_frames(config.keyframe_interval))
            .max_slice_len(MAX_NAL_BYTES)
            // Frame skipping is how OpenH264's rate control holds the bitrate when a picture is
            // too busy for it even at its coarsest quantizer; without it the encoder overshoots
            // (a noisy picture at 37 kbit/s came out several times larger) and a narrow uplink
            // stays congested whatever rung adaptation picks (docs/performance.md). Ordinary
            // pictures at the configured rate are not skipped.
            .skip_frames(true);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), encoder_config)
            .map_err(codec_error)?;
        Ok(Self {
            config,
            encoder,
            yuv: YUVBuffer::new(width, height),
            started: false,
            keyframe_requested: false,
            frames: 0,
        })
    }

    pub fn config(&self) -> VideoEncoderConfig {
        self.config
    }

    /// The next encoded picture will be a keyframe (IDR with SPS/PPS).
    pub fn force_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Encodes one RGB frame of the configured size. `Ok(None)` if the encoder dropped it.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedFrame>, VideoError> {
        let (width, height) = (self.config.width, self.config.height);
        let expected = width * height * 3;
        if frame.width != width || frame.height != height || frame.rgb.len() != expected {
            return Err(VideoError::FrameSize {
                width,
                height,
                expected,
                actual: frame.rgb.len(),
            });
        }
        self.yuv
            .read_rgb8(RgbSliceU8::new(&frame.rgb, (width, height)));
        let forcing_keyframe = self.keyframe_requested && self.started;
        if forcing_keyframe {
            self.encoder.force_intra_frame();
        }
        self.keyframe_requested = false;
        let millis = (self.frames as f64 * 1000.0 / f64::from(self.config.fps)) as u64;
        let stream = self
            .encoder
            .encode_at(&self.yuv, Timestamp::from_millis(millis))
            .map_err(codec_error)?;
        self.started = true;
        self.frames += 1;
        let keyframe = match stream.frame_type() {
            FrameType::IDR | FrameType::I => Some(true),
            FrameType::P | FrameType::IPMixed => Some(false),
            FrameType::Skip | FrameType::Invalid => None,
        };
        let access_unit = stream.to_vec();
        let Some(keyframe) = keyframe.filter(|_| !access_unit.is_empty()) else {
            // Skipped by rate control: a keyframe someone asked for comes with the next one.
            self.keyframe_requested |= forcing_keyframe;
            return Ok(None);
        };
        Ok(Some(EncodedFrame {
            access_unit,
            keyframe,
        }))
    }
}

/// H.264 decoder for one incoming stream.
pub struct VideoDecoder {
    decoder: Decoder,
}

impl VideoDecoder {
    pub fn new() -> Result<Self, VideoError> {
        let config = DecoderConfig::new();
        let decoder =
            Decoder::with_api_config(OpenH264API::from_source(), config).map_err(codec_error)?;
        Ok(Self { decoder })
    }

    /// Decodes one Annex-B access unit. `Ok(None)`: no picture yet (e.g. parameter sets
    /// only, or the decoder waits for a keyframe); `Err`: the bitstream is broken and the
    /// sender should be asked for a keyframe.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<VideoFrame>, VideoError> {
        let picture = self.decoder.decode(access_unit).map_err(codec_error)?;
        let Some(picture) = picture else {
            return Ok(None);
        };
        let (width, height) = picture.dimensions();
        let mut rgb = vec![0; width * height * 3];
        picture.write_rgb8(&mut rgb);
        Ok(Some(VideoFrame { width, height, rgb }))
    }
}
