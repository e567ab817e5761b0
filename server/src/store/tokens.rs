//! Bearer tokens: issued to one device of one account, stored only as their SHA-256.
//!
//! A sign-in opens a *session* ([`Store::create_session`]): a short-lived access token plus a
//! refresh token. [`Store::refresh_session`] exchanges the refresh token, once, for a new pair
//! (rotation); a refresh token presented a second time means two parties hold it, and the
//! whole session is revoked. Signing out, disabling the account or resetting its password
//! deletes the session with all of its tokens.

use std::time::Duration;

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use super::{
    MAX_DEVICE_KEY_BYTES, Store, StoreError, UserRecord, invalid, unix_now, user_from_row,
};

const TOKEN_BYTES: usize = 32;

/// A freshly issued bearer token. The plaintext exists only here; the store keeps its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer token to hand to the client once.
    pub token: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a live connection re-checks to learn whether its sign-in still stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKey {
    /// A sign-in session (access tokens with a refresh token).
    Session(String),
    /// An access token issued without a session (before refresh tokens): its SHA-256.
    LegacyToken(String),
}

/// A freshly opened or refreshed session: a new access token and a new refresh token. The
/// plaintexts exist only here.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSession {
    pub access: IssuedToken,
    /// Single-use token for `POST /v1/token/refresh`.
    pub refresh_token: String,
    /// Unix seconds after which the refresh token (and so the session) is refused.
    pub refresh_expires_at: i64,
    /// The signed-in account.
    pub user: UserRecord,
    /// The MLS signature key of the session's device.
    pub device_signature_key: Vec<u8>,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("access", &self.access)
            .field("refresh_token", &"<redacted>")
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("user", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// What exchanging a refresh token gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A new access token and a new refresh token; the old refresh token is spent.
    Rotated(IssuedSession),
    /// Unknown or expired refresh token, or a disabled account: sign in again.
    Refused,
    /// The refresh token had been used already: the session is revoked, every token of it
    /// refused from now on.
    Reused {
        user_id: String,
        session: SessionKey,
    },
}

/// What a valid token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSession {
    /// The signed-in account.
    pub user: UserRecord,
    /// The MLS signature key of the device the token was issued to.
    pub device_signature_key: Vec<u8>,
    /// Unix seconds.
    pub expires_at: i64,
    /// What a connection re-checks while it lives.
    pub key: SessionKey,
}

fn new_secret() -> String {
    let mut raw = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}

