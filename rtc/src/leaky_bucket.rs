//! A link (or a pacer) modelled as a leaky bucket: the schedule alone (sans I/O), shared by the
//! pacer ([`crate::pacing`]) and the simulated narrow link ([`crate::bottleneck`]).

use std::time::{Duration, Instant};

/// A link (or a pacer) busy sending what it was given, one packet after the other.
#[derive(Debug, Default, Clone)]
pub struct LeakyBucket {
    /// When everything given so far has been sent.
    busy_until: Option<Instant>,
}

impl LeakyBucket {
    /// How long a packet given at `now` waits before it starts to go out.
    pub fn backlog(&self, now: Instant) -> Duration {
        self.busy_until
            .map_or(Duration::ZERO, |busy| busy.saturating_duration_since(now))
    }

    /// Takes `bytes` at `rate_bps`: when they start and finish going out.
    pub fn occupy(&mut self, bytes: usize, rate_bps: u64, now: Instant) -> (Instant, Instant) {
        let start = now + self.backlog(now);
        let bits = (bytes as u64).saturating_mul(8);
        let end =
            start + Duration::from_nanos(bits.saturating_mul(1_000_000_000) / rate_bps.max(1));
        self.busy_until = Some(end);
        (start, end)
    }

    /// Forgets any backlog beyond `max` (what was queued goes out faster than the pace).
    pub fn limit_backlog(&mut self, max: Duration, now: Instant) {
        if self.backlog(now) > max {
            self.busy_until = Some(now + max);
        }
    }

    /// When a packet of `bytes` given at `now` starts out at `rate_bps`, never later than
    /// `max_delay` from now. Bounding each packet (not only a picture's first) bounds the whole
    /// first-in, first-out queue behind it too.
    pub fn pace(
        &mut self,
        bytes: usize,
        rate_bps: u64,
        max_delay: Duration,
        now: Instant,
    ) -> Instant {
        self.limit_backlog(max_delay, now);
        self.occupy(bytes, rate_bps, now).0
    }
}
