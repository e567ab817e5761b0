//! A diagnostic narrow uplink: datagrams leave at a fixed bit rate through a queue of bounded
//! delay, and what does not fit in the queue is dropped (tail drop), as a home router's uplink
//! or a shared meeting-room link does under load. Unlike random loss ([`super::lossy`]), this
//! loss and delay are caused by sending too much, so sending less relieves them: what quality
//! adaptation ([`super::rate`]) is for.
//!
//! [`BottleneckQueue`] is the schedule alone (sans I/O); [`super::lossy::LossyRuntime`] applies
//! it to a peer connection's sockets.

use std::time::{Duration, Instant};

use crate::leaky_bucket::LeakyBucket;

/// Per-datagram IPv4 + UDP header bytes, which a real link carries too.
const IP_UDP_OVERHEAD: usize = 28;
/// The slowest link accepted: below this even Opus audio alone would not fit.
const MIN_RATE_BPS: u64 = 8_000;
/// The longest queue accepted (bufferbloat beyond this is not a meeting network).
const MAX_QUEUE: Duration = Duration::from_secs(5);

/// A link rate and how much waiting its queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bottleneck {
    rate_bps: u64,
    queue: Duration,
}

/// Why a bottleneck setting was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadBottleneck {
    #[error("a simulated uplink must carry at least 8 kbit/s, not {0} bit/s")]
    Rate(f64),
    #[error("a simulated uplink's queue must hold from 1 ms to 5 s, not {0:?}")]
    Queue(Duration),
}

impl Bottleneck {
    /// A queue of 200 ms: a typical consumer router's uplink buffer at meeting rates.
    pub const DEFAULT_QUEUE: Duration = Duration::from_millis(200);

    pub fn new(rate_bps: u64, queue: Duration) -> Result<Self, BadBottleneck> {
        if rate_bps < MIN_RATE_BPS {
            return Err(BadBottleneck::Rate(rate_bps as f64));
        }
        if queue < Duration::from_millis(1) || queue > MAX_QUEUE {
            return Err(BadBottleneck::Queue(queue));
        }
        Ok(Self { rate_bps, queue })
    }

    /// From kbit/s, as `--simulate-uplink-kbps 150` gives it, with the default queue.
    pub fn kbps(kbps: f64) -> Result<Self, BadBottleneck> {
        let bps = kbps * 1000.0;
        if !bps.is_finite() || bps < MIN_RATE_BPS as f64 {
            return Err(BadBottleneck::Rate(bps));
        }
        Self::new(bps as u64, Self::DEFAULT_QUEUE)
    }

    pub fn rate_bps(&self) -> u64 {
        self.rate_bps
    }
}

/// When each datagram leaves a [`Bottleneck`], or that it is dropped.
#[derive(Debug)]
pub struct BottleneckQueue {
    link: Bottleneck,
    sending: LeakyBucket,
}

impl BottleneckQueue {
    pub fn new(link: Bottleneck) -> Self {
        Self {
            link,
            sending: LeakyBucket::default(),
        }
    }

    /// When a datagram of `bytes` handed over at `now` has left the link; `None` when the
    /// queue already holds more waiting than the link allows (the datagram is dropped).
    pub fn admit(&mut self, bytes: usize, now: Instant) -> Option<Instant> {
        if self.sending.backlog(now) > self.link.queue {
            return None;
        }
        let (_, departure) = self
            .sending
            .occupy(bytes + IP_UDP_OVERHEAD, self.link.rate_bps, now);
        Some(departure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_outside_the_sane_range_are_refused() {
        assert!(Bottleneck::kbps(150.0).is_ok());
        for bad in [0.0, 7.9, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Bottleneck::kbps(bad).is_err(), "{bad}");
        }
        assert!(Bottleneck::new(100_000, Duration::ZERO).is_err());
        assert!(Bottleneck::new(100_000, Duration::from_secs(6)).is_err());
    }

    #[test]
    fn an_idle_link_sends_at_once_at_its_rate() {
        let link = Bottleneck::new(100_000, Duration::from_millis(200)).expect("valid");
        let mut queue = BottleneckQueue::new(link);
        let now = Instant::now();
        // (972 + 28) bytes = 8,000 bits at 100 kbit/s: 80 ms.
        assert_eq!(queue.admit(972, now), Some(now + Duration::from_millis(80)));
        // Much later the link is idle again.
        let later = now + Duration::from_secs(1);
        assert_eq!(
            queue.admit(972, later),
            Some(later + Duration::from_millis(80))
        );
    }

    #[test]
    fn sending_faster_than_the_link_queues_then_drops_and_the_rate_is_kept() {
        let link = Bottleneck::new(100_000, Duration::from_millis(200)).expect("valid");
        let mut queue = BottleneckQueue::new(link);
        let start = Instant::now();
        // Offer 400 kbit/s for 5 s: one 972-byte datagram every 20 ms.
        let (mut sent, mut dropped, mut last_departure) = (0u32, 0u32, start);
        for i in 0..250u32 {
            let now = start + Duration::from_millis(20) * i;
            match queue.admit(972, now) {
                Some(departure) => {
                    assert!(departure >= last_departure, "departures keep their order");
                    assert!(
                        departure - now <= Duration::from_millis(200 + 80),
                        "no datagram waits longer than the queue plus its own sending"
                    );
                    last_departure = departure;
                    sent += 1;
                }
                None => dropped += 1,
            }
        }
        // 5 s at 100 kbit/s carry 62.5 such datagrams, plus what the queue still held.
        assert!((62..=66).contains(&sent), "sent {sent}");
        assert_eq!(sent + dropped, 250);
    }
}
