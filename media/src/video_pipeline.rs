//! One member's video, sans I/O. Outgoing: source → H.264 → SFrame per NAL unit (see
//! [`super::video`]) → RTP H.264 payloads (RFC 6184, the `rtc` crate's payloader). Incoming:
//! RTP payloads → depacketizer → access unit → SFrame per NAL unit → H.264 decoder of that
//! sender → sink. The caller moves bytes, and turns [`VideoPipeline::keyframe_request`] into an
//! RTCP PLI and an incoming PLI into [`VideoPipeline::on_keyframe_request`].
//!
//! Keys follow the MLS epoch like audio's: the sender switches at once, the receiver keeps the
//! previous epoch for the grace window. Video has its own KID context
//! ([`MediaStream::Video`]), so its counters never share a nonce with audio's.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::packetizer::Payloader as _;

use crate::h264::{VideoDecoder, VideoEncoder, VideoEncoderConfig};
use crate::rate::{LADDER, VideoRateController, downscale};
use crate::video::{open_access_unit_from, protect_access_unit};
use crate::{VideoError, VideoSink, VideoSource};
use conclave_e2ee::media_keys::{EpochKeys, MediaError, MediaKeyConfig, MediaStream, StreamKeys};
use conclave_rtc::nal::has_idr;
use conclave_rtc::video_frame::{H264_CLOCK_RATE, KeyframeWanted, OutgoingVideoFrame};
use conclave_rtc::video_streams::{Assembled, IncomingStreams};

/// RTP payload budget per packet: under a 1,280-byte path MTU after RTP, SRTP and UDP/IP
/// headers.
pub const VIDEO_PAYLOAD_MTU: usize = 1_150;
/// At most one forced keyframe per this interval, however many receivers ask: a burst of
/// PLIs (several newcomers, several losses) costs one keyframe, not one each.
pub const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(500);
/// A receiver repeats an unanswered keyframe request at most this often.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

/// Counters a user or test can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoStats {
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    /// Pictures the encoder's rate control skipped (too busy for the bitrate).
    pub frames_skipped: u64,
    /// RTP payload bytes sent (encrypted pictures): the bitrate actually sent.
    pub bytes_sent: u64,
    /// Keyframes produced because someone asked (PLI/FIR), after rate limiting.
    pub keyframes_on_request: u64,
    /// Complete access units received.
    pub frames_received: u64,
    /// Refused by SFrame (unknown key, stale epoch, tampered, replayed, truncated).
    pub frames_refused: u64,
    /// Damaged in transit (lost or malformed packets) and dropped before decryption.
    pub frames_damaged: u64,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    /// Keyframe requests this receiver handed to the transport (sent as PLI).
    pub keyframe_requests: u64,
    /// What is being sent now, after adapting to the path (see [`super::rate`]).
    pub send_width: usize,
    pub send_height: usize,
    pub send_bitrate_bps: u32,
    /// Lost packets that a retransmission (NACK) or late arrival filled in time.
    pub packets_repaired: u64,
    /// Lost packets given up on after the reorder wait.
    pub packets_given_up: u64,
    /// Receiver reports on our video taken from the SFU, and the loss the last one gave
    /// (of 256).
    pub loss_reports: u64,
    pub last_reported_loss: u8,
    /// The ladder rung being sent (0: the configured quality; higher: reduced for the path).
    pub send_rung: usize,
    /// Times the sending quality stepped down (loss) and back up (a clean path).
    pub quality_steps_down: u64,
    pub quality_steps_up: u64,
}

pub struct VideoPipeline {
    source: Option<Box<dyn VideoSource + Send>>,
    sink: Option<Box<dyn VideoSink + Send>>,
    encoder: Option<VideoEncoder>,
    /// The quality asked for; the rate controller sends at or below it.
    configured: VideoEncoderConfig,
    rate: VideoRateController,
    /// Off: always send the configured quality (for measuring what adapting buys).
    adaptive: bool,
    /// The ladder rung the encoder was built for.
    encoder_rung: usize,
    payloader: H264Payloader,
    rtp_ticks: u32,
    /// RTP clock of pictures skipped since the last one sent, so timestamps keep real time.
    skipped_ticks: u32,
    keys: StreamKeys,
    muted: bool,
    last_keyframe_sent: Option<Instant>,
    // Receiving: each publisher's stream is reassembled on its own.
    incoming: IncomingStreams,
    decoders: HashMap<u32, VideoDecoder>,
    /// Senders whose decoder failed: their frames are skipped until a keyframe, which starts a
    /// fresh decoder (OpenH264 keeps failing after an error, even on the next IDR).
    awaiting_keyframe: HashSet<u32>,
    keyframe_wanted: KeyframeWanted,
    last_keyframe_request: Option<Instant>,
    stats: VideoStats,
}