fn check_device_key(device_signature_key: &[u8]) -> Result<(), StoreError> {
    if device_signature_key.is_empty() || device_signature_key.len() > MAX_DEVICE_KEY_BYTES {
        return Err(invalid(
            "device signature key",
            format!("must be 1 to {MAX_DEVICE_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Issues the access and refresh tokens of session `session_id` inside `tx`.
async fn issue_pair(
    tx: &mut sqlx::SqliteConnection,
    session_id: &str,
    user_id: &str,
    device_signature_key: &[u8],
    now: i64,
    access_ttl: Duration,
    refresh_ttl: Duration,
) -> Result<(IssuedToken, String, i64), StoreError> {
    let token = new_secret();
    let expires_at = now.saturating_add(ttl_secs(access_ttl));
    sqlx::query(
        "INSERT INTO tokens (token_hash, user_id, device_signature_key, created_at, \
         expires_at, session_id) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(device_signature_key)
    .bind(now)
    .bind(expires_at)
    .bind(session_id)
    .execute(&mut *tx)
    .await?;
    let refresh = new_secret();
    let refresh_expires_at = now.saturating_add(ttl_secs(refresh_ttl));
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(token_hash(&refresh))
    .bind(session_id)
    .bind(now)
    .bind(refresh_expires_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE sessions SET expires_at = ? WHERE id = ?")
        .bind(refresh_expires_at)
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    Ok((
        IssuedToken { token, expires_at },
        refresh,
        refresh_expires_at,
    ))
}

impl Store {
    // ----- tokens ---------------------------------------------------------------------------

    /// The checks before a token or session is issued: a well-formed device key, and an
    /// account that exists and is not disabled.
    async fn enabled_user_with_device(
        &self,
        user_id: &str,
        device_signature_key: &[u8],
    ) -> Result<UserRecord, StoreError> {
        check_device_key(device_signature_key)?;
        let user = self
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| StoreError::UnknownUser(user_id.to_owned()))?;
        if user.disabled {
            return Err(StoreError::Disabled);
        }
        Ok(user)
    }

    /// Issues a bearer token without a session (no refresh token) for `user_id`'s device
    /// (identified by its MLS signature key), valid for `ttl`. Only the token's SHA-256 is
    /// stored. Sign-in uses [`Store::create_session`].
    pub async fn create_token(
        &self,
        user_id: &str,
        device_signature_key: &[u8],
        ttl: Duration,
    ) -> Result<IssuedToken, StoreError> {
        self.enabled_user_with_device(user_id, device_signature_key)
            .await?;
        let token = new_secret();
        let now = unix_now();
        let expires_at = now.saturating_add(ttl_secs(ttl));
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, device_signature_key, created_at, \
             expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(device_signature_key)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        tracing::info!(%user_id, expires_at, "token issued");
        Ok(IssuedToken { token, expires_at })
    }

    /// The session a token stands for at time `now` (Unix seconds): `None` when the token is
    /// unknown, expired, or its account is disabled.
    pub async fn session_for_token_at(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<TokenSession>, StoreError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        const SQL: &str = "SELECT u.id, u.username, u.display_name, u.disabled, \
            u.created_at, t.device_signature_key, t.expires_at, t.session_id \
            FROM tokens t JOIN users u ON u.id = t.user_id \
            WHERE t.token_hash = ? AND t.expires_at > ? AND u.disabled = 0";
        let row = sqlx::query(SQL)
            .bind(token_hash(token))
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session_id: Option<String> = row.try_get("session_id")?;
        Ok(Some(TokenSession {
            user: user_from_row(&row)?,
            device_signature_key: row.try_get("device_signature_key")?,
            expires_at: row.try_get("expires_at")?,
            key: match session_id {
                Some(id) => SessionKey::Session(id),
                None => SessionKey::LegacyToken(token_hash(token)),
            },
        }))
    }

    /// The session a token stands for now; see [`Store::session_for_token_at`].
    pub async fn session_for_token(&self, token: &str) -> Result<Option<TokenSession>, StoreError> {
        self.session_for_token_at(token, unix_now()).await
    }

    /// The account a token signs in, if the token is valid now.
    pub async fn user_for_token(&self, token: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.session_for_token(token).await?.map(|s| s.user))
    }

    /// The account a token signs in at time `now` (Unix seconds).
    pub async fn user_for_token_at(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.session_for_token_at(token, now).await?.map(|s| s.user))
    }

    /// Revokes one token; see [`Store::sign_out_token`]. Returns whether it existed.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self.sign_out_token(token).await?.is_some())
    }

    /// Sign-out with an access token: when it belongs to a session, the whole session (every
    /// access and refresh token of it) is revoked, else the token alone. Expired tokens count
    /// too, so a client whose access token ran out can still end its session. Returns the
    /// account and session that were signed out, if the token was known.
    pub async fn sign_out_token(
        &self,
        token: &str,
    ) -> Result<Option<(String, SessionKey)>, StoreError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query("SELECT user_id, session_id FROM tokens WHERE token_hash = ?")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user_id: String = row.try_get("user_id")?;
        let session_id: Option<String> = row.try_get("session_id")?;
        let key = match session_id {
            Some(session_id) => {
                delete_session(&mut tx, &session_id).await?;
                SessionKey::Session(session_id)
            }
            None => {
                sqlx::query("DELETE FROM tokens WHERE token_hash = ?")
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                SessionKey::LegacyToken(hash)
            }
        };
        tx.commit().await?;
        tracing::info!(%user_id, "signed out");
        Ok(Some((user_id, key)))
    }

    /// Sign-out with a refresh token (used or not, expired or not): revokes its session.
    /// Returns the account and session that were signed out, if the token was known.
    pub async fn sign_out_refresh_token(
        &self,
        refresh_token: &str,
    ) -> Result<Option<(String, SessionKey)>, StoreError> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Ok(None);
        }
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "SELECT s.id, s.user_id FROM refresh_tokens r JOIN sessions s \
             ON s.id = r.session_id WHERE r.token_hash = ?",
        )
        .bind(token_hash(refresh_token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session_id: String = row.try_get("id")?;
        let user_id: String = row.try_get("user_id")?;
        delete_session(&mut tx, &session_id).await?;
        tx.commit().await?;
        tracing::info!(%user_id, "signed out");
        Ok(Some((user_id, SessionKey::Session(session_id))))
    }

    /// Opens a sign-in session for `user_id`'s device: an access token valid for
    /// `access_ttl` and a single-use refresh token valid for `refresh_ttl`. Only their
    /// SHA-256 is stored.
    pub async fn create_session(
        &self,
        user_id: &str,
        device_signature_key: &[u8],
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<IssuedSession, StoreError> {
        let user = self
            .enabled_user_with_device(user_id, device_signature_key)
            .await?;
        let now = unix_now();
        let session_id = new_secret();
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device_signature_key, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&session_id)
        .bind(user_id)
        .bind(device_signature_key)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let (access, refresh_token, refresh_expires_at) = issue_pair(
            &mut tx,
            &session_id,
            user_id,
            device_signature_key,
            now,
            access_ttl,
            refresh_ttl,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(%user_id, expires_at = access.expires_at, "session opened");
        Ok(IssuedSession {
            access,
            refresh_token,
            refresh_expires_at,
            user,
            device_signature_key: device_signature_key.to_vec(),
        })
    }

    /// Exchanges a refresh token for a new access token and a new refresh token; see
    /// [`Store::refresh_session_at`].
    pub async fn refresh_session(
        &self,
        refresh_token: &str,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        self.refresh_session_at(refresh_token, unix_now(), access_ttl, refresh_ttl)
            .await
    }

    /// Exchanges a refresh token at time `now` (Unix seconds). The token is spent (kept,
    /// marked used); the session's earlier access tokens are revoked. A spent token presented
    /// again revokes the session: either the client or a thief replayed it, and which one
    /// cannot be told apart.
    pub async fn refresh_session_at(
        &self,
        refresh_token: &str,
        now: i64,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Ok(RefreshOutcome::Refused);
        }
        let hash = token_hash(refresh_token);
        let mut tx = self.write_transaction().await?;
        // Spending it first makes this a write transaction from the start: two exchanges of
        // the same token cannot both succeed.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ? \
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(now)
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT r.session_id, r.used_at, s.device_signature_key, u.id, u.username, \
             u.display_name, u.disabled, u.created_at \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
             JOIN users u ON u.id = s.user_id WHERE r.token_hash = ?",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Refused);
        };
        let session_id: String = row.try_get("session_id")?;
        let user = user_from_row(&row)?;
        if spent.rows_affected() == 0 {
            let used_at: Option<i64> = row.try_get("used_at")?;
            if used_at.is_some() {
                delete_session(&mut tx, &session_id).await?;
                tx.commit().await?;
                tracing::warn!(user_id = %user.id, "refresh token reused; session revoked");
                return Ok(RefreshOutcome::Reused {
                    user_id: user.id,
                    session: SessionKey::Session(session_id),
                });
            }
            // Expired.
            return Ok(RefreshOutcome::Refused);
        }
        if user.disabled {
            delete_session(&mut tx, &session_id).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Refused);
        }
        let device_signature_key: Vec<u8> = row.try_get("device_signature_key")?;
        sqlx::query("DELETE FROM tokens WHERE session_id = ?")
            .bind(&session_id)
            .execute(&mut *tx)
            .await?;
        let (access, refresh_token, refresh_expires_at) = issue_pair(
            &mut tx,
            &session_id,
            &user.id,
            &device_signature_key,
            now,
            access_ttl,
            refresh_ttl,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, expires_at = access.expires_at, "session refreshed");
        Ok(RefreshOutcome::Rotated(IssuedSession {
            access,
            refresh_token,
            refresh_expires_at,
            user,
            device_signature_key,
        }))
    }

    /// Whether the sign-in behind a live connection still stands at `now`: its session (or,
    /// for a token without one, the token) exists, has not expired, and the account is not
    /// disabled. A session outlives its access tokens: a connection opened with a valid
    /// access token stays while the session does.
    pub async fn session_alive_at(&self, key: &SessionKey, now: i64) -> Result<bool, StoreError> {
        let (sql, value) = match key {
            SessionKey::Session(id) => (
                "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id = ? AND s.expires_at > ? AND u.disabled = 0",
                id,
            ),
            SessionKey::LegacyToken(hash) => (
                "SELECT 1 FROM tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = ? AND t.expires_at > ? AND u.disabled = 0",
                hash,
            ),
        };
        let row: Option<i64> = sqlx::query_scalar(sql)
            .bind(value)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// [`Store::session_alive_at`] now.
    pub async fn session_alive(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.session_alive_at(key, unix_now()).await
    }

    /// Deletes expired tokens and sessions; returns how many tokens.
    pub async fn purge_expired_tokens(&self) -> Result<u64, StoreError> {
        let now = unix_now();
        let done = sqlx::query("DELETE FROM tokens WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Deletes a session; its access and refresh tokens go with it (foreign keys cascade).
async fn delete_session(
    tx: &mut sqlx::SqliteConnection,
    session_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM tokens WHERE session_id = ?")
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE id = ?")
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Revokes every token and session of the account named `username` (inside `tx`).
pub(super) async fn revoke_all_of(
    tx: &mut sqlx::SqliteConnection,
    username: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM tokens WHERE user_id IN (SELECT id FROM users WHERE username = ?)")
        .bind(username)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = ?)")
        .bind(username)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// SHA-256 of a bearer token as lowercase hex: the form stored in the database.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
