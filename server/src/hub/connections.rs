//! The connection table: every live WebSocket connection's outbox, what it joined and how
//! it signed in; the guard that disconnects it; and shutdown, which reaches every outbox.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use conclave_protocol::{EndReason, ParticipantId, ServerMessage};
use tokio::sync::{Notify, mpsc};

use super::{Hub, lock};
use crate::room::Outgoing;
use crate::store::{AuditEvent, SessionKey};

/// One live WebSocket connection.
#[derive(Debug)]
pub(super) struct Connection {
    outbox: mpsc::Sender<Outgoing>,
    /// Told when the outbox overflowed: the connection task closes the socket.
    overflowed: Arc<Notify>,
    /// The meeting it joined (set when the join reached the room).
    meeting: Option<String>,
    /// The name it joined with, for audit entries.
    display_name: Option<String>,
    /// The account and sign-in session it authenticated with, if any.
    signed_in: Option<(String, SessionKey)>,
    /// The client's address, for audit entries.
    address: Option<IpAddr>,
    /// The fingerprint of the device key it joined with, for audit entries.
    device: Option<String>,
    /// Its join is in the audit trail, so its leave goes there too.
    join_recorded: bool,
}

impl Hub {
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

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
                address: None,
                device: None,
                join_recorded: false,
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

    /// Records the meeting connection `id` joined, and the name and device it joined with
    /// (for audit).
    pub(super) fn set_meeting(
        &self,
        id: ParticipantId,
        meeting: String,
        display_name: String,
        device: String,
    ) {
        if let Some(connection) = lock(&self.connections).get_mut(&id) {
            connection.meeting = Some(meeting);
            connection.display_name = Some(display_name);
            connection.device = Some(device);
        }
    }

    /// Records the client address of connection `id` (for audit).
    pub fn set_address(&self, id: ParticipantId, address: IpAddr) {
        if let Some(connection) = lock(&self.connections).get_mut(&id) {
            connection.address = Some(address);
        }
    }

    /// Marks the join of `id` as recorded in the audit trail; returns whether it was.
    pub(super) fn mark_join_recorded(&self, id: ParticipantId, recorded: bool) -> bool {
        lock(&self.connections)
            .get_mut(&id)
            .map(|c| std::mem::replace(&mut c.join_recorded, recorded))
            .unwrap_or(false)
    }

    /// An audit entry about connection `id`, filled with what the hub knows of it: its name,
    /// account, device fingerprint and address. The caller sets the action.
    pub fn who(&self, id: ParticipantId) -> AuditEvent {
        let actor = self.describe(id);
        let connections = lock(&self.connections);
        let Some(connection) = connections.get(&id) else {
            return AuditEvent {
                actor,
                ..AuditEvent::default()
            };
        };
        AuditEvent {
            actor,
            user_id: connection.signed_in.as_ref().map(|(user, _)| user.clone()),
            display_name: connection.display_name.clone(),
            device: connection.device.clone(),
            address: connection.address.map(|a| a.to_string()),
            ..AuditEvent::default()
        }
    }

    /// Forgets the meeting connection `id` joined and returns it (it is leaving).
    pub(super) fn take_meeting(&self, id: ParticipantId) -> Option<String> {
        lock(&self.connections)
            .get_mut(&id)
            .and_then(|c| c.meeting.take())
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
