//! Caps on what one publisher can make the SFU carry: a token bucket per published track
//! (audio, video), in bytes per second with a burst allowance. What a member publishes
//! beyond its cap is dropped on arrival, before it costs any subscriber anything.
//!
//! The caps are far above any legitimate rung: the client's audio is Opus at 32 kbit/s
//! (`AudioEncoderConfig`), its video at most 300 kbit/s (the top of the rate ladder,
//! `media/src/rate.rs`, at the default `VideoEncoderConfig`). See docs/security.md.

use std::time::{Duration, Instant};

use conclave_protocol::ParticipantId;

/// Audio cap: 256 kbit/s (8 times the client's Opus rate, half of Opus's own maximum).
pub const AUDIO_BYTES_PER_SECOND: u64 = 32_000;
/// Audio burst: half a second at the cap.
pub const AUDIO_BURST_BYTES: u64 = 16_000;
/// Video cap: 4 Mbit/s (more than 13 times the top rung of the client's ladder).
pub const VIDEO_BYTES_PER_SECOND: u64 = 500_000;
/// Video burst: one second at the cap, far more than a keyframe of the client's (783 B on the
/// test pattern, docs/performance.md; tens of kB at most for a busy camera picture at
/// 320×240, 300 kbit/s, and its pacer spreads those out).
pub const VIDEO_BURST_BYTES: u64 = 500_000;
/// Each packet is charged this much on top of its payload (RTP, SRTP and UDP/IP headers are
/// about this size), so floods of tiny packets are capped too.
pub const PACKET_OVERHEAD_BYTES: u64 = 64;
/// A publisher over its cap is logged at most this often (with what was dropped meanwhile).
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A token bucket in bytes: refills at `rate` bytes/s up to `burst` bytes.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Available bytes, in nanobytes (bytes × 10⁹) so refills need no floating point.
    tokens: u128,
    last: Instant,
}

const NANO: u128 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: u128::from(burst) * NANO,
            last: now,
        }
    }

    /// Takes `bytes` if the bucket holds them; false (and nothing taken) if not.
    pub fn take(&mut self, bytes: u64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        let refill = elapsed.as_nanos().saturating_mul(u128::from(self.rate));
        self.tokens = self
            .tokens
            .saturating_add(refill)
            .min(u128::from(self.burst) * NANO);
        let cost = u128::from(bytes) * NANO;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// What kind of track a cap is for (in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Audio,
    Video,
}

impl TrackKind {
    fn name(self) -> &'static str {
        match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        }
    }
}

/// The cap on one publisher's track: admits packets while within the bucket, counts and
/// (at most once per [`LOG_INTERVAL`]) logs the ones dropped.
#[derive(Debug, Clone)]
pub struct PublisherCap {
    publisher: ParticipantId,
    kind: TrackKind,
    bucket: TokenBucket,
    dropped_since_log: u64,
    last_log: Option<Instant>,
}

impl PublisherCap {
    /// The default cap for `kind`.
    pub fn new(publisher: ParticipantId, kind: TrackKind, now: Instant) -> Self {
        let (rate, burst) = match kind {
            TrackKind::Audio => (AUDIO_BYTES_PER_SECOND, AUDIO_BURST_BYTES),
            TrackKind::Video => (VIDEO_BYTES_PER_SECOND, VIDEO_BURST_BYTES),
        };
        Self {
            publisher,
            kind,
            bucket: TokenBucket::new(rate, burst, now),
            dropped_since_log: 0,
            last_log: None,
        }
    }

    /// Whether a packet with `payload_len` bytes of payload may go on; false: drop it.
    pub fn admit(&mut self, payload_len: usize, now: Instant) -> bool {
        let cost = u64::try_from(payload_len)
            .unwrap_or(u64::MAX)
            .saturating_add(PACKET_OVERHEAD_BYTES);
        if self.bucket.take(cost, now) {
            return true;
        }
        self.dropped_since_log += 1;
        if self
            .last_log
            .is_none_or(|at| now.saturating_duration_since(at) >= LOG_INTERVAL)
        {
            tracing::warn!(
                participant = %self.publisher,
                track = self.kind.name(),
                dropped = self.dropped_since_log,
                "publisher over its bitrate cap: the excess is dropped"
            );
            self.dropped_since_log = 0;
            self.last_log = Some(now);
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_bucket_gives_its_burst_then_only_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000, 500, start);
        // The burst, all at once; not a byte more.
        assert!(bucket.take(500, start));
        assert!(!bucket.take(1, start));
        // 100 ms refill 100 bytes.
        assert!(!bucket.take(101, start + 100 * MS));
        assert!(bucket.take(100, start + 100 * MS));
        // Idle time refills up to the burst only.
        let later = start + Duration::from_secs(3600);
        assert!(bucket.take(500, later));
        assert!(!bucket.take(1, later));
        // A clock that goes back refills nothing.
        assert!(!bucket.take(1, start));
    }

    #[test]
    fn a_refused_packet_costs_nothing() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000, 100, start);
        assert!(!bucket.take(101, start));
        assert!(bucket.take(100, start));
    }

    /// An attacker blasting far above the cap gets through at most the burst plus the rate
    /// over the time it blasted; a legitimate publisher loses nothing.
    #[test]
    fn a_blast_is_cut_to_the_cap_and_legitimate_rates_pass() {
        let id = ParticipantId(7);
        let start = Instant::now();
        for kind in [TrackKind::Audio, TrackKind::Video] {
            let mut attacker = PublisherCap::new(id, kind, start);
            // 1,200-byte packets every 100 µs (96 Mbit/s) for 10 s.
            let mut passed = 0u64;
            let step = Duration::from_micros(100);
            for i in 0..100_000u32 {
                if attacker.admit(1_200, start + step * i) {
                    passed += 1_200 + PACKET_OVERHEAD_BYTES;
                }
            }
            let (rate, burst) = match kind {
                TrackKind::Audio => (AUDIO_BYTES_PER_SECOND, AUDIO_BURST_BYTES),
                TrackKind::Video => (VIDEO_BYTES_PER_SECOND, VIDEO_BURST_BYTES),
            };
            assert!(
                passed <= burst + rate * 10,
                "{kind:?}: {passed} bytes passed"
            );
            assert!(passed >= rate * 9, "{kind:?}: the cap itself still passes");
        }

        // Opus at 32 kbit/s with FEC (up to 200-byte packets every 20 ms), for a minute.
        let mut speaker = PublisherCap::new(id, TrackKind::Audio, start);
        for i in 0..3_000u32 {
            assert!(speaker.admit(200, start + 20 * MS * i));
        }
        // Video at 4 times the top rung (1.2 Mbit/s), with a 120 KB keyframe arriving at
        // once every second, for a minute.
        let mut camera = PublisherCap::new(id, TrackKind::Video, start);
        for second in 0..60u32 {
            let at = start + Duration::from_secs(u64::from(second));
            for packet in 0..100u32 {
                assert!(
                    camera.admit(1_200, at + MS * packet / 10),
                    "keyframe {second}"
                );
            }
            for packet in 0..30u32 {
                assert!(camera.admit(1_000, at + 500 * MS + MS * packet));
            }
        }
    }
}
