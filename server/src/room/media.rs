//! Who may open a media connection, and how often: only MLS members (a participant in the
//! lobby or waiting for its Add gets no SFU resources; the SFU forwards only to and from
//! members anyway), and each connection within a budget of offers, because each one makes
//! the SFU build a peer connection (sockets, tasks, DTLS).

use std::time::{Duration, Instant};

use conclave_protocol::{ErrorCode, ParticipantId};

use super::{Refused, Room};

/// Media offers one connection may make at once, and how fast the budget comes back.
const MEDIA_OFFER_BURST: f64 = 5.0;
const MEDIA_OFFER_REFILL: Duration = Duration::from_secs(10);

impl Room {
    /// Whether `id` may send a media offer: members only (clients offer once in the meeting).
    pub fn may_offer_media(&self, id: ParticipantId) -> Result<(), Refused> {
        if self.members().contains(&id) {
            Ok(())
        } else {
            Err((ErrorCode::NotAllowed, "join the meeting first"))
        }
    }
}

/// A token bucket of media offers (a reconnect or two is normal; a loop is not).
#[derive(Debug)]
pub struct OfferBudget {
    tokens: f64,
    last: Instant,
}

impl OfferBudget {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: MEDIA_OFFER_BURST,
            last: now,
        }
    }

    /// Takes one offer; `Err` carries the seconds until the next one is allowed.
    pub fn take(&mut self, now: Instant) -> Result<(), u32> {
        let refill = now.saturating_duration_since(self.last).as_secs_f64()
            / MEDIA_OFFER_REFILL.as_secs_f64();
        self.tokens = (self.tokens + refill).min(MEDIA_OFFER_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) * MEDIA_OFFER_REFILL.as_secs_f64();
            Err(wait.ceil().clamp(1.0, 3600.0) as u32)
        }
    }
}
