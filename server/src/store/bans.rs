//! Meeting bans: whom a host expelled or denied, kept for the meeting's life (a server restart
//! or "end for all" of a scheduled meeting does not let them back in).

use super::{Store, StoreError, unix_now};

/// Whom a ban keeps out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum BanKey {
    /// A signed-in account (its user id).
    Account(String),
    /// A device's MLS signature key.
    Device(Vec<u8>),
}

impl BanKey {
    fn columns(&self) -> (&'static str, String) {
        match self {
            BanKey::Account(user) => ("account", user.clone()),
            BanKey::Device(key) => ("device", hex::encode(key)),
        }
    }
}

/// Most bans one meeting keeps; a host expelling beyond that still has the lobby on.
pub const MAX_BANS_PER_MEETING: i64 = 10_000;

impl Store {
    /// Records a ban for meeting `number` (idempotent).
    pub async fn add_meeting_ban(&self, number: &str, ban: &BanKey) -> Result<(), StoreError> {
        let (kind, value) = ban.columns();
        sqlx::query(
            "INSERT OR IGNORE INTO meeting_bans (number, kind, value, created_at) \
             SELECT ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM meeting_bans WHERE number = ?) < ?",
        )
        .bind(number)
        .bind(kind)
        .bind(value)
        .bind(unix_now())
        .bind(number)
        .bind(MAX_BANS_PER_MEETING)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The accounts a scheduled meeting names as co-hosts (none for instant meetings).
    pub async fn meeting_co_hosts(&self, number: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM schedule_co_hosts WHERE number = ? ORDER BY user_id",
        )
        .bind(number)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether any of `keys` is banned from meeting `number`.
    pub async fn is_banned(&self, number: &str, keys: &[BanKey]) -> Result<bool, StoreError> {
        for key in keys {
            let (kind, value) = key.columns();
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM meeting_bans WHERE number = ? AND kind = ? AND value = ?",
            )
            .bind(number)
            .bind(kind)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
