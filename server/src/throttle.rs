//! Password-guess throttling for sign-in and meeting joins, kept in the database.
//!
//! Every password attempt is *reserved* before its password is checked: the attempt counts as
//! a failure up front, so parallel attempts cannot all pass the check before any of them is
//! counted. A right password removes only that attempt's (who, what) row; a refused one stays.
//!
//! Who and what, per kind of attempt:
//!
//! - sign-in: the client address (IPv6 by its /64) on an account name. Limits: the address
//!   over all account names, and the account name over all addresses;
//! - a guest's meeting join: the address on a meeting number. Limits: the address over all
//!   meetings, and the meeting over all guest addresses;
//! - a signed-in user's join: the account *at* an address on a meeting. Limit: that account
//!   at that address. Strangers' failures never count against a signed-in user, and a
//!   meeting's host account needs no password (it is not throttled at all).
//!
//! A few failures are free; after that each further failure doubles the wait (30 s, 60 s, …,
//! capped at 1 h), counted from the group's latest failure. Rows are forgotten an hour after
//! their last failure and at most [`MAX_ROWS`] are kept (oldest dropped first), so the state is
//! bounded on disk and nothing grows in memory. Times are Unix seconds, injected for tests.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::SqlitePool;

use crate::store::{Store, StoreError};

/// Failures allowed per address (or per account at an address) before waits start.
pub const FREE_ATTEMPTS: u32 = 5;
/// Failures allowed per account name or meeting, over all addresses.
pub const FREE_TARGET_ATTEMPTS: u32 = FREE_ATTEMPTS * 4;
const FIRST_WAIT_SECS: i64 = 30;
const MAX_WAIT_SECS: i64 = 3600;
/// A row with no failure for this long is forgotten.
pub const FORGET_AFTER_SECS: i64 = 3600;
/// Most rows kept; beyond this the oldest are dropped.
pub const MAX_ROWS: i64 = 100_000;
/// Old rows are pruned at most this often.
const PRUNE_EVERY_SECS: i64 = 60;

/// What kind of password an attempt guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SignIn,
    JoinGuest,
    JoinMember,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "signin",
            Kind::JoinGuest => "join_guest",
            Kind::JoinMember => "join_member",
        }
    }

    /// Free failures for the subject (who) and, if limited, for the target (what).
    fn limits(self) -> (u32, Option<u32>) {
        match self {
            Kind::SignIn | Kind::JoinGuest => (FREE_ATTEMPTS, Some(FREE_TARGET_ATTEMPTS)),
            Kind::JoinMember => (FREE_ATTEMPTS, None),
        }
    }
}

/// One password attempt: who guesses what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    kind: Kind,
    subject: String,
    target: String,
}

impl Guess {
    /// Signing in to account `username` from `address`.
    pub fn sign_in(address: IpAddr, username: &str) -> Self {
        Self {
            kind: Kind::SignIn,
            subject: address_key(address),
            // Usernames are unique case-insensitively.
            target: username.to_lowercase(),
        }
    }

    /// A guest (no bearer token) joining meeting `number` from `address`.
    pub fn join_guest(address: IpAddr, number: &str) -> Self {
        Self {
            kind: Kind::JoinGuest,
            subject: address_key(address),
            target: number.to_owned(),
        }
    }

    /// Signed-in account `user_id` joining meeting `number` from `address`.
    pub fn join_member(address: IpAddr, user_id: &str, number: &str) -> Self {
        Self {
            kind: Kind::JoinMember,
            subject: format!("{user_id}@{}", address_key(address)),
            target: number.to_owned(),
        }
    }
}

/// The throttle key of an address: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by its /64,
/// since one host usually holds a whole /64.
pub fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Why an attempt may not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Too many failures: try again after this long.
    #[error("too many attempts; try again in {0:?}")]
    Wait(Duration),
    /// The database failed (the attempt is refused: fail closed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The wait after `failures` failures of which the latest was at `last`, or `None`.
fn wait_after(failures: i64, last: i64, free: u32, now: i64) -> Option<Duration> {
    let over = failures - i64::from(free);
    if over <= 0 {
        return None;
    }
    let doublings = u32::try_from((over - 1).min(16)).unwrap_or(16);
    let wait = FIRST_WAIT_SECS
        .saturating_mul(1 << doublings)
        .min(MAX_WAIT_SECS);
    let until = last.saturating_add(wait);
    (until > now).then(|| Duration::from_secs(u64::try_from(until - now).unwrap_or(0)))
}

