//! What the hub hands out to the connection and HTTP layers: the store, the SFU, the
//! organization key, the settings, the guess throttle and the audit trail.

use std::sync::Arc;

use conclave_protocol::ParticipantId;
use conclave_protocol::identity::{OrgPublicKey, OrgSigningKey};

use super::{Hub, HubSettings};
use crate::audit::AuditTrail;
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

    /// The audit trail's queue.
    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    /// Waits until every audit entry queued so far is in the database (tests, shutdown).
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }

    /// Queues an audit entry: `action` by connection `actor` (its name, account, device and
    /// address as the hub knows them) in `meeting`, to `target`. Never a password, token or
    /// key; never waits for the database.
    pub fn audit(&self, meeting: &str, actor: ParticipantId, action: &str, target: Option<String>) {
        let mut event = self.who(actor);
        event.meeting_number = Some(meeting.to_owned());
        event.action = action.to_owned();
        event.target = target;
        self.audit.record(event);
    }
}
