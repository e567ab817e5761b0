//! Audio level and the active speaker, end to end.
//!
//! Each audio frame carries its sender's level as one byte laid out like the RFC 6464 header
//! extension (bit 7: voice activity, bits 0–6: level in −dBov, 0 loudest, 127 silence). Unlike
//! RFC 6464 the byte travels *inside* the SFrame ciphertext, so the SFU cannot read who is
//! talking; receivers learn it after decryption and pick the active speaker themselves.

use std::collections::HashMap;

/// Levels at or above this many −dBov are silence (RFC 6464's range ends at 127).
pub const SILENCE: u8 = 127;
/// Frames louder than −50 dBov count as voice (quiet speech through a headset is ~−40).
const VOICE_THRESHOLD: u8 = 50;
const VOICE_BIT: u8 = 0x80;

/// The RFC 6464 level of one frame: −dBov of its RMS, 0 (full scale) to 127 (silence).
pub fn level_dbov(samples: &[i16]) -> u8 {
    if samples.is_empty() {
        return SILENCE;
    }
    let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    let rms = (energy / samples.len() as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        return SILENCE;
    }
    let dbov = 20.0 * rms.log10();
    // The cast saturates; the clamp keeps it in the 7 bits RFC 6464 has.
    (-dbov).round().clamp(0.0, f64::from(SILENCE)) as u8
}

/// One frame's level byte: voice-activity bit and 7-bit level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel(u8);

impl AudioLevel {
    /// The level of a frame of samples, with voice activity set above the threshold.
    pub fn of(samples: &[i16]) -> Self {
        let level = level_dbov(samples);
        let voice = if level < VOICE_THRESHOLD {
            VOICE_BIT
        } else {
            0
        };
        Self(voice | level)
    }

    pub fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    pub fn to_byte(self) -> u8 {
        self.0
    }

    pub fn voice(self) -> bool {
        self.0 & VOICE_BIT != 0
    }

    /// −dBov, 0 loudest.
    pub fn dbov(self) -> u8 {
        self.0 & !VOICE_BIT
    }
}

/// How much louder (in smoothed loudness) a new speaker must be to take over; stops the
/// active speaker flickering between two people talking at once.
const TAKEOVER_MARGIN: f32 = 6.0;
/// Per-frame smoothing of a speaker's loudness (about 200 ms to follow a change).
const SMOOTHING: f32 = 0.2;
/// Below this smoothed loudness (dB above silence) nobody is the active speaker.
const ACTIVE_FLOOR: f32 = 20.0;

/// Picks the active speaker from the levels that arrive, by leaf index.
#[derive(Debug, Default)]
pub struct ActiveSpeaker {
    /// Smoothed loudness per speaker, in dB above silence (0 silent, 127 full scale).
    loudness: HashMap<u32, f32>,
    current: Option<u32>,
}

impl ActiveSpeaker {
    /// A frame from `speaker` at `level`.
    pub fn heard(&mut self, speaker: u32, level: AudioLevel) {
        let sample = if level.voice() {
            f32::from(SILENCE - level.dbov())
        } else {
            0.0
        };
        let loudness = self.loudness.entry(speaker).or_default();
        *loudness += SMOOTHING * (sample - *loudness);
    }

    /// One 20 ms playout step: speakers who sent nothing (DTX, muted, gone) fade, and the
    /// active speaker is chosen again. Returns it.
    pub fn tick(&mut self, heard_this_tick: impl Fn(u32) -> bool) -> Option<u32> {
        for (speaker, loudness) in self.loudness.iter_mut() {
            if !heard_this_tick(*speaker) {
                *loudness *= 1.0 - SMOOTHING;
            }
        }
        self.loudness.retain(|_, loudness| *loudness > 0.5);
        let loudest = self
            .loudness
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(speaker, loudness)| (*speaker, *loudness));
        let current = self
            .current
            .and_then(|speaker| self.loudness.get(&speaker).map(|l| (speaker, *l)))
            .filter(|(_, loudness)| *loudness >= ACTIVE_FLOOR);
        self.current = match (current, loudest) {
            (Some((now, level)), Some((next, louder))) if next != now => {
                if louder > level + TAKEOVER_MARGIN {
                    Some(next)
                } else {
                    Some(now)
                }
            }
            (Some((now, _)), _) => Some(now),
            (None, Some((next, louder))) if louder >= ACTIVE_FLOOR => Some(next),
            (None, _) => None,
        };
        self.current
    }

    pub fn current(&self) -> Option<u32> {
        self.current
    }

    /// Forgets a speaker (left the meeting).
    pub fn forget(&mut self, speaker: u32) {
        self.loudness.remove(&speaker);
        if self.current == Some(speaker) {
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;

    fn sine(amplitude: f64) -> Vec<i16> {
        (0..FRAME_SAMPLES)
            .map(|i| (amplitude * (i as f64 * 0.0576).sin()) as i16)
            .collect()
    }

    #[test]
    fn levels_follow_rfc_6464() {
        assert_eq!(level_dbov(&[0; FRAME_SAMPLES]), SILENCE);
        assert_eq!(level_dbov(&[]), SILENCE);
        // A full-scale sine has RMS 1/√2: −3 dBov.
        assert_eq!(level_dbov(&sine(32_767.0)), 3);
        // Ten times quieter: 20 dB lower.
        assert_eq!(level_dbov(&sine(3_276.7)), 23);
        let loud = AudioLevel::of(&sine(10_000.0));
        assert!(loud.voice());
        let hiss = AudioLevel::of(&sine(20.0));
        assert!(!hiss.voice(), "{hiss:?}");
        assert_eq!(AudioLevel::from_byte(loud.to_byte()), loud);
    }

    #[test]
    fn the_loudest_talker_becomes_active_and_holds_against_a_quieter_one() {
        let mut active = ActiveSpeaker::default();
        let loud = AudioLevel::of(&sine(10_000.0));
        let quiet = AudioLevel::of(&sine(1_000.0));
        assert_eq!(active.tick(|_| false), None);
        for _ in 0..25 {
            active.heard(3, quiet);
            active.tick(|s| s == 3);
        }
        assert_eq!(active.current(), Some(3));
        for _ in 0..25 {
            active.heard(3, quiet);
            active.heard(7, loud);
            active.tick(|_| true);
        }
        assert_eq!(
            active.current(),
            Some(7),
            "a clearly louder talker takes over"
        );
        // 7 stops (DTX: nothing arrives); 3 keeps talking and takes over once 7 fades.
        for _ in 0..50 {
            active.heard(3, quiet);
            active.tick(|s| s == 3);
        }
        assert_eq!(active.current(), Some(3));
        // Everyone silent: nobody is active.
        for _ in 0..50 {
            active.tick(|_| false);
        }
        assert_eq!(active.current(), None);
    }
}
