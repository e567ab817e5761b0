//! The state one server process shares between its connections: the store, the organization
//! key, every live meeting's [`Room`], every connection's outbox and the guess throttles.
//!
//! Rooms are created lazily from the stored meeting on the first join. Every room operation
//! runs under the rooms lock and its [`Outgoing`] messages are handed to the connections'
//! outboxes before the lock is released, so all connections see one room's messages in the
//! order the room produced them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conclave_protocol::identity::{OrgPublicKey, OrgSigningKey};
use conclave_protocol::schedule::PasswordPolicy;
use conclave_protocol::{EndReason, ParticipantId, ServerMessage};
use tokio::sync::{Notify, mpsc};

use crate::room::{DeliveryService, JoinRequest, Outgoing, Room, RoomError, RoomOptions};
use crate::store::{MeetingRecord, SessionKey, Store};
use crate::throttle::GuessThrottle;

/// Messages a connection's outbox holds; a connection that falls this far behind cannot keep
/// up and is dropped.
pub const OUTBOX_CAPACITY: usize = 1024;

/// How long an ended, empty room is kept before it is freed.
const ENDED_ROOM_GRACE: Duration = Duration::from_secs(10);

/// Software version announced in `hello`.
pub const SERVER_VERSION: &str = concat!("conclaved ", env!("CARGO_PKG_VERSION"));

pub use conclave_protocol::schedule::MeetingOptions;

/// How the server stores a meeting's options (JSON in the meeting record) and turns them into
/// room settings.
pub trait StoredOptions: Sized {
    /// The JSON stored with the meeting.
    fn to_json(&self) -> String;
    /// Reads stored options; unreadable JSON gives the strictest settings (lobby on,
    /// sign-in required) rather than the most open ones.
    fn from_json(json: &str) -> Self;
    /// The room options for a stored meeting.
    fn room_options(
        &self,
        host_user_id: Option<String>,
        co_host_user_ids: Vec<String>,
    ) -> RoomOptions;
}

impl StoredOptions for MeetingOptions {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    fn from_json(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable meeting options; using strict defaults");
            Self {
                require_sign_in: true,
                lobby: true,
                ..Self::default()
            }
        })
    }

    fn room_options(
        &self,
        host_user_id: Option<String>,
        co_host_user_ids: Vec<String>,
    ) -> RoomOptions {
        RoomOptions {
            host_user_id,
            co_host_user_ids,
            require_sign_in: self.require_sign_in,
            lobby_enabled: self.lobby,
            auto_lock_minutes: self.auto_lock_minutes,
            join_before_host: self.join_before_host,
        }
    }
}

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
}