impl VideoPipeline {
    /// `source`: what to send (none: watch only), encoded as `encoder_config` says; `sink`:
    /// where decoded pictures go.
    pub fn new(
        source: Option<Box<dyn VideoSource + Send>>,
        sink: Option<Box<dyn VideoSink + Send>>,
        encoder_config: VideoEncoderConfig,
    ) -> Result<Self, VideoError> {
        let encoder = match source {
            Some(_) => Some(VideoEncoder::new(encoder_config)?),
            None => None,
        };
        let rtp_ticks = (H264_CLOCK_RATE as f32 / encoder_config.fps.max(1.0)) as u32;
        let mut stats = VideoStats::default();
        if encoder.is_some() {
            stats.send_width = encoder_config.width;
            stats.send_height = encoder_config.height;
            stats.send_bitrate_bps = encoder_config.bitrate_bps;
        }
        Ok(Self {
            source,
            sink,
            encoder,
            configured: encoder_config,
            rate: VideoRateController::new(),
            adaptive: true,
            encoder_rung: 0,
            payloader: H264Payloader::default(),
            rtp_ticks,
            skipped_ticks: 0,
            keys: StreamKeys::new(MediaKeyConfig::default(), MediaStream::Video),
            muted: false,
            last_keyframe_sent: None,
            incoming: IncomingStreams::default(),
            decoders: HashMap::new(),
            awaiting_keyframe: HashSet::new(),
            keyframe_wanted: KeyframeWanted::default(),
            last_keyframe_request: None,
            stats,
        })
    }

    pub fn stats(&self) -> VideoStats {
        self.stats
    }

    /// The epoch whose keys are in use, if any.
    pub fn epoch(&self) -> Option<u64> {
        self.keys.epoch()
    }

