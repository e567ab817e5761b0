//! The state one server process shares between its connections: the store, the organization
//! key, every live meeting's [`Room`], every connection's outbox and the guess throttles.
//!
//! Rooms are created lazily from the stored meeting on the first join. Every room operation
//! runs under the rooms lock and its [`Outgoing`] messages are handed to the connections'
//! outboxes before the lock is released, so all connections see one room's messages in the
//! order the room produced them.
//!
//! Split by responsibility: `hub/rooms.rs` is the registry of live rooms, `hub/connections.rs`
//! the connection table (outboxes, guards, shutdown), `hub/services.rs` what the hub hands
//! out to the connection and HTTP layers (store, SFU, keys, throttle, audit trail), and
//! `hub/options.rs` how a stored meeting's options become room settings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use conclave_protocol::ParticipantId;
use conclave_protocol::http::{ClientVersions, MeetingDefaults};
use conclave_protocol::identity::{OrgPublicKey, OrgSigningKey};
use conclave_protocol::schedule::PasswordPolicy;
use tokio::sync::Notify;

use crate::audit::AuditTrail;
use crate::room::{DeliveryService, Room};
use crate::store::Store;
use crate::throttle::GuessThrottle;

mod connections;
mod options;
mod rooms;
mod services;

use connections::Connection;
pub use connections::ConnectionGuard;
pub use options::{MeetingOptions, StoredOptions};

/// Messages a connection's outbox holds; a connection that falls this far behind cannot keep
/// up and is dropped.
pub const OUTBOX_CAPACITY: usize = 1024;

/// Software version announced in `hello`.
pub const SERVER_VERSION: &str = concat!("conclaved ", env!("CARGO_PKG_VERSION"));

/// Lifetimes, timeouts and rules the connection and HTTP layers apply.
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub idle_timeout: Duration,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token (a session left unused this long ends).
    pub refresh_token_ttl: Duration,
    /// How often a live signed-in connection re-checks its session.
    pub session_check: Duration,
    pub certificate_ttl: Duration,
    /// Longest a write to one socket may take before the connection is dropped.
    pub send_timeout: Duration,
    /// The organization's rules for meeting passwords (instant and scheduled meetings).
    pub password_policy: PasswordPolicy,
    /// Options a new meeting takes where its request does not say.
    pub meeting_defaults: MeetingDefaults,
    /// Client versions announced by `GET /v1/server-info`.
    pub client_versions: ClientVersions,
    /// How long the audit trail keeps an entry.
    pub audit_retention: Duration,
}

/// Shared server state; one per process, behind an `Arc`.
pub struct Hub {
    sfu: Arc<crate::sfu::Sfu>,
    store: Store,
    org_key: OrgSigningKey,
    org_public: OrgPublicKey,
    settings: HubSettings,
    rooms: Mutex<HashMap<String, Room>>,
    connections: Mutex<HashMap<ParticipantId, Connection>>,
    connections_changed: Notify,
    /// Sign-in and meeting-password guesses (kept in the database).
    throttle: GuessThrottle,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// The MLS external-sender identity every room's group lists (see [`DeliveryService`]).
    delivery: DeliveryService,
    /// Where connections and handlers queue audit entries.
    audit: AuditTrail,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("org_key", &self.org_public)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (every critical
/// section leaves the maps consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Hub {
    /// A hub with no rooms and no connections. `delivery` is the server's MLS external
    /// sender, shared by all rooms. Starts the audit trail's writer on the current runtime.
    pub fn new(
        store: Store,
        org_key: OrgSigningKey,
        settings: HubSettings,
        sfu: Arc<crate::sfu::Sfu>,
        delivery: DeliveryService,
    ) -> Self {
        let org_public = org_key.public();
        let throttle_store = store.clone();
        let audit = AuditTrail::start(store.clone());
        Self {
            sfu,
            store,
            org_key,
            org_public,
            settings,
            rooms: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            connections_changed: Notify::new(),
            throttle: GuessThrottle::new(throttle_store),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            delivery,
            audit,
        }
    }
}
