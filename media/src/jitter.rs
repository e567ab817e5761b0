//! An adaptive jitter buffer for 20 ms audio packets.
//!
//! Packets carry a sequence number (the frame index). Playout asks for one frame every
//! 20 ms and gets the packet, or the FEC rebuild from the next packet, or concealment. The
//! playout delay adapts: it estimates interarrival jitter as RTP does (RFC 3550 §6.4.1), waits
//! one more frame whenever a packet arrives too late to play, and drops old frames when more
//! is buffered than the jitter calls for, so latency stays low on a calm path.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::FRAME_MS;

/// Least playout delay: two frames, so a lost frame can still be rebuilt from the next one.
const MIN_DELAY_MS: f64 = 2.0 * FRAME_MS as f64;
/// Most playout delay a talking meeting tolerates.
const MAX_DELAY_MS: f64 = 300.0;
/// Buffered audio beyond the target by this much gets dropped to catch up.
const CATCH_UP_SLACK_MS: f64 = 3.0 * FRAME_MS as f64;
/// More packets than this (10 s) are never held, whatever a peer sends.
const MAX_PACKETS: usize = 500;

/// What to play for the next 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Nothing yet: the buffer is still filling before the first frame.
    Waiting,
    /// The frame's own packet.
    Packet(Vec<u8>),
    /// The frame was lost; rebuild it from the FEC in this (the next) packet.
    Recover(Vec<u8>),
    /// Nothing usable: conceal (also the extra frame that grows the delay).
    Conceal,
}

/// Counters for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    pub recovered: u64,
    pub concealed: u64,
    /// Arrived after their playout time.
    pub late: u64,
    /// Dropped to bring the delay back down (or beyond the buffer's capacity).
    pub dropped: u64,
}

