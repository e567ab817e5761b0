//! Bearer tokens: issued to one device of one account, stored only as their SHA-256.

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

/// What a valid token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSession {
    /// The signed-in account.
    pub user: UserRecord,
    /// The MLS signature key of the device the token was issued to.
    pub device_signature_key: Vec<u8>,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Store {
    // ----- tokens ---------------------------------------------------------------------------

    /// Issues a bearer token for `user_id`'s device (identified by its MLS signature key),
    /// valid for `ttl`. Only the token's SHA-256 is stored.
    pub async fn create_token(
        &self,
        user_id: &str,
        device_signature_key: &[u8],
        ttl: Duration,
    ) -> Result<IssuedToken, StoreError> {
        if device_signature_key.is_empty() || device_signature_key.len() > MAX_DEVICE_KEY_BYTES {
            return Err(invalid(
                "device signature key",
                format!("must be 1 to {MAX_DEVICE_KEY_BYTES} bytes"),
            ));
        }
        let user = self
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| StoreError::UnknownUser(user_id.to_owned()))?;
        if user.disabled {
            return Err(StoreError::Disabled);
        }
        let mut raw = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = unix_now();
        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(ttl_secs);
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
            u.created_at, t.device_signature_key, t.expires_at \
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
        Ok(Some(TokenSession {
            user: user_from_row(&row)?,
            device_signature_key: row.try_get("device_signature_key")?,
            expires_at: row.try_get("expires_at")?,
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

    /// Revokes one token (sign-out). Returns whether it existed.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE token_hash = ?")
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes expired tokens; returns how many.
    pub async fn purge_expired_tokens(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE expires_at <= ?")
            .bind(unix_now())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// SHA-256 of a bearer token as lowercase hex: the form stored in the database.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
