//! Downstream video arrives as one RTP stream per publisher: the SFU gives each publisher its
//! own track towards every subscriber (see `conclave_server::sfu`). Each stream is put back in
//! order and reassembled into access units on its own, so the packets of two publishers never
//! mix and a gap in one spoils only that publisher's picture.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::codec::h264::{
    H264Packet, NALU_TYPE_BITMASK, STAPA_HEADER_SIZE, STAPA_NALU_LENGTH_SIZE, STAPA_NALU_TYPE,
};
use rtc::rtp::packetizer::Depacketizer as _;

use crate::nal::starts_keyframe;
use crate::reorder::{Arrival, ReorderBuffer, ReorderStats};

/// An access unit larger than this is refused (a 4K keyframe is well below).
const MAX_ACCESS_UNIT_BYTES: usize = 4 * 1024 * 1024;
/// Streams followed at once; packets of further streams are dropped (a meeting's publishers
/// are far fewer, so only a misbehaving peer gets here).
pub const MAX_STREAMS: usize = 64;
/// A stream silent this long is forgotten (its publisher left or turned the camera off).
const STREAM_IDLE: Duration = Duration::from_secs(10);

/// One access unit a stream finished: whole, or spoilt in transit.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    Whole(Vec<u8>),
    Damaged,
}

struct IncomingStream {
    depacketizer: H264Packet,
    assembling: Vec<u8>,
    /// Incoming packets in sequence order, waiting briefly for NACK repairs.
    reorder: ReorderBuffer<(Vec<u8>, bool)>,
    damaged: bool,
    last_packet: Instant,
}

impl IncomingStream {
    fn new(now: Instant) -> Self {
        Self {
            depacketizer: H264Packet::default(),
            assembling: Vec::new(),
            reorder: ReorderBuffer::default(),
            damaged: false,
            last_packet: now,
        }
    }

    /// Adds one released packet; a finished access unit when `marker` ends one.
    fn assemble(
        &mut self,
        arrival: Arrival,
        payload: &[u8],
        marker: bool,
        repaired_by_keyframe: &mut u64,
    ) -> Option<Assembled> {
        if arrival.spoils_unit(self.assembling.is_empty() && !self.damaged, payload) {
            self.damage();
        } else if arrival == Arrival::AfterGap {
            // Only whole earlier pictures were lost, and this keyframe repairs them.
            *repaired_by_keyframe += 1;
        }
        if !self.damaged {
            if stap_a_is_malformed(payload) {
                self.damage();
            } else {
                match self
                    .depacketizer
                    .depacketize(&Bytes::copy_from_slice(payload))
                {
                    Ok(bytes) if self.assembling.len() + bytes.len() <= MAX_ACCESS_UNIT_BYTES => {
                        self.assembling.extend_from_slice(&bytes);
                    }
                    _ => self.damage(),
                }
            }
        }
        if !marker {
            return None;
        }
        let damaged = std::mem::take(&mut self.damaged);
        let unit = std::mem::take(&mut self.assembling);
        self.depacketizer = H264Packet::default();
        Some(if damaged || unit.is_empty() {
            Assembled::Damaged
        } else {
            Assembled::Whole(unit)
        })
    }

    fn damage(&mut self) {
        self.damaged = true;
        self.assembling.clear();
        self.depacketizer = H264Packet::default();
    }
}

/// Every downstream video stream of one receiver, by SSRC.
#[derive(Default)]
pub struct IncomingStreams {
    streams: HashMap<u32, IncomingStream>,
    /// Reorder counters of streams already forgotten.
    retired: ReorderStats,
    refused_packets: u64,
}

impl IncomingStreams {
    /// Queues one RTP packet of `stream`; `false` if it was dropped (too many streams).
    pub fn push(
        &mut self,
        stream: u32,
        payload: &[u8],
        sequence: u16,
        marker: bool,
        now: Instant,
    ) -> bool {
        if !self.streams.contains_key(&stream) && self.streams.len() >= MAX_STREAMS {
            self.forget_idle(now);
            if self.streams.len() >= MAX_STREAMS {
                self.refused_packets += 1;
                return false;
            }
        }
        let incoming = self
            .streams
            .entry(stream)
            .or_insert_with(|| IncomingStream::new(now));
        incoming.last_packet = now;
        let restarts = starts_keyframe(payload);
        incoming
            .reorder
            .push(sequence, (payload.to_vec(), marker), restarts, now);
        true
    }

    /// The access units whose packets are all released by now, by stream, in order; counts
    /// into `repaired_by_keyframe` the gaps a keyframe made harmless.
    pub fn poll(&mut self, now: Instant, repaired_by_keyframe: &mut u64) -> Vec<(u32, Assembled)> {
        let mut finished = Vec::new();
        for (id, stream) in &mut self.streams {
            while let Some(released) = stream.reorder.pop(now) {
                let (payload, marker) = released.packet;
                if let Some(unit) =
                    stream.assemble(released.arrival, &payload, marker, repaired_by_keyframe)
                {
                    finished.push((*id, unit));
                }
            }
        }
        self.forget_idle(now);
        finished
    }

