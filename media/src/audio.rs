//! Opus at 48 kHz mono, 20 ms frames, tuned for speech over lossy paths: in-band FEC (a
//! lost frame is rebuilt from the next packet), DTX (silence costs almost nothing) and
//! loss concealment when neither packet arrived.

use crate::{FRAME_SAMPLES, MediaPipelineError, SAMPLE_RATE};

/// Largest Opus packet we produce; RFC 6716 allows 1275 bytes per frame.
const MAX_PACKET_BYTES: usize = 1275;
/// Opus DTX emits packets of at most 2 bytes for silence; those need not be sent.
const DTX_PACKET_BYTES: usize = 2;

fn codec(e: opus::Error) -> MediaPipelineError {
    MediaPipelineError::Codec(e.to_string())
}

/// Encoder settings.
#[derive(Debug, Clone, Copy)]
pub struct AudioEncoderConfig {
    /// Target bitrate in bit/s (speech sounds good from ~24 kbit/s).
    pub bitrate: i32,
    /// Expected loss in percent; tells Opus how much FEC to spend.
    pub expected_loss_percent: i32,
    /// Skip sending silence (discontinuous transmission).
    pub dtx: bool,
    /// Opus encoder complexity 0–10: CPU against quality. 5 keeps speech clear at half the
    /// encoder cost of 10 (`docs/performance.md`).
    pub complexity: i32,
}

impl Default for AudioEncoderConfig {
    fn default() -> Self {
        Self {
            bitrate: 32_000,
            expected_loss_percent: 10,
            dtx: true,
            complexity: 5,
        }
    }
}

/// Encodes 20 ms frames into Opus packets.
pub struct AudioEncoder {
    encoder: opus::Encoder,
    packet: Vec<u8>,
}

impl AudioEncoder {
    pub fn new(config: AudioEncoderConfig) -> Result<Self, MediaPipelineError> {
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(codec)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(config.bitrate))
            .map_err(codec)?;
        encoder.set_inband_fec(true).map_err(codec)?;
        encoder
            .set_packet_loss_perc(config.expected_loss_percent.clamp(0, 100))
            .map_err(codec)?;
        encoder.set_dtx(config.dtx).map_err(codec)?;
        encoder
            .set_complexity(config.complexity.clamp(0, 10))
            .map_err(codec)?;
        Ok(Self {
            encoder,
            packet: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Encodes one frame. `None` when DTX decided this frame is silence not worth sending.
    pub fn encode(&mut self, frame: &[i16]) -> Result<Option<&[u8]>, MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        let length = self
            .encoder
            .encode(frame, &mut self.packet)
            .map_err(codec)?;
        if length <= DTX_PACKET_BYTES {
            return Ok(None);
        }
        Ok(Some(&self.packet[..length]))
    }

    /// Tells the encoder how lossy the path is (from receiver reports).
    pub fn set_expected_loss(&mut self, percent: i32) -> Result<(), MediaPipelineError> {
        self.encoder
            .set_packet_loss_perc(percent.clamp(0, 100))
            .map_err(codec)
    }
}

/// Decodes Opus packets into 20 ms frames, rebuilding lost ones.
pub struct AudioDecoder {
    decoder: opus::Decoder,
}

impl AudioDecoder {
    pub fn new() -> Result<Self, MediaPipelineError> {
        Ok(Self {
            decoder: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).map_err(codec)?,
        })
    }

    fn run(&mut self, packet: &[u8], fec: bool, out: &mut [i16]) -> Result<(), MediaPipelineError> {
        if out.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(out.len()));
        }
        let samples = self.decoder.decode(packet, out, fec).map_err(codec)?;
        // A packet of another duration (a peer with other settings) is cut or padded, never
        // allowed to shift the playout clock.
        out[samples.min(FRAME_SAMPLES)..].fill(0);
        Ok(())
    }

    /// Decodes a received packet. A corrupt packet gives an error; the caller conceals.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<(), MediaPipelineError> {
        self.run(packet, false, out)
    }

    /// Rebuilds the frame before `next_packet` from the FEC data it carries.
    pub fn recover(
        &mut self,
        next_packet: &[u8],
        out: &mut [i16],
    ) -> Result<(), MediaPipelineError> {
        self.run(next_packet, true, out)
    }

    /// Packet loss concealment: a plausible frame when nothing usable arrived (also what
    /// plays during DTX silence).
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<(), MediaPipelineError> {
        self.run(&[], false, out)
    }
}
