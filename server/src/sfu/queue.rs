//! Each subscriber's outbox: what the SFU has to write to it, bounded in bytes as well as in
//! items, so a slow (or deliberately stalled) subscriber costs the server a bounded amount of
//! memory however big the packets forwarded to it.
//!
//! When a queue is full, the new item is dropped; nothing grows. Video goes first: a video
//! access unit is refused while the subscriber's audio is backed up, and video is always
//! dropped as whole access units (pictures). After a subscriber lost a publisher's picture,
//! that publisher's following delta pictures are useless to it (they reference the lost one),
//! so they are not queued either until a keyframe starts over.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use conclave_protocol::ParticipantId;
use conclave_rtc::nal::starts_keyframe;
use tokio::sync::mpsc;

use super::{AccessUnit, Downstream};

/// Audio packets queued per subscriber.
pub const AUDIO_QUEUE_PACKETS: usize = 256;
/// Audio bytes queued per subscriber (about 10 s of 24 speakers' 32 kbit/s Opus: nothing a
/// subscriber that keeps up ever comes near).
pub const AUDIO_QUEUE_BYTES: usize = 64 * 1024;
/// While more audio than this waits for a subscriber, its video is dropped (the connection
/// is behind; voice matters more than pictures).
pub const AUDIO_BACKLOG_DROPS_VIDEO: usize = 16 * 1024;
/// Video access units queued per subscriber (about 2 s of 4 publishers at 15 fps).
pub const VIDEO_QUEUE_UNITS: usize = 120;
/// Video bytes queued per subscriber: about 4 s of 6 publishers at the client's top rung
/// (300 kbit/s), two access units at the largest size the SFU accepts.
pub const VIDEO_QUEUE_BYTES: usize = 1024 * 1024;

/// Bytes reserved in a queue for one item; given back when the item is dropped (written, or
/// thrown away with the queue).
#[derive(Debug)]
pub struct Charge {
    queued: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// How many bytes a queue holds, and its limit.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl ByteBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            queued: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Bytes queued now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, or `None` if that would take the queue over its limit.
    pub fn charge(&self, bytes: usize) -> Option<Charge> {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued
                    .checked_add(bytes)
                    .filter(|total| *total <= self.limit)
            })
            .ok()
            .map(|_| Charge {
                queued: Arc::clone(&self.queued),
                bytes,
            })
    }
}

/// What became of a video access unit offered to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoQueued {
    Queued,
    /// Dropped for lack of room: the subscriber needs a keyframe.
    Dropped,
    /// Not queued: a delta picture after a picture the subscriber lost (a keyframe was asked
    /// for when that one was dropped).
    Skipped,
}

/// A subscriber's downstream queues (read by its writer tasks).
pub struct Outbox {
    pub audio: mpsc::Sender<Downstream<Bytes>>,
    pub video: mpsc::Sender<Downstream<AccessUnit>>,
    audio_bytes: ByteBudget,
    video_bytes: ByteBudget,
    /// Publishers whose picture this subscriber lost: nothing until their next keyframe.
    awaiting_keyframe: HashSet<ParticipantId>,
}

impl Outbox {
    /// An outbox and the receiving ends for the writer tasks.
    pub fn new() -> (
        Self,
        mpsc::Receiver<Downstream<Bytes>>,
        mpsc::Receiver<Downstream<AccessUnit>>,
    ) {
        Self::with_limits(AUDIO_QUEUE_BYTES, VIDEO_QUEUE_BYTES)
    }

    fn with_limits(
        audio_limit: usize,
        video_limit: usize,
    ) -> (
        Self,
        mpsc::Receiver<Downstream<Bytes>>,
        mpsc::Receiver<Downstream<AccessUnit>>,
    ) {
        let (audio, audio_rx) = mpsc::channel(AUDIO_QUEUE_PACKETS);
        let (video, video_rx) = mpsc::channel(VIDEO_QUEUE_UNITS);
        let outbox = Self {
            audio,
            video,
            audio_bytes: ByteBudget::new(audio_limit),
            video_bytes: ByteBudget::new(video_limit),
            awaiting_keyframe: HashSet::new(),
        };
        (outbox, audio_rx, video_rx)
    }

    /// Queues `publisher`'s audio packet; false if it was dropped (queue full).
    pub fn push_audio(&self, publisher: ParticipantId, payload: Bytes) -> bool {
        let Some(charge) = self.audio_bytes.charge(payload.len()) else {
            return false;
        };
        self.audio
            .try_send(Downstream::Media(publisher, payload, charge))
            .is_ok()
    }

    /// Queues `publisher`'s access unit, or drops it whole (see the module's notes).
    pub fn push_video(&mut self, publisher: ParticipantId, unit: &AccessUnit) -> VideoQueued {
        let keyframe = unit.first().is_some_and(|first| starts_keyframe(first));
        if !keyframe && self.awaiting_keyframe.contains(&publisher) {
            return VideoQueued::Skipped;
        }
        let bytes = unit.iter().map(Vec::len).sum();
        let queued = self.audio_bytes.queued() <= AUDIO_BACKLOG_DROPS_VIDEO
            && self.video_bytes.charge(bytes).is_some_and(|charge| {
                self.video
                    .try_send(Downstream::Media(publisher, Arc::clone(unit), charge))
                    .is_ok()
            });
        if queued {
            self.awaiting_keyframe.remove(&publisher);
            VideoQueued::Queued
        } else {
            self.awaiting_keyframe.insert(publisher);
            VideoQueued::Dropped
        }
    }