/// One live WebSocket connection.
#[derive(Debug)]
struct Connection {
    outbox: mpsc::Sender<Outgoing>,
    /// Told when the outbox overflowed: the connection task closes the socket.
    overflowed: Arc<Notify>,
    /// The meeting it joined (set when the join reached the room).
    meeting: Option<String>,
    /// The name it joined with, for audit entries.
    display_name: Option<String>,
    /// The account and sign-in session it authenticated with, if any.
    signed_in: Option<(String, SessionKey)>,
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
    /// sender, shared by all rooms.
    pub fn new(
        store: Store,
        org_key: OrgSigningKey,
        settings: HubSettings,
        sfu: Arc<crate::sfu::Sfu>,
        delivery: DeliveryService,
    ) -> Self {
        let org_public = org_key.public();
        let throttle_store = store.clone();
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
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The media forwarder.
    pub fn sfu(&self) -> &Arc<crate::sfu::Sfu> {
        &self.sfu
    }

    /// Media flows to and from exactly the room's MLS members.
    fn sync_media(&self, number: &str, room: &Room) {
        self.sfu.set_meeting_members(number, &room.members());
    }

    /// After a participant's media connection is set up: apply the room's membership to it.
    pub fn refresh_media(&self, number: &str) {
        if let Some(room) = lock(&self.rooms).get(number) {
            self.sync_media(number, room);
        }
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

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    // -- connections ----------------------------------------------------------------------

    /// Registers a new connection and gives it its participant id; `None` while shutting
    /// down. Dropping the returned guard disconnects it (on every exit of the connection's
    /// task, a panic included), so no ghost participant stays in a room.
    pub fn connect(self: &Arc<Self>, outbox: mpsc::Sender<Outgoing>) -> Option<ConnectionGuard> {
        let mut connections = lock(&self.connections);
        // Checked under the lock so shutdown's broadcast cannot miss a new connection.
        if self.is_shutting_down() {
            return None;
        }
        let id = ParticipantId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let overflowed = Arc::new(Notify::new());
        connections.insert(
            id,
            Connection {
                outbox,
                overflowed: overflowed.clone(),
                meeting: None,
                display_name: None,
                signed_in: None,
            },
        );
        Some(ConnectionGuard {
            hub: self.clone(),
            id,
            overflowed,
        })
    }

    /// Records the account and session connection `id` authenticated with, so that revoking
    /// them closes it ([`Hub::close_signed_in`]).
    pub fn set_signed_in(&self, id: ParticipantId, user_id: &str, session: SessionKey) {
        if let Some(connection) = lock(&self.connections).get_mut(&id) {
            connection.signed_in = Some((user_id.to_owned(), session));
        }
    }

    /// Closes, at once, every connection signed in to account `user_id` (when `session` is
    /// `None`) or with that one session: each gets an `unauthorized` error saying why, then
    /// its socket closes and it leaves its meeting. Returns how many.
    pub fn close_signed_in(&self, user_id: &str, session: Option<&SessionKey>, why: &str) -> usize {
        let targets: Vec<ParticipantId> = lock(&self.connections)
            .iter()
            .filter(|(_, c)| {
                c.signed_in.as_ref().is_some_and(|(user, key)| {
                    user == user_id && session.is_none_or(|wanted| wanted == key)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &targets {
            tracing::info!(participant = %id, "sign-in revoked; closing the connection");
            self.send(
                *id,
                ServerMessage::Error {
                    code: conclave_protocol::ErrorCode::Unauthorized,
                    message: why.to_owned(),
                    retry_after_secs: None,
                },
                true,
            );
        }
        targets.len()
    }

    /// The connection is gone: it leaves its meeting (if any) and is forgotten.
    pub fn disconnect(&self, id: ParticipantId) {
        self.leave(id);
        lock(&self.connections).remove(&id);
        self.connections_changed.notify_waiters();
    }

    /// The meeting this connection joined, if any.
    pub fn meeting_of(&self, id: ParticipantId) -> Option<String> {
        lock(&self.connections)
            .get(&id)
            .and_then(|c| c.meeting.clone())
    }

    /// "Name (#id)" for audit entries.
    pub fn describe(&self, id: ParticipantId) -> String {
        match lock(&self.connections)
            .get(&id)
            .and_then(|c| c.display_name.clone())
        {
            Some(name) => format!("{name} (#{id})"),
            None => format!("#{id}"),
        }
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.connections).len()
    }

    /// Sends one message to one connection.
    pub fn send(&self, to: ParticipantId, message: ServerMessage, close: bool) {
        self.dispatch(vec![Outgoing { to, message, close }]);
    }

    /// Hands each message to its connection's outbox; the connection closes after a message
    /// marked `close`. Messages for connections that are already gone are dropped.
    pub fn dispatch(&self, messages: Vec<Outgoing>) {
        if messages.is_empty() {
            return;
        }
        let connections = lock(&self.connections);
        for out in messages {
            let kind = out.message.type_name();
            let to = out.to;
            match connections.get(&to) {
                Some(connection) => match connection.outbox.try_send(out) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        // It cannot keep up: its task closes the connection.
                        tracing::warn!(participant = %to, kind, "outbox full; dropping the connection");
                        connection.overflowed.notify_one();
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        tracing::debug!(participant = %to, kind, "outbox closed; dropped");
                    }
                },
                None => tracing::debug!(participant = %to, kind, "no such connection; dropped"),
            }
        }
    }

    // -- rooms ----------------------------------------------------------------------------

    /// Joins connection `id` to the stored meeting `record` (creating its room on first
    /// use). Returns `false`, sending nothing, when the meeting's room has ended.
    /// `co_hosts` are the accounts the schedule names as co-hosts.
    pub fn join(
        &self,
        id: ParticipantId,
        record: &MeetingRecord,
        co_hosts: &[String],
        request: JoinRequest,
    ) -> bool {
        let number = record.number.clone();
        let name = request.display_name.as_str().to_string();
        let mut rooms = lock(&self.rooms);
        let open = || self.open_room(record, co_hosts);
        let room = rooms.entry(number.clone()).or_insert_with(open);
        if room.is_ended() {
            if record.ended_at.is_some() {
                return false;
            }
            // A scheduled meeting outlives a session that was ended for all: the next
            // occurrence gets a fresh room (with the options as they are now).
            *room = open();
        }
        {
            let mut connections = lock(&self.connections);
            if let Some(connection) = connections.get_mut(&id) {
                connection.meeting = Some(number);
                connection.display_name = Some(name);
            }
        }
        let out = room.join(id, request, Instant::now());
        self.dispatch(out);
        self.sync_media(&record.number, room);
        true
    }

    /// Test builds only: in meeting `number` (opened now if need be), whoever joins as `name`
    /// is admitted at once and left out of every roster and lobby list, as a hostile server
    /// would hide a listener.
    #[cfg(feature = "test-hooks")]
    pub fn hide_participant_named(&self, record: &MeetingRecord, name: &str) {
        let mut rooms = lock(&self.rooms);
        let room = rooms
            .entry(record.number.clone())
            .or_insert_with(|| self.open_room(record, &[]));
        room.hide_participant_named(name);
    }

    fn open_room(&self, record: &MeetingRecord, co_hosts: &[String]) -> Room {
        let options = MeetingOptions::from_json(&record.options_json);
        tracing::info!(meeting = %record.number, "meeting room opened");
        Room::new(
            options.room_options(record.host_user_id.clone(), co_hosts.to_vec()),
            self.delivery.clone(),
            Instant::now(),
        )
    }

    /// Number of open rooms (live meeting sessions).
    pub fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }

    /// Whether the meeting has a room that was ended.
    pub fn room_ended(&self, number: &str) -> bool {
        lock(&self.rooms).get(number).is_some_and(Room::is_ended)
    }

    /// Runs `action` on the room connection `id` joined and delivers what it produced.
    /// Fails with [`RoomError::Ended`] when the connection is in no live room.
    pub fn with_room<E: From<RoomError>>(
        &self,
        id: ParticipantId,
        action: impl FnOnce(&mut Room) -> Result<Vec<Outgoing>, E>,
    ) -> Result<(), E> {
        let Some(number) = self.meeting_of(id) else {
            return Err(RoomError::Ended.into());
        };
        let mut rooms = lock(&self.rooms);
        let room = rooms.get_mut(&number).ok_or(RoomError::Ended)?;
        let out = action(room)?;
        self.dispatch(out);
        self.sync_media(&number, room);
        Ok(())
    }

    /// The participant leaves its meeting (on `leave`, disconnect or idle timeout).
    pub fn leave(&self, id: ParticipantId) {
        let number = {
            let mut connections = lock(&self.connections);
            connections.get_mut(&id).and_then(|c| c.meeting.take())
        };
        if let Some(number) = number {
            let mut rooms = lock(&self.rooms);
            if let Some(room) = rooms.get_mut(&number) {
                let out = room.leave(id);
                self.dispatch(out);
                self.sync_media(&number, room);
                if room.is_empty() {
                    // The session is over: free the room (its bans are in the database).
                    rooms.remove(&number);
                    tracing::info!(meeting = %number, "meeting room closed");
                }
            }
        }
        self.sfu.remove(id);
    }

    /// Applies every room's time-based rules (auto-lock); called every second.
    pub fn tick(&self, now: Instant) {
        let mut rooms = lock(&self.rooms);
        for room in rooms.values_mut() {
            let out = room.tick(now);
            self.dispatch(out);
        }
        // Ended sessions are forgotten once their end is stored (memory stays flat).
        rooms.retain(|_, room| !(room.is_empty() && room.ended_before(now, ENDED_ROOM_GRACE)));
    }

    // -- throttles ------------------------------------------------------------------------

    /// Sign-in and meeting-password guesses.
    pub fn throttle(&self) -> &GuessThrottle {
        &self.throttle
    }

    // -- audit ----------------------------------------------------------------------------

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

    // -- shutdown -------------------------------------------------------------------------

    /// Refuses new connections and tells every connected participant the meeting ended
    /// (`server_shutdown`), closing their connections.
    pub fn begin_shutdown(&self) {
        let connections = lock(&self.connections);
        self.shutting_down.store(true, Ordering::SeqCst);
        for (id, connection) in connections.iter() {
            let sent = connection.outbox.try_send(Outgoing {
                to: *id,
                message: ServerMessage::MeetingEnded {
                    reason: EndReason::ServerShutdown,
                },
                close: true,
            });
            if let Err(mpsc::error::TrySendError::Full(_)) = sent {
                connection.overflowed.notify_one();
            }
        }
    }

    /// Waits until every connection has closed, or `limit` passed.
    pub async fn wait_for_connections(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.connections_changed.notified();
            if self.connection_count() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(
                    remaining = self.connection_count(),
                    "connections still open at shutdown"
                );
                return;
            }
        }
    }
}

