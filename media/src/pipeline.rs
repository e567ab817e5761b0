//! One member's audio, sans I/O: the outgoing frames (source → Opus → SFrame) and the
//! incoming ones (SFrame → per-speaker jitter buffer → Opus → mix → sink). The caller moves
//! bytes and calls [`AudioPipeline::tick`] every 20 ms.
//!
//! Keys follow the MLS epoch: on a new epoch the sender switches at once and the receiver keeps
//! the previous epoch for the grace window (see `media_keys`).
//!
//! Frame layout: clear SFrame metadata is the sender's frame sequence (8 bytes); the encrypted
//! payload is one level byte (RFC 6464 layout, see [`super::level`]) followed by the Opus
//! packet. The level is inside the ciphertext so only members learn who is talking.
//!
//! Mute: nothing leaves the device while muted. DTX sends nothing for silence either, so the
//! SFU sees a muted member exactly like a silent one; mute is not announced to anyone.

use std::collections::HashMap;
use std::time::Instant;

use crate::audio::{AudioDecoder, AudioEncoder, AudioEncoderConfig};
use crate::jitter::{JitterBuffer, Playout};
use crate::level::{ActiveSpeaker, AudioLevel};
use crate::mixer::mix_into;
use crate::{AudioSink, AudioSource, FRAME_SAMPLES, MediaPipelineError};
use conclave_e2ee::media_keys::{EpochKeys, MediaError, MediaKeyConfig, MediaStream, StreamKeys};

/// Clear metadata of an audio frame: the sender's frame sequence (8 bytes, big-endian).
pub const AUDIO_METADATA_BYTES: usize = 8;
/// A speaker silent this long is forgotten (its buffer and decoder freed).
const SPEAKER_TIMEOUT_TICKS: u32 = 250;

/// Bytes before the Opus packet inside the ciphertext: the level.
pub const AUDIO_HEADER_BYTES: usize = 1;

struct Speaker {
    buffer: JitterBuffer,
    decoder: AudioDecoder,
    idle_ticks: u32,
    heard_this_tick: bool,
}

/// Counters a user or test can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Refused by SFrame (unknown key, stale epoch, tampered, replayed).
    pub frames_refused: u64,
    pub frames_played: u64,
    /// The member talking now, by MLS leaf index (from the levels inside the ciphertext).
    pub active_speaker: Option<u32>,
    /// Receiver reports on our audio taken from the SFU, and the loss the encoder now plans
    /// its in-band FEC for (percent).
    pub loss_reports: u64,
    pub expected_loss_percent: i32,
}

/// The least loss Opus plans FEC for, however clean the path: a stray lost packet is still
/// rebuilt from the next one.
pub const MIN_EXPECTED_LOSS_PERCENT: i32 = 5;
/// Beyond this FEC costs the speech more bits than it saves.
pub const MAX_EXPECTED_LOSS_PERCENT: i32 = 40;
/// How far the planned loss falls per clean report (one a second or so): slowly, since loss
/// comes in bursts.
pub const EXPECTED_LOSS_FALL_PERCENT: i32 = 2;

pub struct AudioPipeline {
    source: Option<Box<dyn AudioSource + Send>>,
    sink: Option<Box<dyn AudioSink + Send>>,
    encoder: AudioEncoder,
    keys: StreamKeys,
    sequence: u64,
    speakers: HashMap<u32, Speaker>,
    active_speaker: ActiveSpeaker,
    muted: bool,
    pcm: Vec<i16>,
    // Playout buffers, reused every 20 ms.
    mix: Vec<i16>,
    frame: Vec<i16>,
    clear: Vec<u8>,
    stats: PipelineStats,
}

impl AudioPipeline {
    /// `source`: what to send (none: listen only); `sink`: where the mix goes.
    pub fn new(
        source: Option<Box<dyn AudioSource + Send>>,
        sink: Option<Box<dyn AudioSink + Send>>,
    ) -> Result<Self, MediaPipelineError> {
        Ok(Self {
            source,
            sink,
            encoder: AudioEncoder::new(AudioEncoderConfig::default())?,
            keys: StreamKeys::new(MediaKeyConfig::default(), MediaStream::Audio),
            sequence: 0,
            speakers: HashMap::new(),
            active_speaker: ActiveSpeaker::default(),
            muted: false,
            pcm: vec![0; FRAME_SAMPLES],
            mix: vec![0; FRAME_SAMPLES],
            frame: vec![0; FRAME_SAMPLES],
            clear: Vec::new(),
            stats: PipelineStats {
                expected_loss_percent: AudioEncoderConfig::default().expected_loss_percent,
                ..PipelineStats::default()
            },
        })
    }