    /// Bytes queued now: (audio, video).
    #[cfg(test)]
    fn queued(&self) -> (usize, usize) {
        (self.audio_bytes.queued(), self.video_bytes.queued())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ALICE: ParticipantId = ParticipantId(1);
    const BOB: ParticipantId = ParticipantId(2);

    /// An access unit of `packets` packets of `size` bytes; a keyframe starts with an SPS.
    fn unit(keyframe: bool, packets: usize, size: usize) -> AccessUnit {
        let first = if keyframe { 0x67 } else { 0x41 };
        Arc::new(
            (0..packets)
                .map(|i| {
                    let mut payload = vec![0u8; size];
                    payload[0] = if i == 0 { first } else { 0x41 };
                    payload
                })
                .collect(),
        )
    }

    fn media_bytes<T>(item: Downstream<T>, size: impl Fn(&T) -> usize) -> usize {
        match item {
            Downstream::Media(_, media, _) => size(&media),
            _ => 0,
        }
    }

    /// A subscriber that reads nothing: the attacker's stalled connection. However many and
    /// however big the access units, its queue holds no more than its byte limit.
    #[tokio::test]
    async fn a_stalled_subscriber_queues_at_most_its_byte_limit() {
        let (mut outbox, _audio_rx, _video_rx) = Outbox::new();
        let big = unit(true, 400, 1_200); // 480 KB keyframes, every one
        let mut queued = 0;
        for _ in 0..1_000 {
            if outbox.push_video(ALICE, &big) == VideoQueued::Queued {
                queued += 1;
            }
            assert!(outbox.queued().1 <= VIDEO_QUEUE_BYTES);
        }
        assert_eq!(queued, VIDEO_QUEUE_BYTES / (400 * 1_200));
        // Small units: the count bound holds too.
        let (mut outbox, _audio_rx, _video_rx) = Outbox::new();
        let tiny = unit(true, 1, 10);
        let queued = (0..1_000)
            .filter(|_| outbox.push_video(BOB, &tiny) == VideoQueued::Queued)
            .count();
        assert_eq!(queued, VIDEO_QUEUE_UNITS);

        // What the writer takes off gives its bytes back, and the queue takes more.
        let (mut outbox, _audio_rx, mut video_rx) = Outbox::new();
        assert_eq!(outbox.push_video(ALICE, &big), VideoQueued::Queued);
        assert_eq!(outbox.push_video(ALICE, &big), VideoQueued::Queued);
        assert_eq!(outbox.push_video(ALICE, &big), VideoQueued::Dropped);
        let item = video_rx.recv().await.unwrap();
        assert_eq!(media_bytes(item, |u| u.iter().map(Vec::len).sum()), 480_000);
        assert_eq!(outbox.queued().1, 480_000);
        assert_eq!(outbox.push_video(ALICE, &big), VideoQueued::Queued);
    }

    #[tokio::test]
    async fn a_stalled_subscribers_audio_is_bounded_in_bytes_and_packets() {
        let (outbox, mut audio_rx, _video_rx) = Outbox::new();
        let packet = Bytes::from(vec![0u8; 1_200]);
        let queued = (0..1_000)
            .filter(|_| outbox.push_audio(ALICE, packet.clone()))
            .count();
        assert_eq!(queued, AUDIO_QUEUE_BYTES / 1_200);
        assert!(outbox.queued().0 <= AUDIO_QUEUE_BYTES);
        let item = audio_rx.recv().await.unwrap();
        assert_eq!(media_bytes(item, Bytes::len), 1_200);
        assert!(outbox.push_audio(ALICE, packet.clone()));

        let (outbox, _audio_rx, _video_rx) = Outbox::new();
        let tiny = Bytes::from_static(b"x");
        let queued = (0..1_000)
            .filter(|_| outbox.push_audio(ALICE, tiny.clone()))
            .count();
        assert_eq!(queued, AUDIO_QUEUE_PACKETS);
    }

    /// Video is dropped before audio: once audio backs up, video stops being queued while
    /// audio still is.
    #[tokio::test]
    async fn video_is_dropped_before_audio() {
        let (mut outbox, _audio_rx, _video_rx) = Outbox::new();
        let packet = Bytes::from(vec![0u8; 1_000]);
        let frame = unit(true, 2, 1_000);
        while outbox.queued().0 <= AUDIO_BACKLOG_DROPS_VIDEO {
            assert_eq!(outbox.push_video(ALICE, &frame), VideoQueued::Queued);
            assert!(outbox.push_audio(BOB, packet.clone()));
        }
        assert_eq!(outbox.push_video(ALICE, &frame), VideoQueued::Dropped);
        assert!(outbox.push_audio(BOB, packet));
    }

    /// After a subscriber lost one of a publisher's pictures, that publisher's delta pictures
    /// are not queued for it until a keyframe; other publishers are not affected.
    #[tokio::test]
    async fn after_a_lost_picture_only_a_keyframe_restarts() {
        let (mut outbox, _audio_rx, mut video_rx) = Outbox::with_limits(AUDIO_QUEUE_BYTES, 3_000);
        let delta = unit(false, 1, 1_000);
        let key = unit(true, 1, 1_000);
        for _ in 0..3 {
            assert_eq!(outbox.push_video(ALICE, &delta), VideoQueued::Queued);
        }
        assert_eq!(outbox.push_video(ALICE, &delta), VideoQueued::Dropped);
        // The writer catches up; still no deltas of Alice's until her keyframe.
        for _ in 0..3 {
            video_rx.recv().await.unwrap();
        }
        assert_eq!(outbox.push_video(ALICE, &delta), VideoQueued::Skipped);
        assert_eq!(outbox.push_video(BOB, &delta), VideoQueued::Queued);
        assert_eq!(outbox.push_video(ALICE, &key), VideoQueued::Queued);
        assert_eq!(outbox.push_video(ALICE, &delta), VideoQueued::Queued);
    }
}
