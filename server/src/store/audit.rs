//! The audit trail in the database (table `audit_log`, migrations 0001 and 0007): appending,
//! querying with filters, and purging old entries.
//!
//! An entry says who (an account id, or a guest's self-chosen name and device-key
//! fingerprint, and the client address) did what (`action`) to whom (`target`) in which
//! meeting, and when. Never a password, token, key, chat or media: the callers only have
//! names, ids and fingerprints to give.

use sqlx::QueryBuilder;
use sqlx::Row as _;
use sqlx::sqlite::{Sqlite, SqliteRow};

use super::{Store, StoreError, unix_now};

/// Something to record, as the server saw it. Every field but `actor` and `action` may be
/// unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEvent {
    /// The meeting concerned, if any.
    pub meeting_number: Option<String>,
    /// Who acted, in words (`Aiko (#12)`, an account id, `admin-cli`, a username tried).
    pub actor: String,
    /// What happened, e.g. `participant.join`, `lock`, `sign_in.failed`.
    pub action: String,
    /// Whom it was done to, if anyone.
    pub target: Option<String>,
    /// The actor's account, when signed in.
    pub user_id: Option<String>,
    /// The name the actor appears under (a guest's is self-chosen).
    pub display_name: Option<String>,
    /// SHA-256 fingerprint of the actor's device (MLS signature) key, when known.
    pub device: Option<String>,
    /// The client's IP address.
    pub address: Option<String>,
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Increasing sequence number.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub meeting_number: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub user_id: Option<String>,
    pub display_name: Option<String>,
    pub device: Option<String>,
    pub address: Option<String>,
}

/// Which entries to list; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub meeting_number: Option<String>,
    /// An account id: entries where it acted (as `user_id`, or as `actor` in entries older
    /// than the trail's user column).
    pub user_id: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, inclusive.
    pub until: Option<i64>,
}

const AUDIT_COLUMNS: &str =
    "id, at, meeting_number, actor, action, target, user_id, display_name, device, address";

impl Store {
    /// Appends an audit entry from an administration command or an HTTP handler. Never pass a
    /// secret (password, token, key) in any field.
    pub async fn audit(
        &self,
        meeting_number: Option<&str>,
        actor: &str,
        action: &str,
        target: Option<&str>,
    ) -> Result<(), StoreError> {
        self.record_audit(&AuditEvent {
            meeting_number: meeting_number.map(str::to_owned),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            ..AuditEvent::default()
        })
        .await
    }

    /// Appends one audit entry, stamped now.
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.record_audit_at(event, unix_now()).await
    }

    /// Appends one audit entry stamped `at` (Unix seconds): for tests of retention and time
    /// filters.
    pub async fn record_audit_at(&self, event: &AuditEvent, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, meeting_number, actor, action, target, user_id, \
             display_name, device, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(at)
        .bind(&event.meeting_number)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.target)
        .bind(&event.user_id)
        .bind(&event.display_name)
        .bind(&event.device)
        .bind(&event.address)
        .execute(&self.pool)
        .await?;
        tracing::info!(target: "conclave::audit", meeting = ?event.meeting_number,
            actor = %event.actor, action = %event.action, target = ?event.target, "audit");
        Ok(())
    }

    /// Audit entries in order: one meeting's, or every entry when `meeting_number` is `None`.
    pub async fn audit_entries(
        &self,
        meeting_number: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_query(&AuditFilter {
            meeting_number: meeting_number.map(str::to_owned),
            ..AuditFilter::default()
        })
        .await
    }

    /// The entries every given filter matches, oldest first.
    pub async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"));
        if let Some(number) = &filter.meeting_number {
            query.push(" AND meeting_number = ").push_bind(number);
        }
        if let Some(user) = &filter.user_id {
            query
                .push(" AND (user_id = ")
                .push_bind(user)
                .push(" OR actor = ")
                .push_bind(user)
                .push(")");
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND at <= ").push_bind(until);
        }
        query.push(" ORDER BY id");
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(entry_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes the entries recorded before `cutoff` (Unix seconds); returns how many.
    pub async fn purge_audit_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

fn entry_from_row(row: &SqliteRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        meeting_number: row.try_get("meeting_number")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        user_id: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        device: row.try_get("device")?,
        address: row.try_get("address")?,
    })
}