    /// A receiver report from the SFU on our audio (`fraction_lost` of 256): Opus's in-band FEC
    /// is planned for that much loss. It follows a rise at once and a fall by at most
    /// [`EXPECTED_LOSS_FALL_PERCENT`] per report, between [`MIN_EXPECTED_LOSS_PERCENT`] and
    /// [`MAX_EXPECTED_LOSS_PERCENT`].
    pub fn on_loss_report(&mut self, fraction_lost: u8) -> Result<(), MediaPipelineError> {
        self.stats.loss_reports += 1;
        let reported = (u32::from(fraction_lost) * 100).div_ceil(256) as i32;
        let previous = self.stats.expected_loss_percent;
        let expected = reported
            .max(previous - EXPECTED_LOSS_FALL_PERCENT)
            .clamp(MIN_EXPECTED_LOSS_PERCENT, MAX_EXPECTED_LOSS_PERCENT);
        if expected != previous {
            self.encoder.set_expected_loss(expected)?;
            self.stats.expected_loss_percent = expected;
        }
        Ok(())
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// The epoch whose keys are in use, if any.
    pub fn epoch(&self) -> Option<u64> {
        self.keys.epoch()
    }

    /// Mute stops sending (nothing leaves this device); unmute resumes.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    pub fn is_muted(&self) -> bool {
        self.muted
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

    /// The next 20 ms of this member's audio, encrypted; `None` when muted, silent (DTX),
    /// without keys yet, or when the source has ended.
    pub fn next_outgoing(&mut self) -> Result<Option<Vec<u8>>, MediaPipelineError> {
        let Some(source) = self.source.as_mut() else {
            return Ok(None);
        };
        let sender = self.keys.sender().filter(|_| !self.muted);
        let more = if sender.is_some() {
            source.next_frame(&mut self.pcm)?
        } else {
            source.skip_frame(&mut self.pcm)?
        };
        if !more {
            self.source = None;
            return Ok(None);
        }
        let sequence = self.sequence;
        self.sequence += 1;
        let Some(sender) = sender else {
            return Ok(None);
        };
        let level = AudioLevel::of(&self.pcm);
        let Some(packet) = self.encoder.encode(&self.pcm)? else {
            return Ok(None);
        };
        self.clear.clear();
        self.clear.push(level.to_byte());
        self.clear.extend_from_slice(packet);
        let mut wire = Vec::with_capacity(self.clear.len() + 32);
        sender.encrypt_into(&sequence.to_be_bytes(), &self.clear, &mut wire)?;
        self.stats.frames_sent += 1;
        Ok(Some(wire))
    }

    /// Takes one frame from the SFU. Frames SFrame refuses are counted and dropped.
    pub fn incoming(&mut self, wire: &[u8], now: Instant) {
        let Some(receiver) = self.keys.receiver() else {
            self.stats.frames_refused += 1;
            return;
        };
        let opened = match receiver.decrypt_into(wire, AUDIO_METADATA_BYTES, &mut self.clear, now) {
            Ok(opened) => opened,
            Err(_) => {
                self.stats.frames_refused += 1;
                return;
            }
        };
        let Ok(sequence) = <[u8; 8]>::try_from(opened.metadata).map(u64::from_be_bytes) else {
            self.stats.frames_refused += 1;
            return;
        };
        let sender = opened.sender;
        let Some((&level, packet)) = opened.payload.split_first() else {
            self.stats.frames_refused += 1;
            return;
        };
        let payload = packet.to_vec();
        self.stats.frames_received += 1;
        self.active_speaker
            .heard(sender, AudioLevel::from_byte(level));
        let speaker = match self.speakers.entry(sender) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => match AudioDecoder::new() {
                Ok(decoder) => entry.insert(Speaker {
                    buffer: JitterBuffer::new(),
                    decoder,
                    idle_ticks: 0,
                    heard_this_tick: false,
                }),
                Err(_) => return,
            },
        };
        speaker.idle_ticks = 0;
        speaker.heard_this_tick = true;
        speaker.buffer.push(sequence, payload, now);
    }

    /// Plays the next 20 ms: every speaker's frame (or its concealment), mixed, to the sink.
    pub fn tick(&mut self, now: Instant) -> Result<(), MediaPipelineError> {
        let (mix, frame) = (&mut self.mix, &mut self.frame);
        mix.fill(0);
        let mut any = false;
        for speaker in self.speakers.values_mut() {
            speaker.idle_ticks += 1;
            let played = match speaker.buffer.pop(now) {
                Playout::Waiting => continue,
                Playout::Packet(packet) => speaker.decoder.decode(&packet, frame),
                Playout::Recover(next) => speaker.decoder.recover(&next, frame),
                Playout::Conceal => speaker.decoder.conceal(frame),
            };
            if played.is_err() {
                speaker.decoder.conceal(frame)?;
            }
            mix_into(mix, frame);
            any = true;
        }
        let speakers = &self.speakers;
        self.stats.active_speaker = self
            .active_speaker
            .tick(|leaf| speakers.get(&leaf).is_some_and(|s| s.heard_this_tick));
        for speaker in self.speakers.values_mut() {
            speaker.heard_this_tick = false;
        }
        let active_speaker = &mut self.active_speaker;
        self.speakers.retain(|leaf, s| {
            let keep = s.idle_ticks < SPEAKER_TIMEOUT_TICKS;
            if !keep {
                active_speaker.forget(*leaf);
            }
            keep
        });
        if any {
            self.stats.frames_played += 1;
        }
        if let Some(sink) = self.sink.as_mut() {
            sink.play(&self.mix)?;
        }
        Ok(())
    }

    /// Hands the sink back (e.g. to finish a WAV file).
    pub fn take_sink(&mut self) -> Option<Box<dyn AudioSink + Send>> {
        self.sink.take()
    }
}