/// The server's guess throttle; its state is the `guess_failures` table.
#[derive(Debug)]
pub struct GuessThrottle {
    store: Store,
    /// Serializes check-and-reserve (so parallel attempts see each other's reservations) and
    /// remembers when old rows were last pruned.
    gate: tokio::sync::Mutex<i64>,
    max_rows: i64,
}

impl GuessThrottle {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            gate: tokio::sync::Mutex::new(0),
            max_rows: MAX_ROWS,
        }
    }

    /// A throttle keeping at most `max_rows` rows (tests use a small cap).
    pub fn with_max_rows(store: Store, max_rows: i64) -> Self {
        Self {
            max_rows,
            ..Self::new(store)
        }
    }

    fn pool(&self) -> &SqlitePool {
        self.store.pool()
    }

    /// Checks whether `guess` may go ahead and, if so, counts it as a failure before its
    /// password is checked. Call [`succeeded`](Self::succeeded) when the password was right,
    /// [`cancel`](Self::cancel) when it was not checked after all.
    pub async fn reserve(&self, guess: &Guess, now: i64) -> Result<(), ThrottleError> {
        let mut last_prune = self.gate.lock().await;
        if now - *last_prune >= PRUNE_EVERY_SECS {
            self.prune(now).await?;
            *last_prune = now;
        }
        let (free_subject, free_target) = guess.kind.limits();
        let (failures, last): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COALESCE(SUM(failures), 0), MAX(last_failure) FROM guess_failures \
             WHERE kind = ? AND subject = ?",
        )
        .bind(guess.kind.as_str())
        .bind(&guess.subject)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from)?;
        let mut wait = last.and_then(|last| wait_after(failures, last, free_subject, now));
        if let Some(free_target) = free_target {
            let (failures, last): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COALESCE(SUM(failures), 0), MAX(last_failure) FROM guess_failures \
                 WHERE kind = ? AND target = ?",
            )
            .bind(guess.kind.as_str())
            .bind(&guess.target)
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::from)?;
            wait = wait.max(last.and_then(|last| wait_after(failures, last, free_target, now)));
        }
        if let Some(wait) = wait {
            return Err(ThrottleError::Wait(wait));
        }
        sqlx::query(
            "INSERT INTO guess_failures (kind, subject, target, failures, last_failure) \
             VALUES (?, ?, ?, 1, ?) ON CONFLICT (kind, subject, target) \
             DO UPDATE SET failures = failures + 1, last_failure = excluded.last_failure",
        )
        .bind(guess.kind.as_str())
        .bind(&guess.subject)
        .bind(&guess.target)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// The password was right: this (who, what) pair starts afresh. Other accounts' or
    /// meetings' failures from the same address are kept.
    pub async fn succeeded(&self, guess: &Guess) -> Result<(), StoreError> {
        let _gate = self.gate.lock().await;
        sqlx::query("DELETE FROM guess_failures WHERE kind = ? AND subject = ? AND target = ?")
            .bind(guess.kind.as_str())
            .bind(&guess.subject)
            .bind(&guess.target)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The reserved attempt did not happen (the server was too busy to check the password):
    /// it no longer counts.
    pub async fn cancel(&self, guess: &Guess) -> Result<(), StoreError> {
        let _gate = self.gate.lock().await;
        sqlx::query(
            "UPDATE guess_failures SET failures = failures - 1 \
             WHERE kind = ? AND subject = ? AND target = ? AND failures > 1",
        )
        .bind(guess.kind.as_str())
        .bind(&guess.subject)
        .bind(&guess.target)
        .execute(self.pool())
        .await?;
        sqlx::query(
            "DELETE FROM guess_failures \
             WHERE kind = ? AND subject = ? AND target = ? AND failures = 1",
        )
        .bind(guess.kind.as_str())
        .bind(&guess.subject)
        .bind(&guess.target)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(StoreError::from)
    }

    /// Forgets rows whose last failure is over an hour old, then drops the oldest beyond
    /// [`MAX_ROWS`].
    async fn prune(&self, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM guess_failures WHERE last_failure < ?")
            .bind(now - FORGET_AFTER_SECS)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "DELETE FROM guess_failures WHERE rowid IN (SELECT rowid FROM guess_failures \
             ORDER BY last_failure LIMIT MAX(0, (SELECT COUNT(*) FROM guess_failures) - ?))",
        )
        .bind(self.max_rows)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Rows kept (for tests and monitoring).
    pub async fn rows(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM guess_failures")
            .fetch_one(self.pool())
            .await?)
    }
}

#[cfg(test)]
mod tests;
