//! Puts one video stream's RTP packets back in sequence order, waiting a little for a missing
//! one: the NACK retransmission that webrtc-rs's interceptors ask for and answer arrives one
//! NACK interval (100 ms) plus a round trip after the loss. Without the wait a retransmission
//! comes too late to complete its picture, and every loss costs the pictures until the next
//! keyframe. Used by the SFU's access-unit assembly and by the receiver's pipeline alike.
//!
//! Packets pass straight through while nothing is missing; only after a gap are later packets
//! held, for at most [`REORDER_WAIT`], and then the gap is given up on ([`Arrival::AfterGap`]).
//! A packet that *restarts* the stream (the first packet of a keyframe, [`starts_keyframe`])
//! ends the wait at once: whatever is missing before it belongs to pictures it replaces.
//!
//! Hand-written: the `rtc` crate's jitter buffer is internal to an interceptor that binds to a
//! single SSRC of the connection, and audio has its own playout buffer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::nal::starts_keyframe;

/// How long later packets wait for a missing one.
pub const REORDER_WAIT: Duration = Duration::from_millis(200);
/// Packets held at most; beyond that the gap is given up at once (a long burst of loss).
pub const MAX_HELD: usize = 512;

/// How a packet comes out of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next in sequence (or the first one).
    InOrder,
    /// Packets before this one were given up on. It spoils the access unit being assembled
    /// unless nothing of that unit was collected yet and this packet starts a keyframe
    /// ([`Arrival::spoils_unit`]).
    AfterGap,
}

impl Arrival {
    /// Whether this packet leaves the unit being assembled unusable.
    pub fn spoils_unit(self, nothing_collected: bool, payload: &[u8]) -> bool {
        self == Arrival::AfterGap && !(nothing_collected && starts_keyframe(payload))
    }
}

/// A packet released in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released<T> {
    pub arrival: Arrival,
    pub sequence: u16,
    pub packet: T,
}

/// What the buffer did, for counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Missing packets that arrived while later ones waited (retransmissions, reordering).
    pub repaired: u64,
    /// Missing packets given up on.
    pub given_up: u64,
    /// Packets older than what was already released (late duplicates), dropped.
    pub late: u64,
}

/// The reorder buffer of one stream. `T` is the packet (payload and marker bit).
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    wait: Duration,
    /// Extended sequence number (never wraps) of the next packet to release.
    next: Option<u64>,
    /// Packet, when it arrived, whether it restarts the stream.
    held: BTreeMap<u64, (T, Instant, bool)>,
    /// The next release follows a gap that was given up on.
    after_gap: bool,
    stats: ReorderStats,
}

impl<T> Default for ReorderBuffer<T> {
    fn default() -> Self {
        Self::new(REORDER_WAIT)
    }
}

impl<T> ReorderBuffer<T> {
    pub fn new(wait: Duration) -> Self {
        Self {
            wait,
            next: None,
            held: BTreeMap::new(),
            after_gap: false,
            stats: ReorderStats::default(),
        }
    }

    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Takes a packet; `false` if it is a late duplicate (dropped). `restarts`: nothing before
    /// this packet is needed any more (see the module notes).
    pub fn push(&mut self, sequence: u16, packet: T, restarts: bool, now: Instant) -> bool {
        // Start a cycle up so that packets just before the first one still compare as late.
        let next = *self.next.get_or_insert(u64::from(sequence) + (1 << 16));
        let ahead = sequence.wrapping_sub(next as u16);
        if ahead >= 0x8000 {
            self.stats.late += 1;
            return false;
        }
        let extended = next + u64::from(ahead);
        if self.held.contains_key(&extended) {
            self.stats.late += 1;
            return false;
        }
        if ahead == 0 && !self.held.is_empty() {
            self.stats.repaired += 1;
        }
        self.held.insert(extended, (packet, now, restarts));
        true
    }

    /// The next packet in order, if it is here or the wait for a missing one is over.
    pub fn pop(&mut self, now: Instant) -> Option<Released<T>> {
        let next = self.next?;
        let (&first, &(_, held_since, restarts)) = self.held.first_key_value()?;
        if first != next {
            let waited = now.saturating_duration_since(held_since) >= self.wait;
            if !waited && !restarts && self.held.len() <= MAX_HELD {
                return None;
            }
            self.stats.given_up += first - next;
            self.after_gap = true;
        }
        let (packet, _, _) = self.held.remove(&first)?;
        self.next = Some(first + 1);
        let arrival = if std::mem::take(&mut self.after_gap) {
            Arrival::AfterGap
        } else {
            Arrival::InOrder
        };
        Some(Released {
            arrival,
            sequence: first as u16,
            packet,
        })
    }