/// The buffer for one remote speaker.
pub struct JitterBuffer {
    packets: BTreeMap<u64, Vec<u8>>,
    next: Option<u64>,
    first_arrival: Option<Instant>,
    origin: Option<(Instant, u64)>,
    last_transit_ms: Option<f64>,
    jitter_ms: f64,
    extra_delay_frames: u32,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl JitterBuffer {
    pub fn new() -> Self {
        Self {
            packets: BTreeMap::new(),
            next: None,
            first_arrival: None,
            origin: None,
            last_transit_ms: None,
            jitter_ms: 0.0,
            extra_delay_frames: 0,
            stats: JitterStats::default(),
        }
    }

    /// The playout delay the buffer aims for now, in milliseconds.
    pub fn target_delay_ms(&self) -> f64 {
        (f64::from(FRAME_MS) + 3.0 * self.jitter_ms).clamp(MIN_DELAY_MS, MAX_DELAY_MS)
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Takes a packet for frame `sequence` that arrived at `arrival`.
    pub fn push(&mut self, sequence: u64, payload: Vec<u8>, arrival: Instant) {
        self.stats.received += 1;
        let (origin_time, origin_sequence) = *self.origin.get_or_insert((arrival, sequence));
        // Transit relative to the first packet: arrival offset minus send offset.
        let arrived_ms = arrival.saturating_duration_since(origin_time).as_secs_f64() * 1000.0;
        let sent_ms = (sequence as f64 - origin_sequence as f64) * f64::from(FRAME_MS);
        let transit = arrived_ms - sent_ms;
        if let Some(last) = self.last_transit_ms {
            self.jitter_ms += ((transit - last).abs() - self.jitter_ms) / 16.0;
        }
        self.last_transit_ms = Some(transit);
        self.first_arrival.get_or_insert(arrival);

        if self.next.is_some_and(|next| sequence < next) {
            // Too late to play: wait one frame longer from now on.
            self.stats.late += 1;
            if self.target_delay_ms() + f64::from(self.extra_delay_frames * FRAME_MS) < MAX_DELAY_MS
            {
                self.extra_delay_frames += 1;
            }
            return;
        }
        if self.packets.len() >= MAX_PACKETS {
            self.stats.dropped += 1;
            return;
        }
        self.packets.insert(sequence, payload);
    }

    /// What to play for the next 20 ms, at `now`.
    pub fn pop(&mut self, now: Instant) -> Playout {
        let next = match self.next {
            Some(next) => next,
            None => {
                let (Some(first), Some((&lowest, _))) =
                    (self.first_arrival, self.packets.first_key_value())
                else {
                    return Playout::Waiting;
                };
                let waited = now.saturating_duration_since(first).as_secs_f64() * 1000.0;
                if waited + f64::from(FRAME_MS) / 2.0 < self.target_delay_ms() {
                    return Playout::Waiting;
                }
                lowest
            }
        };
        if self.extra_delay_frames > 0 {
            self.extra_delay_frames -= 1;
            self.next = Some(next);
            self.stats.concealed += 1;
            return Playout::Conceal;
        }
        let next = self.catch_up(next);
        self.next = Some(next + 1);
        if let Some(packet) = self.packets.remove(&next) {
            self.stats.played += 1;
            return Playout::Packet(packet);
        }
        if let Some(following) = self.packets.get(&(next + 1)) {
            self.stats.recovered += 1;
            return Playout::Recover(following.clone());
        }
        self.stats.concealed += 1;
        Playout::Conceal
    }

    /// Drops frames when far more is buffered than the target delay needs.
    fn catch_up(&mut self, next: u64) -> u64 {
        let Some((&newest, _)) = self.packets.last_key_value() else {
            return next;
        };
        let buffered_ms = (newest.saturating_sub(next) as f64 + 1.0) * f64::from(FRAME_MS);
        if buffered_ms <= self.target_delay_ms() + CATCH_UP_SLACK_MS {
            return next;
        }
        let keep_frames = (self.target_delay_ms() / f64::from(FRAME_MS)).ceil() as u64;
        let skip_to = newest.saturating_sub(keep_frames.saturating_sub(1));
        let stale: Vec<u64> = self.packets.range(..skip_to).map(|(s, _)| *s).collect();
        for sequence in stale {
            self.packets.remove(&sequence);
            self.stats.dropped += 1;
        }
        skip_to.max(next)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn in_order_packets_play_after_the_minimum_delay() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new();
        buffer.push(0, vec![0], at(start, 0));
        assert_eq!(buffer.pop(at(start, 0)), Playout::Waiting);
        buffer.push(1, vec![1], at(start, 20));
        buffer.push(2, vec![2], at(start, 40));
        assert_eq!(buffer.pop(at(start, 40)), Playout::Packet(vec![0]));
        assert_eq!(buffer.pop(at(start, 60)), Playout::Packet(vec![1]));
    }

    /// Whatever the phase of the receiver's 20 ms clock against the arrivals, the first frame
    /// starts playing after 30–50 ms: a late phase is absorbed by a shorter wait, which keeps
    /// mouth-to-ear under 80 ms in every phase (docs/performance.md).
    #[test]
    fn the_start_up_wait_absorbs_the_receivers_tick_phase() {
        let start = Instant::now();
        for phase in 0..FRAME_MS as u64 {
            let mut buffer = JitterBuffer::new();
            let mut waited = None;
            for tick in 0..10u64 {
                let now = at(start, tick * 20 + phase);
                // A frame every 20 ms, arriving on the sender's clock, before this tick.
                buffer.push(tick, vec![tick as u8], at(start, tick * 20));
                if let Playout::Packet(first) = buffer.pop(now) {
                    assert_eq!(first, vec![0], "phase {phase} ms");
                    waited = Some(tick * 20 + phase);
                    break;
                }
            }
            let waited = waited.unwrap_or_else(|| panic!("phase {phase} ms: never started"));
            assert!(
                (30..50).contains(&waited),
                "phase {phase} ms: waited {waited} ms"
            );
        }
    }

    #[test]
    fn a_lost_frame_is_recovered_from_the_next_packet_or_concealed() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new();
        for (sequence, ms) in [(0, 0), (2, 40), (3, 60)] {
            buffer.push(sequence, vec![sequence as u8], at(start, ms));
        }
        assert_eq!(buffer.pop(at(start, 60)), Playout::Packet(vec![0]));
        assert_eq!(buffer.pop(at(start, 80)), Playout::Recover(vec![2]));
        assert_eq!(buffer.pop(at(start, 100)), Playout::Packet(vec![2]));
        assert_eq!(buffer.pop(at(start, 120)), Playout::Packet(vec![3]));
        assert_eq!(buffer.pop(at(start, 140)), Playout::Conceal);
        assert_eq!(buffer.stats().recovered, 1);
    }

    #[test]
    fn late_packets_grow_the_delay_and_a_backlog_is_dropped() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new();
        buffer.push(0, vec![0], at(start, 0));
        buffer.push(1, vec![1], at(start, 20));
        assert_eq!(buffer.pop(at(start, 40)), Playout::Packet(vec![0]));
        assert_eq!(buffer.pop(at(start, 60)), Playout::Packet(vec![1]));
        assert_eq!(buffer.pop(at(start, 80)), Playout::Conceal);
        buffer.push(2, vec![2], at(start, 85));
        assert_eq!(buffer.stats().late, 1);
        assert_eq!(
            buffer.pop(at(start, 100)),
            Playout::Conceal,
            "one frame of extra delay"
        );
        // A burst of 30 frames arrives at once: the buffer skips ahead instead of lagging.
        for sequence in 3..33 {
            buffer.push(sequence, vec![sequence as u8], at(start, 110));
        }
        let Playout::Packet(played) = buffer.pop(at(start, 120)) else {
            panic!("expected a packet");
        };
        assert!(played[0] > 20, "skipped ahead to {}", played[0]);
        assert!(buffer.stats().dropped > 0);
    }
}
