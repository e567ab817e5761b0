//! Sending a picture's packets at a pace rather than in one burst.
//!
//! A keyframe is many times the size of the pictures around it. Written all at once, its
//! packets arrive together at the narrowest link on the way, whose queue may not hold them: the
//! keyframe, which everything after it depends on, is what gets dropped. So the sender spreads
//! each picture's packets at [`PACING_FACTOR_PERCENT`] % of the encoder's target bitrate (the factor
//! libwebrtc's pacer uses), which is still fast enough that an ordinary picture leaves within a
//! few milliseconds. Audio does not wait behind video: it goes out on its own track at once.
//!
//! [`LeakyBucket`] is the schedule (sans I/O), shared with the simulated narrow link
//! ([`super::bottleneck`]); [`PacedVideoSender`] writes packets on a track by it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

use crate::error::TransportError;
use crate::leaky_bucket::LeakyBucket;
use crate::video_frame::OutgoingVideoFrame;
use crate::video_link::VideoRtpWriter;

/// Video leaves at this multiple of the encoder's target bitrate, in percent (2.5 ×).
pub const PACING_FACTOR_PERCENT: u64 = 250;
/// Never pace slower than this, whatever the target (a low rung's keyframe still leaves soon).
pub const MIN_PACING_BPS: u64 = 100_000;
/// The most a packet waits in the pacer. A backlog beyond it (a run of keyframes on a low
/// rung) is sent faster than the pace rather than delaying the picture further.
pub const MAX_PACING_DELAY: Duration = Duration::from_millis(300);
/// Per-packet bytes a link carries beyond the RTP payload: IPv4, UDP, RTP header, SRTP tag.
const PACKET_OVERHEAD: usize = 28 + 12 + 10;

/// The pace for an encoder target of `bitrate_bps`.
pub fn pacing_rate(bitrate_bps: u32) -> u64 {
    (u64::from(bitrate_bps) * PACING_FACTOR_PERCENT / 100).max(MIN_PACING_BPS)
}

/// Writes a client's pictures on its video track, paced (see the module documentation).
pub struct PacedVideoSender {
    numbering: VideoRtpWriter,
    pace: LeakyBucket,
    queue: mpsc::UnboundedSender<(Instant, rtc::rtp::packet::Packet)>,
    failed: Arc<AtomicBool>,
}

impl PacedVideoSender {
    /// Starts the task that writes on `track` (stream `ssrc`); it ends when this is dropped.
    pub fn new(track: Arc<TrackLocalStaticRTP>, ssrc: u32) -> Self {
        let (queue, mut paced) = mpsc::unbounded_channel::<(Instant, rtc::rtp::packet::Packet)>();
        let failed = Arc::new(AtomicBool::new(false));
        let failure = Arc::clone(&failed);
        let writer = Arc::clone(&track);
        tokio::spawn(async move {
            while let Some((at, packet)) = paced.recv().await {
                tokio::time::sleep_until(at.into()).await;
                if let Err(e) = writer.write_rtp(packet).await {
                    tracing::debug!(error = %e, "video packet not sent: the link is gone");
                    failure.store(true, Ordering::Relaxed);
                    break;
                }
            }
        });
        Self {
            numbering: VideoRtpWriter::new(track, ssrc),
            pace: LeakyBucket::default(),
            queue,
            failed,
        }
    }

