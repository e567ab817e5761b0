//! Bearer-token authentication, shared by the JSON endpoints and the signaling WebSocket:
//! the `Authorization` header to the account and sign-in session behind it.

use axum::http::StatusCode;
use conclave_protocol::BearerToken;

use crate::hub::Hub;
use crate::store::{TokenSession, UserRecord};

/// Why a signed-in connection is closed when its session ends under it.
pub const SIGN_IN_REVOKED: &str = "your sign-in was revoked or has expired; sign in again";

/// The account behind an `Authorization` header value.
pub async fn authenticate(hub: &Hub, value: Option<&str>) -> Result<UserRecord, StatusCode> {
    authenticate_session(hub, value).await.map(|s| s.user)
}

/// The bearer token of an `Authorization` header value, if it is one.
pub fn bearer(value: Option<&str>) -> Option<BearerToken> {
    value.and_then(|v| BearerToken::from_authorization_header(v).ok())
}

/// The sign-in session behind an `Authorization` header value: 401 for a missing, unknown,
/// expired or revoked token or a disabled account.
pub async fn authenticate_session(
    hub: &Hub,
    value: Option<&str>,
) -> Result<TokenSession, StatusCode> {
    let token = bearer(value).ok_or(StatusCode::UNAUTHORIZED)?;
    match hub.store().session_for_token(token.expose()).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(StatusCode::UNAUTHORIZED),
        Err(e) => {
            tracing::error!(error = %e, "token lookup failed");
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