    /// When the packets now held stop waiting for the missing one, if any are held.
    pub fn deadline(&self) -> Option<Instant> {
        self.held
            .first_key_value()
            .map(|(_, (_, since, _))| *since + self.wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(buffer: &mut ReorderBuffer<u16>, now: Instant) -> Vec<(Arrival, u16)> {
        std::iter::from_fn(|| buffer.pop(now))
            .map(|r| (r.arrival, r.packet))
            .collect()
    }

    #[test]
    fn in_order_packets_pass_at_once_across_the_wrap() {
        let now = Instant::now();
        let mut buffer = ReorderBuffer::default();
        for sequence in [65_534u16, 65_535, 0, 1] {
            assert!(buffer.push(sequence, sequence, false, now));
            assert_eq!(drain(&mut buffer, now), [(Arrival::InOrder, sequence)]);
        }
        assert_eq!(buffer.stats(), ReorderStats::default());
    }

    #[test]
    fn a_retransmission_within_the_wait_repairs_the_gap() {
        let start = Instant::now();
        let mut buffer = ReorderBuffer::default();
        buffer.push(65_535, 65_535, false, start);
        drain(&mut buffer, start);
        buffer.push(1, 1, false, start);
        buffer.push(2, 2, false, start);
        assert!(drain(&mut buffer, start).is_empty(), "0 is missing: wait");
        let later = start + Duration::from_millis(150);
        assert!(drain(&mut buffer, later).is_empty());
        assert!(buffer.push(0, 0, false, later), "the retransmission");
        assert_eq!(
            drain(&mut buffer, later),
            [
                (Arrival::InOrder, 0),
                (Arrival::InOrder, 1),
                (Arrival::InOrder, 2)
            ]
        );
        assert!(!buffer.push(0, 0, false, later), "a second copy is late");
        let stats = buffer.stats();
        assert_eq!((stats.repaired, stats.given_up, stats.late), (1, 0, 1));
    }

    #[test]
    fn a_gap_is_given_up_after_the_wait_and_said_once() {
        let start = Instant::now();
        let mut buffer = ReorderBuffer::default();
        buffer.push(10, 10, false, start);
        drain(&mut buffer, start);
        buffer.push(13, 13, false, start);
        buffer.push(14, 14, false, start + Duration::from_millis(50));
        assert_eq!(buffer.deadline(), Some(start + REORDER_WAIT));
        assert!(drain(&mut buffer, start + REORDER_WAIT - Duration::from_millis(1)).is_empty());
        assert_eq!(
            drain(&mut buffer, start + REORDER_WAIT),
            [(Arrival::AfterGap, 13), (Arrival::InOrder, 14)]
        );
        assert!(
            !buffer.push(11, 11, false, start + REORDER_WAIT),
            "too late now"
        );
        assert_eq!(buffer.deadline(), None);
        assert_eq!(buffer.stats().given_up, 2);
    }

    #[test]
    fn a_keyframe_start_ends_the_wait_at_once() {
        let now = Instant::now();
        let mut buffer = ReorderBuffer::default();
        buffer.push(0, 0, false, now);
        drain(&mut buffer, now);
        buffer.push(5, 5, true, now);
        buffer.push(6, 6, false, now);
        assert_eq!(
            drain(&mut buffer, now),
            [(Arrival::AfterGap, 5), (Arrival::InOrder, 6)]
        );
        assert_eq!(buffer.stats().given_up, 4);
    }

    #[test]
    fn a_long_burst_does_not_hold_packets_without_bound() {
        let now = Instant::now();
        let mut buffer = ReorderBuffer::default();
        buffer.push(0, 0, false, now);
        drain(&mut buffer, now);
        for sequence in 2..=(MAX_HELD as u16 + 2) {
            buffer.push(sequence, sequence, false, now);
        }
        let released = drain(&mut buffer, now);
        assert_eq!(released.first(), Some(&(Arrival::AfterGap, 2)));
        assert_eq!(released.len(), MAX_HELD + 1);
    }

    #[test]
    fn only_a_clean_keyframe_start_survives_a_gap() {
        let sps = [0x67, 0x42];
        let p_slice = [0x41, 0x9a];
        assert!(
            !Arrival::AfterGap.spoils_unit(true, &sps),
            "a clean keyframe start"
        );
        assert!(
            Arrival::AfterGap.spoils_unit(false, &sps),
            "something already collected"
        );
        assert!(
            Arrival::AfterGap.spoils_unit(true, &p_slice),
            "a delta lacks its reference"
        );
        assert!(!Arrival::InOrder.spoils_unit(false, &p_slice));
    }
}
