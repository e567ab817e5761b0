//! The audit trail's writer: connections and HTTP handlers queue entries without waiting for
//! the database, and one task writes them in order.
//!
//! The queue is bounded ([`AUDIT_QUEUE`]): when the database cannot keep up, new entries are
//! dropped rather than slowing a room or growing memory; drops are counted and logged. What
//! an entry may hold is in `store/audit.rs` (never a secret).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditEvent, Store};

/// Entries waiting for the writer at most.
pub const AUDIT_QUEUE: usize = 4096;

enum Command {
    Write(AuditEvent),
    Flush(oneshot::Sender<()>),
}

/// The sending side of the audit trail. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    queue: mpsc::Sender<Command>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Write(event) => f.debug_tuple("Write").field(&event.action).finish(),
            Command::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditTrail {
    /// Starts the writer task (on the current tokio runtime) for `store`.
    pub fn start(store: Store) -> Self {
        let (trail, inbox) = Self::queue(AUDIT_QUEUE);
        tokio::spawn(write(store, inbox));
        trail
    }

    fn queue(capacity: usize) -> (Self, mpsc::Receiver<Command>) {
        let (queue, inbox) = mpsc::channel(capacity);
        let trail = Self {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (trail, inbox)
    }

    /// Queues an entry without waiting; a full queue drops it (counted and logged).
    pub fn record(&self, event: AuditEvent) {
        let action = match self.queue.try_send(Command::Write(event)) {
            Ok(()) => return,
            Err(TrySendError::Full(command) | TrySendError::Closed(command)) => command,
        };
        let dropped = self
            .dropped
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        // Logged at 1, 2, 4, 8…: a flood of drops must not become a flood of log lines.
        if dropped.is_power_of_two() {
            tracing::warn!(dropped, last = ?action, "audit trail queue full; entries dropped");
        }
    }

    /// How many entries were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every entry queued before this call is in the database.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Command::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write(store: Store, mut inbox: mpsc::Receiver<Command>) {
    while let Some(command) = inbox.recv().await {
        match command {
            Command::Write(event) => {
                if let Err(e) = store.record_audit(&event).await {
                    tracing::warn!(action = %event.action, error = %e, "could not write the audit trail");
                }
            }
            Command::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// How the trail names a device: the first 16 bytes of the SHA-256 of its MLS signature
/// (public) key, in hex. Enough to tell devices apart, nothing to sign with.
pub fn device_fingerprint(signature_key: &[u8]) -> String {
    let digest = Sha256::digest(signature_key);
    format!("sha256:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (trail, mut inbox) = AuditTrail::queue(2);
        for n in 0..5 {
            trail.record(AuditEvent {
                actor: format!("actor {n}"),
                action: "participant.join".into(),
                ..AuditEvent::default()
            });
        }
        assert_eq!(trail.dropped(), 3);
        let Some(Command::Write(first)) = inbox.recv().await else {
            panic!("the first entry was queued");
        };
        assert_eq!(first.actor, "actor 0");
    }

    #[tokio::test]
    async fn entries_are_written_in_order_and_flush_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(
            dir.path(),
            crate::store::StoreOptions::insecure_fast_hashing_for_tests(),
        )
        .await
        .unwrap();
        let trail = AuditTrail::start(store.clone());
        for action in ["participant.join", "lock", "participant.leave"] {
            trail.record(AuditEvent {
                meeting_number: Some("12345678901".into()),
                actor: "Aiko (#1)".into(),
                action: action.into(),
                ..AuditEvent::default()
            });
        }
        trail.flush().await;
        let entries = store.audit_entries(Some("12345678901")).await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["participant.join", "lock", "participant.leave"]);
        assert_eq!(trail.dropped(), 0);
    }

    #[test]
    fn device_fingerprints_are_short_stable_and_distinct() {
        let a = device_fingerprint(&[1; 32]);
        assert_eq!(a, device_fingerprint(&[1; 32]));
        assert_ne!(a, device_fingerprint(&[2; 32]));
        assert_eq!(a.len(), "sha256:".len() + 32);
    }
}