    /// Queues one encoded picture; its packets leave at the pace its bitrate sets. An error
    /// means the track can no longer be written (the link is gone).
    pub fn send_frame(&mut self, frame: &OutgoingVideoFrame) -> Result<(), TransportError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(TransportError::Closed);
        }
        let rate = pacing_rate(frame.bitrate_bps);
        let now = Instant::now();
        for packet in self.numbering.frame_packets(frame) {
            let bytes = packet.payload.len() + PACKET_OVERHEAD;
            let start = self.pace.pace(bytes, rate, MAX_PACING_DELAY, now);
            self.queue
                .send((start, packet))
                .map_err(|_| TransportError::Closed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyframe_is_spread_at_the_pace_and_a_small_picture_leaves_at_once() {
        let mut pace = LeakyBucket::default();
        let now = Instant::now();
        let rate = pacing_rate(300_000);
        assert_eq!(rate, 750_000);
        // A 9 KB keyframe in nine 1,000-byte packets at 750 kbit/s: one every 10.67 ms.
        let starts: Vec<Duration> = (0..9)
            .map(|_| pace.occupy(1000, rate, now).0 - now)
            .collect();
        assert_eq!(starts[0], Duration::ZERO, "the first packet goes at once");
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap.abs_diff(Duration::from_micros(10_667)) < Duration::from_micros(5),
                "{gap:?}"
            );
        }
        // 200 ms later the pacer is idle again: a small picture is not delayed.
        let later = now + Duration::from_millis(200);
        assert_eq!(pace.backlog(later), Duration::ZERO);
        assert_eq!(pace.occupy(80, rate, later).0, later);
    }

    #[test]
    fn a_low_rung_is_paced_no_slower_than_the_floor_and_the_backlog_is_bounded() {
        assert_eq!(pacing_rate(32_000), MIN_PACING_BPS);
        let mut pace = LeakyBucket::default();
        let now = Instant::now();
        // 20 KB at 100 kbit/s would take 1.6 s.
        for _ in 0..20 {
            pace.occupy(1000, MIN_PACING_BPS, now);
        }
        assert!(pace.backlog(now) > Duration::from_secs(1));
        pace.limit_backlog(MAX_PACING_DELAY, now);
        assert_eq!(pace.backlog(now), MAX_PACING_DELAY);
        let (start, _) = pace.occupy(1000, MIN_PACING_BPS, now);
        assert_eq!(start - now, MAX_PACING_DELAY);
    }

    /// Why pace: a 240×180 keyframe of the noisy pattern (≈ 7 KB) meets a 150 kbit/s link whose
    /// 200 ms queue holds 3.75 KB. Written at once, its tail is dropped; paced at 2.5 × the
    /// rung's 120 kbit/s, the link drains fast enough that every packet fits.
    #[test]
    fn no_packet_of_a_large_keyframe_waits_longer_than_the_bound() {
        let mut pace = LeakyBucket::default();
        let now = Instant::now();
        // 30 KB at the 100 kbit/s floor would take 2.4 s unbounded.
        let starts: Vec<Instant> = (0..30)
            .map(|_| pace.pace(1000, MIN_PACING_BPS, MAX_PACING_DELAY, now))
            .collect();
        assert!(starts.iter().all(|s| *s - now <= MAX_PACING_DELAY));
        assert!(starts.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert_eq!(*starts.last().expect("some") - now, MAX_PACING_DELAY);
    }

    #[test]
    fn a_paced_keyframe_crosses_a_link_whose_queue_a_burst_overflows() {
        use crate::bottleneck::{Bottleneck, BottleneckQueue};
        let link = Bottleneck::new(150_000, Duration::from_millis(200)).expect("valid");
        let now = Instant::now();
        let keyframe = [1000usize; 7];

        let mut burst = BottleneckQueue::new(link);
        let burst_dropped = keyframe
            .iter()
            .filter(|bytes| burst.admit(**bytes, now).is_none())
            .count();
        assert!(burst_dropped > 0, "a burst overflows the queue");

        let mut paced = BottleneckQueue::new(link);
        let mut pace = LeakyBucket::default();
        let rate = pacing_rate(120_000);
        let paced_dropped = keyframe
            .iter()
            .filter(|bytes| {
                let (start, _) = pace.occupy(**bytes + PACKET_OVERHEAD, rate, now);
                paced.admit(**bytes, start).is_none()
            })
            .count();
        assert_eq!(paced_dropped, 0, "paced, the whole keyframe crosses");
    }
}
