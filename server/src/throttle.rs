//! Password-guess throttling, per meeting and per client address.
//!
//! A few mistakes are free; after that each further failure doubles the wait (30 s, 60 s, …,
//! capped at 1 h). A success clears the address's record but not the meeting's, so spreading
//! guesses over many addresses still hits the meeting's limit. Clock injected for tests.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures allowed before waits start.
pub const FREE_ATTEMPTS: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// A record with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

#[derive(Debug)]
struct Limiter<K> {
    free_attempts: u32,
    records: HashMap<K, Record>,
}

impl<K: Eq + Hash + Clone> Limiter<K> {
    fn new(free_attempts: u32) -> Self {
        Self {
            free_attempts,
            records: HashMap::new(),
        }
    }

    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.records.get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    fn fail(&mut self, key: K, now: Instant) {
        let record = self.records.entry(key).or_insert(Record {
            failures: 0,
            blocked_until: None,
            last_failure: now,
        });
        record.failures += 1;
        record.last_failure = now;
        if record.failures > self.free_attempts {
            let doublings = (record.failures - self.free_attempts - 1).min(16);
            let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT);
            record.blocked_until = Some(now + wait);
        }
    }

    fn clear(&mut self, key: &K) {
        self.records.remove(key);
    }

    fn forget_old(&mut self, now: Instant) {
        self.records
            .retain(|_, r| now.saturating_duration_since(r.last_failure) < FORGET_AFTER);
    }
}

/// Throttles password guesses for all meetings of one server.
#[derive(Debug)]
pub struct GuessThrottle {
    by_address: Limiter<IpAddr>,
    by_meeting: Limiter<String>,
}

impl Default for GuessThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl GuessThrottle {
    /// The default policy: 5 free attempts per address, 20 per meeting.
    pub fn new() -> Self {
        Self {
            by_address: Limiter::new(FREE_ATTEMPTS),
            by_meeting: Limiter::new(FREE_ATTEMPTS * 4),
        }
    }

    /// `Some(wait)` when this address or meeting must wait before another attempt; the caller
    /// answers "try again in N s" without checking the password at all.
    pub fn check(&self, meeting: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let a = self.by_address.wait(&address, now);
        let m = self.by_meeting.wait(&meeting.to_string(), now);
        a.max(m)
    }

    /// Records a wrong password.
    pub fn failed(&mut self, meeting: &str, address: IpAddr, now: Instant) {
        self.by_address.forget_old(now);
        self.by_meeting.forget_old(now);
        self.by_address.fail(address, now);
        self.by_meeting.fail(meeting.to_string(), now);
    }

    /// Records a right password: the address starts afresh.
    pub fn succeeded(&mut self, address: IpAddr) {
        self.by_address.clear(&address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn a_few_mistakes_are_free_then_waits_double() {
        let mut throttle = GuessThrottle::new();
        let now = Instant::now();
        for _ in 0..FREE_ATTEMPTS {
            assert_eq!(throttle.check("m", ip(1), now), None);
            throttle.failed("m", ip(1), now);
        }
        assert_eq!(throttle.check("m", ip(1), now), None);
        throttle.failed("m", ip(1), now);
        assert_eq!(
            throttle.check("m", ip(1), now),
            Some(Duration::from_secs(30))
        );
        let later = now + Duration::from_secs(31);
        assert_eq!(throttle.check("m", ip(1), later), None);
        throttle.failed("m", ip(1), later);
        assert_eq!(
            throttle.check("m", ip(1), later),
            Some(Duration::from_secs(60))
        );
        // Another address is not affected by this one's record (meeting limit not reached).
        assert_eq!(throttle.check("m", ip(2), later), None);
    }

    #[test]
    fn many_addresses_hit_the_meeting_limit() {
        let mut throttle = GuessThrottle::new();
        let now = Instant::now();
        for n in 0..=(FREE_ATTEMPTS * 4) as u8 {
            throttle.failed("target", ip(n), now);
        }
        assert!(throttle.check("target", ip(200), now).is_some());
        assert!(throttle.check("other", ip(200), now).is_none());
    }

    #[test]
    fn success_clears_the_address_and_waits_are_capped() {
        let mut throttle = GuessThrottle::new();
        let now = Instant::now();
        for _ in 0..100 {
            throttle.failed("m", ip(1), now);
        }
        assert!(throttle.check("m", ip(1), now) <= Some(MAX_WAIT));
        throttle.succeeded(ip(1));
        assert!(throttle.by_address.wait(&ip(1), now).is_none());
    }
}
