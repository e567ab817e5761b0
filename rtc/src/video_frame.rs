//! What the video pipeline hands the RTP side and what the RTP side asks of it: one encoded,
//! encrypted picture as RTP payloads, and which streams want a keyframe.

use std::collections::BTreeSet;

use bytes::Bytes;

/// RTP clock of H.264 (RFC 6184).
pub const H264_CLOCK_RATE: u32 = 90_000;
/// One encoded, encrypted picture as RTP payloads; the last one carries the marker bit.
#[derive(Debug, Clone)]
pub struct OutgoingVideoFrame {
    pub payloads: Vec<Bytes>,
    pub keyframe: bool,
    /// This picture's duration in RTP clock ticks (the next one is stamped that much later).
    pub rtp_ticks: u32,
    /// RTP clock of pictures the encoder skipped just before this one: this picture is
    /// stamped that much later than the previous one's end.
    pub skipped_ticks: u32,
    /// The encoder's target bitrate when it made this picture (sets the send pace).
    pub bitrate_bps: u32,
}

/// Which downstream streams need a keyframe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyframeWanted {
    /// Every stream (starting to watch).
    pub every_stream: bool,
    /// These streams, by SSRC (their picture broke).
    pub streams: BTreeSet<u32>,
}

impl KeyframeWanted {
    pub fn is_empty(&self) -> bool {
        !self.every_stream && self.streams.is_empty()
    }

    /// Whether the stream `ssrc` is asked.
    pub fn wants(&self, ssrc: u32) -> bool {
        self.every_stream || self.streams.contains(&ssrc)
    }
}