    /// Time between two outgoing pictures.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.rtp_ticks) / f64::from(H264_CLOCK_RATE))
    }

    /// Whether this pipeline has something to send.
    pub fn is_sending(&self) -> bool {
        self.source.is_some()
    }

    /// Whether the camera is off.
    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Camera off: nothing leaves this device; on again starts with a keyframe.
    pub fn set_muted(&mut self, muted: bool) {
        if self.muted
            && !muted
            && let Some(encoder) = self.encoder.as_mut()
        {
            encoder.force_keyframe();
        }
        self.muted = muted;
    }

    /// Installs the keys of the current epoch (a no-op if they are already in use).
    pub fn update_keys(
        &mut self,
        keys: &EpochKeys,
        own_leaf: u32,
        now: Instant,
    ) -> Result<(), MediaError> {
        self.keys.update(keys, own_leaf, now)
    }

    /// Someone asked for a keyframe (RTCP PLI or FIR). Answered unless a keyframe left
    /// within [`KEYFRAME_MIN_INTERVAL`]; `true` if the next frame will be one.
    pub fn on_keyframe_request(&mut self, now: Instant) -> bool {
        let Some(encoder) = self.encoder.as_mut() else {
            return false;
        };
        if self
            .last_keyframe_sent
            .is_some_and(|sent| now.saturating_duration_since(sent) < KEYFRAME_MIN_INTERVAL)
        {
            return false;
        }
        encoder.force_keyframe();
        self.stats.keyframes_on_request += 1;
        // Count the request as served now, so a burst of PLIs yields one keyframe.
        self.last_keyframe_sent = Some(now);
        // Only answered requests count as a congestion signal: a burst from several
        // newcomers is one keyframe, a lossy downstream path is a keyframe every interval.
        self.rate.on_keyframe_request(now);
        true
    }

    /// Whether to adapt the sending quality to the path (on by default).
    pub fn set_adaptive(&mut self, adaptive: bool) {
        self.adaptive = adaptive;
    }

    /// The SFU's receiver report on our video: `fraction_lost` as RTCP carries it (of 256).
    pub fn on_loss_report(&mut self, fraction_lost: u8, now: Instant) {
        if self.encoder.is_some() {
            self.stats.loss_reports += 1;
            self.stats.last_reported_loss = fraction_lost;
            self.rate.on_loss_report(fraction_lost, now);
        }
    }

    /// Rebuilds the encoder when the rate controller picked another rung; the new encoder
    /// starts with a keyframe at the new size.
    fn follow_rate(&mut self, now: Instant) -> Result<(), VideoError> {
        if !self.adaptive {
            return Ok(());
        }
        self.rate.tick(now);
        let rung = self.rate.rung();
        if rung == self.encoder_rung {
            return Ok(());
        }
        let step = LADDER.get(rung).copied().unwrap_or(LADDER[0]);
        let (width, height) = step.size(self.configured.width, self.configured.height);
        let config = VideoEncoderConfig {
            width,
            height,
            bitrate_bps: step.bitrate(self.configured.bitrate_bps),
            ..self.configured
        };
        self.encoder = Some(VideoEncoder::new(config)?);
        self.encoder_rung = rung;
        self.stats.send_rung = rung;
        self.stats.send_width = width;
        self.stats.send_height = height;
        self.stats.send_bitrate_bps = config.bitrate_bps;
        self.stats.quality_steps_down = self.rate.steps_down();
        self.stats.quality_steps_up = self.rate.steps_up();
        tracing::info!(
            width,
            height,
            bitrate_bps = config.bitrate_bps,
            rung,
            "video quality adapted to the path"
        );
        Ok(())
    }

    /// The next picture, encoded and encrypted as RTP payloads; `None` when the camera is
    /// off, there are no keys yet, or the source has ended.
    pub fn next_outgoing(
        &mut self,
        now: Instant,
    ) -> Result<Option<OutgoingVideoFrame>, VideoError> {
        if self.encoder.is_none() {
            return Ok(None);
        }
        let Some(source) = self.source.as_mut() else {
            return Ok(None);
        };
        let Some(frame) = source.next_frame()? else {
            self.source = None;
            return Ok(None);
        };
        if self.muted || self.keys.sender().is_none() {
            return Ok(None);
        }
        self.follow_rate(now)?;
        let (Some(sender), Some(encoder)) = (self.keys.sender(), self.encoder.as_mut()) else {
            return Ok(None);
        };
        let config = encoder.config();
        let encoded = if (frame.width, frame.height) == (config.width, config.height) {
            encoder.encode(&frame)?
        } else {
            encoder.encode(&downscale(&frame, config.width, config.height))?
        };
        let Some(encoded) = encoded else {
            self.stats.frames_skipped += 1;
            self.skipped_ticks = self.skipped_ticks.wrapping_add(self.rtp_ticks);
            return Ok(None);
        };
        let protected = protect_access_unit(sender, &encoded.access_unit)
            .map_err(|e| VideoError::Encrypt(e.to_string()))?;
        let payloads = self
            .payloader
            .payload(VIDEO_PAYLOAD_MTU, &Bytes::from(protected))
            .map_err(|e| VideoError::Packetize(e.to_string()))?;
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        if encoded.keyframe {
            self.stats.keyframes_sent += 1;
            self.last_keyframe_sent = Some(now);
        }
        Ok(Some(OutgoingVideoFrame {
            payloads,
            keyframe: encoded.keyframe,
            rtp_ticks: self.rtp_ticks,
            skipped_ticks: std::mem::take(&mut self.skipped_ticks),
            bitrate_bps: config.bitrate_bps,
        }))
    }

    /// Takes one RTP packet of downstream `stream` (its SSRC: one per publisher): its payload,
    /// sequence number and marker bit (set on an access unit's last packet). Each stream's
    /// packets are put back in order, waiting up to [`conclave_rtc::reorder::REORDER_WAIT`]
    /// for a missing one; a packet given up on, a duplicate or a malformed packet spoils its
    /// access unit, which is dropped and a keyframe requested from that stream; it never
    /// panics. Call [`VideoPipeline::poll`] regularly as well.
    pub fn incoming(
        &mut self,
        stream: u32,
        payload: &[u8],
        sequence: u16,
        marker: bool,
        now: Instant,
    ) -> Result<(), VideoError> {
        self.incoming.push(stream, payload, sequence, marker, now);
        self.poll(now)
    }

    /// Releases the packets whose wait for a missing one is over.
    pub fn poll(&mut self, now: Instant) -> Result<(), VideoError> {
        let mut repaired_by_keyframe = 0;
        let finished = self.incoming.poll(now, &mut repaired_by_keyframe);
        self.stats.frames_damaged += repaired_by_keyframe;
        for (stream, unit) in finished {
            match unit {
                Assembled::Whole(unit) => self.finish_access_unit(stream, unit, now)?,
                Assembled::Damaged => {
                    self.stats.frames_damaged += 1;
                    self.keyframe_wanted.streams.insert(stream);
                }
            }
        }
        let reorder = self.incoming.stats();
        self.stats.packets_repaired = reorder.repaired;
        self.stats.packets_given_up = reorder.given_up;
        Ok(())
    }

    fn finish_access_unit(
        &mut self,
        stream: u32,
        access_unit: Vec<u8>,
        now: Instant,
    ) -> Result<(), VideoError> {
        self.stats.frames_received += 1;
        let Some(receiver) = self.keys.receiver() else {
            self.stats.frames_refused += 1;
            return Ok(());
        };
        let (sender, clear) = match open_access_unit_from(receiver, &access_unit, now) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::debug!(error = %e, "video frame refused");
                self.stats.frames_refused += 1;
                self.keyframe_wanted.streams.insert(stream);
                return Ok(());
            }
        };
        if self.awaiting_keyframe.contains(&sender) {
            if !has_idr(&clear) {
                self.keyframe_wanted.streams.insert(stream);
                return Ok(());
            }
            self.awaiting_keyframe.remove(&sender);
        }
        let decoder = match self.decoders.entry(sender) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(VideoDecoder::new()?),
        };
        let idr = has_idr(&clear);
        let mut decoded = decoder.decode(&clear);
        if decoded.is_err() && idr {
            // A keyframe that fails on a decoder an earlier broken frame left in a bad state
            // decodes on a fresh one.
            let fresh = self
                .decoders
                .entry(sender)
                .insert_entry(VideoDecoder::new()?);
            decoded = fresh.into_mut().decode(&clear);
        }
        match decoded {
            Ok(Some(picture)) => {
                self.stats.frames_decoded += 1;
                if let Some(sink) = self.sink.as_mut() {
                    sink.show(sender, &picture)?;
                }
            }
            // No picture from a frame that is not a keyframe: the decoder has no reference
            // (we joined mid-stream or lost one); ask for a fresh start.
            Ok(None) => {
                if !idr {
                    self.keyframe_wanted.streams.insert(stream);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "video frame did not decode");
                self.stats.decode_errors += 1;
                self.keyframe_wanted.streams.insert(stream);
                self.decoders.remove(&sender);
                self.awaiting_keyframe.insert(sender);
            }
        }
        Ok(())
    }

    /// Asks every stream for a keyframe (e.g. when starting to watch).
    pub fn request_keyframe(&mut self) {
        self.keyframe_wanted.every_stream = true;
    }

    /// Asks again for what an unsent request wanted (e.g. no track to send it on yet).
    pub fn request_keyframe_again(&mut self, wanted: KeyframeWanted) {
        self.keyframe_wanted.every_stream |= wanted.every_stream;
        self.keyframe_wanted.streams.extend(wanted.streams);
    }

    /// The keyframe requests (PLI) to send now, if any; rate limited, so the transport can
    /// ask after every packet.
    pub fn keyframe_request(&mut self, now: Instant) -> Option<KeyframeWanted> {
        // A pipeline that only sends shows nothing: asking others for keyframes would only
        // cost them bandwidth (and read as a lossy path to their rate control).
        if self.sink.is_none() {
            self.keyframe_wanted = KeyframeWanted::default();
            return None;
        }
        if self.keyframe_wanted.is_empty()
            || self
                .last_keyframe_request
                .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_REQUEST_INTERVAL)
        {
            return None;
        }
        self.last_keyframe_request = Some(now);
        self.stats.keyframe_requests += 1;
        Some(std::mem::take(&mut self.keyframe_wanted))
    }

    /// Forgets a member's decoder (they left).
    pub fn forget_sender(&mut self, leaf: u32) {
        self.decoders.remove(&leaf);
        self.awaiting_keyframe.remove(&leaf);
    }

    /// Hands the sink back (e.g. to flush files).
    pub fn take_sink(&mut self) -> Option<Box<dyn VideoSink + Send>> {
        self.sink.take()
    }
}
