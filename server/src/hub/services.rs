//! What the hub hands out to the connection and HTTP layers: the store, the SFU, the
//! organization key, the settings, the guess throttle and the audit log.

use std::sync::Arc;

use conclave_protocol::ParticipantId;
use conclave_protocol::identity::{OrgPublicKey, OrgSigningKey};

use super::{Hub, HubSettings};
use crate::store::Store;
use crate::throttle::GuessThrottle;

impl Hub {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The media forwarder.
    pub fn sfu(&self) -> &Arc<crate::sfu::Sfu> {
        &self.sfu
    }

    pub fn org_key(&self) -> &OrgSigningKey {
        &self.org_key
    }

    pub fn org_public_key(&self) -> OrgPublicKey {
        self.org_public
    }

    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    /// Sign-in and meeting-password guesses.
    pub fn throttle(&self) -> &GuessThrottle {
        &self.throttle
    }

    /// Writes a host action to the audit log: who did what to whom. Never passwords, tokens
    /// or keys. A failed write is logged, not fatal.
    pub async fn audit(
        &self,
        meeting: &str,
        actor: ParticipantId,
        action: &str,
        target: Option<String>,
    ) {
        let actor = self.describe(actor);
        if let Err(e) = self
            .store
            .audit(Some(meeting), &actor, action, target.as_deref())
            .await
        {
            tracing::warn!(meeting, action, error = %e, "could not write the audit log");
        }
    }
}