/// A registered connection; dropping it disconnects (see [`Hub::connect`]).
#[derive(Debug)]
pub struct ConnectionGuard {
    hub: Arc<Hub>,
    id: ParticipantId,
    overflowed: Arc<Notify>,
}

impl ConnectionGuard {
    pub fn id(&self) -> ParticipantId {
        self.id
    }

    /// Resolves once the outbox overflowed (the connection cannot keep up).
    pub async fn overflowed(&self) {
        self.overflowed.notified().await;
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.hub.disconnect(self.id);
        tracing::debug!(participant = %self.id, "disconnected");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn meeting_options_round_trip_and_fail_closed() {
        let options = MeetingOptions {
            require_sign_in: false,
            lobby: true,
            auto_lock_minutes: Some(10),
            join_before_host: true,
            exclude_password_from_invitation: false,
        };
        assert_eq!(MeetingOptions::from_json(&options.to_json()), options);
        assert_eq!(MeetingOptions::from_json("{}"), MeetingOptions::default());
        let broken = MeetingOptions::from_json("not json");
        assert!(broken.lobby && broken.require_sign_in);
        let room = options.room_options(Some("u1".into()), Vec::new());
        assert!(room.lobby_enabled && room.join_before_host);
        assert_eq!(room.auto_lock_minutes, Some(10));
    }
}