    /// Reorder counters over every stream, past and present.
    pub fn stats(&self) -> ReorderStats {
        let mut total = self.retired;
        for stream in self.streams.values() {
            let stats = stream.reorder.stats();
            total.repaired += stats.repaired;
            total.given_up += stats.given_up;
            total.late += stats.late;
        }
        total
    }

    /// The streams being followed.
    pub fn streams(&self) -> impl Iterator<Item = u32> + '_ {
        self.streams.keys().copied()
    }

    /// Packets dropped because too many streams were already followed.
    pub fn refused_packets(&self) -> u64 {
        self.refused_packets
    }

    fn forget_idle(&mut self, now: Instant) {
        let retired = &mut self.retired;
        self.streams.retain(|_, stream| {
            let alive = now.saturating_duration_since(stream.last_packet) < STREAM_IDLE;
            if !alive {
                let stats = stream.reorder.stats();
                retired.repaired += stats.repaired;
                retired.given_up += stats.given_up;
                retired.late += stats.late;
            }
            alive
        });
    }
}

/// The `rtc` depacketizer indexes a STAP-A's length fields without checking that they are
/// there; a truncated aggregate from a misbehaving member must be refused before it.
fn stap_a_is_malformed(payload: &[u8]) -> bool {
    if payload
        .first()
        .is_none_or(|h| h & NALU_TYPE_BITMASK != STAPA_NALU_TYPE)
    {
        return false;
    }
    let mut at = STAPA_HEADER_SIZE;
    while at < payload.len() {
        let Some(length) = payload.get(at..at + STAPA_NALU_LENGTH_SIZE) else {
            return true;
        };
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        at += STAPA_NALU_LENGTH_SIZE + length;
    }
    at != payload.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_stap_a_is_malformed_and_well_formed_is_not() {
        assert!(!stap_a_is_malformed(&[0x78, 0, 2, 0x67, 1, 0, 1, 0x68]));
        assert!(stap_a_is_malformed(&[0x78, 0, 2, 0x67, 1, 0]));
        assert!(stap_a_is_malformed(&[0x78, 0, 9, 0x67]));
        assert!(!stap_a_is_malformed(&[0x65, 1, 2, 3]));
    }

    /// A single-NAL-unit packet (RFC 6184 §5.6) holding a non-IDR slice.
    fn slice(byte: u8) -> Vec<u8> {
        vec![0x41, byte, byte, byte]
    }

    #[test]
    fn interleaved_streams_are_reassembled_apart() {
        let now = Instant::now();
        let mut streams = IncomingStreams::default();
        let mut repaired = 0;
        // Two publishers' two-packet access units, interleaved packet by packet.
        assert!(streams.push(1, &slice(1), 100, false, now));
        assert!(streams.push(2, &slice(2), 7, false, now));
        assert!(streams.push(1, &slice(3), 101, true, now));
        assert!(streams.push(2, &slice(4), 8, true, now));
        let mut finished = streams.poll(now, &mut repaired);
        finished.sort_by_key(|(id, _)| *id);
        assert_eq!(finished.len(), 2);
        for (id, unit) in finished {
            let Assembled::Whole(unit) = unit else {
                panic!("stream {id} damaged");
            };
            let first = if id == 1 { 1 } else { 2 };
            assert!(unit.windows(3).any(|w| w == [first; 3]), "stream {id}");
            assert!(unit.windows(3).any(|w| w == [first + 2; 3]), "stream {id}");
        }
        assert_eq!(streams.stats().given_up, 0);
    }

    #[test]
    fn a_gap_in_one_stream_spoils_only_that_stream() {
        let start = Instant::now();
        let mut streams = IncomingStreams::default();
        let mut repaired = 0;
        streams.push(1, &slice(1), 10, false, start);
        // Sequence 11 of stream 1 never comes.
        streams.push(1, &slice(1), 12, true, start);
        streams.push(2, &slice(2), 50, false, start);
        streams.push(2, &slice(2), 51, true, start);
        let later = start + Duration::from_secs(1);
        let finished = streams.poll(later, &mut repaired);
        assert!(finished.contains(&(1, Assembled::Damaged)));
        assert!(
            finished
                .iter()
                .any(|(id, unit)| *id == 2 && matches!(unit, Assembled::Whole(_)))
        );
        assert_eq!(streams.stats().given_up, 1);
    }

    #[test]
    fn streams_beyond_the_limit_are_refused_and_idle_ones_forgotten() {
        let start = Instant::now();
        let mut streams = IncomingStreams::default();
        for id in 0..MAX_STREAMS as u32 {
            assert!(streams.push(id, &slice(1), 0, true, start));
        }
        assert!(!streams.push(999, &slice(1), 0, true, start));
        assert_eq!(streams.refused_packets(), 1);
        // Once the others fall silent, a new publisher is followed again.
        let later = start + STREAM_IDLE + Duration::from_secs(1);
        assert!(streams.push(999, &slice(1), 0, true, later));
        let mut repaired = 0;
        streams.poll(later, &mut repaired);
        assert_eq!(streams.streams().collect::<Vec<_>>(), vec![999]);
    }
}
