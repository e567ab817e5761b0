//! HTTPS calls to the server outside a meeting: sign-in (which certifies this device's MLS
//! signature key), refreshing and revoking the sign-in, and scheduling a meeting.
//!
//! Access tokens are short-lived (an hour by default). A client keeps the refresh token next
//! to the access token and, before it connects or calls the server, exchanges it when
//! [`needs_refresh`] says so: [`refresh`] returns a new access token *and* a new refresh
//! token (the old one is spent; using it again ends the session on the server).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::tls::{TlsError, TlsTrust, owned_client_config};
use conclave_protocol::http::{
    ErrorResponse, OrgKeyResponse, RefreshRequest, RefreshResponse, SignInRequest, SignInResponse,
    SignOutRequest,
};
use conclave_protocol::identity::{MemberCertificate, OrgPublicKey};

/// Errors of account calls, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("could not reach the server: {0}")]
    Network(String),
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many attempts; try again in {0} s")]
    Throttled(u64),
    #[error("the server refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// A host-chosen meeting password broke the organization's policy; `rule` names which.
    #[error("{message}")]
    PasswordPolicy { rule: String, message: String },
    /// The sign-in ended (signed out, expired, revoked, or the account was disabled).
    #[error("your sign-in has expired or was revoked; sign in again")]
    SignInAgain,
    #[error("the server's answer could not be understood: {0}")]
    BadResponse(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// What sign-in returns.
pub struct SignIn {
    /// Bearer token for the WebSocket upgrade and HTTPS calls. Keep it in the OS keychain.
    pub token: String,
    /// Unix seconds after which `token` is refused.
    pub expires_at: i64,
    /// Single-use token that buys the next access token ([`refresh`]); `None` from servers
    /// older than refresh tokens. Keep it with the token.
    pub refresh_token: Option<String>,
    pub user_id: String,
    pub display_name: String,
    /// The organization's certificate over this device's MLS signature key.
    pub certificate: MemberCertificate,
    pub org_key: OrgPublicKey,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("user_id", &self.user_id)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

/// Options of a new meeting (the body of `POST /v1/meetings`).
pub use conclave_protocol::http::CreateMeetingRequest as NewMeeting;
/// A created meeting: its number and password (to be sent by another channel).
pub use conclave_protocol::http::CreateMeetingResponse as CreatedMeeting;

pub(super) fn http_client(trust: &TlsTrust) -> Result<reqwest::Client, AccountError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(owned_client_config(trust)?)
        .build()
        .map_err(|e| AccountError::Network(e.to_string()))
}

async fn refusal(response: reqwest::Response) -> AccountError {
    let status = response.status().as_u16();
    if status == 429 {
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        return AccountError::Throttled(wait);
    }
    if status == 401 {
        return AccountError::BadCredentials;
    }
    let text = response.text().await.unwrap_or_default();
    // The server answers `{"error": "...", "rule": "..."}`; show its words, not the JSON.
    let (message, rule) = match serde_json::from_str::<ErrorResponse>(&text) {
        Ok(body) => (body.error, body.rule),
        Err(_) => (text, None),
    };
    let message: String = message.chars().take(300).collect();
    match rule {
        Some(rule) => AccountError::PasswordPolicy { rule, message },
        None => AccountError::Refused { status, message },
    }
}

/// Sends `request` and reads its JSON answer; a refusal becomes the matching [`AccountError`].
pub(super) async fn send_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, AccountError> {
    let (client, request) = request.build_split();
    let request = request.map_err(|e| AccountError::Network(e.to_string()))?;
    // A bearer token the server refuses means "sign in again", not a wrong password.
    let with_token = request
        .headers()
        .contains_key(reqwest::header::AUTHORIZATION);
    let response = client
        .execute(request)
        .await
        .map_err(|e| AccountError::Network(e.to_string()))?;
    if !response.status().is_success() {
        if with_token && response.status().as_u16() == 401 {
            return Err(AccountError::SignInAgain);
        }
        return Err(refusal(response).await);
    }
    response
        .json()
        .await
        .map_err(|e| AccountError::BadResponse(e.to_string()))
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, AccountError> {
    STANDARD
        .decode(text)
        .map_err(|_| AccountError::BadResponse(format!("{field} is not base64")))
}

/// Signs in and has the organization certify `device_signature_key`.
pub async fn sign_in(
    server: &str,
    trust: &TlsTrust,
    username: &str,
    password: &str,
    device_signature_key: &[u8],
) -> Result<SignIn, AccountError> {
    let request = http_client(trust)?
        .post(format!("https://{server}/v1/signin"))
        .json(&SignInRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            device_signature_key: STANDARD.encode(device_signature_key),
        });
    let body: SignInResponse = send_json(request).await?;
    let certificate = MemberCertificate::from_bytes(&decode("certificate", &body.certificate)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))?;
    let org_key = OrgPublicKey::from_bytes(&decode("org_key", &body.org_key)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))?;
    Ok(SignIn {
        token: body.token,
        expires_at: body.expires_at,
        refresh_token: body.refresh_token,
        user_id: body.user_id,
        display_name: body.display_name,
        certificate,
        org_key,
    })
}

/// Creates a meeting hosted by the signed-in user.
pub async fn create_meeting(
    server: &str,
    trust: &TlsTrust,
    token: &str,
    options: &NewMeeting,
) -> Result<CreatedMeeting, AccountError> {
    let request = http_client(trust)?
        .post(format!("https://{server}/v1/meetings"))
        .bearer_auth(token)
        .json(options);
    send_json(request).await
}

/// Fetches the organization key a server certifies its users with, so a guest can tell
/// verified members from impostors. Trust in it is trust in the TLS connection (pinned
/// certificate or public roots); an organization that needs more pins the key by policy.
pub async fn fetch_org_key(server: &str, trust: &TlsTrust) -> Result<OrgPublicKey, AccountError> {
    let request = http_client(trust)?.get(format!("https://{server}/v1/org-key"));
    let body: OrgKeyResponse = send_json(request).await?;
    OrgPublicKey::from_bytes(&decode("org_key", &body.org_key)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))
}

/// Seconds before its expiry at which an access token is refreshed, so that it does not run
/// out between the check and its use.
pub const REFRESH_MARGIN_SECS: i64 = 120;

/// Whether an access token that expires at `expires_at` should be refreshed at `now` (both
/// Unix seconds): it has expired or will within [`REFRESH_MARGIN_SECS`]. An unknown expiry
/// (0, from older servers and stored sign-ins) is left to the server.
pub fn needs_refresh(expires_at: i64, now: i64) -> bool {
    expires_at > 0 && now.saturating_add(REFRESH_MARGIN_SECS) >= expires_at
}

/// Unix time now, in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What a refresh returns: replace the stored access token, refresh token and certificate.
pub struct Refreshed {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The next refresh token; the one sent is spent and must not be used again.
    pub refresh_token: String,
    /// A fresh organization certificate for the same device key.
    pub certificate: MemberCertificate,
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshed")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Exchanges the refresh token for a new access token and a new refresh token. A refused
/// refresh token (expired, revoked, already used, disabled account) is
/// [`AccountError::SignInAgain`].
pub async fn refresh(
    server: &str,
    trust: &TlsTrust,
    refresh_token: &str,
) -> Result<Refreshed, AccountError> {
    let request = http_client(trust)?
        .post(format!("https://{server}/v1/token/refresh"))
        .json(&RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        });
    let body: RefreshResponse = match send_json(request).await {
        Err(AccountError::BadCredentials) => return Err(AccountError::SignInAgain),
        other => other?,
    };
    let certificate = MemberCertificate::from_bytes(&decode("certificate", &body.certificate)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))?;
    Ok(Refreshed {
        token: body.token,
        expires_at: body.expires_at,
        refresh_token: body.refresh_token,
        certificate,
    })
}

/// Signs out on the server: the session of `token` (and of `refresh_token`, if given) is
/// revoked and its live connections closed. A token the server no longer knows counts as
/// signed out. The caller forgets its stored tokens whatever this returns.
pub async fn sign_out(
    server: &str,
    trust: &TlsTrust,
    token: &str,
    refresh_token: Option<&str>,
) -> Result<(), AccountError> {
    let response = http_client(trust)?
        .post(format!("https://{server}/v1/sign-out"))
        .bearer_auth(token)
        .json(&SignOutRequest {
            refresh_token: refresh_token.map(str::to_owned),
        })
        .send()
        .await
        .map_err(|e| AccountError::Network(e.to_string()))?;
    match response.status().as_u16() {
        200..=299 | 401 => Ok(()),
        _ => Err(refusal(response).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_shortly_before_they_expire() {
        let now = 1_000_000;
        assert!(!needs_refresh(now + 3600, now));
        assert!(needs_refresh(now + REFRESH_MARGIN_SECS, now));
        assert!(needs_refresh(now - 1, now));
        // Unknown expiry: left to the server.
        assert!(!needs_refresh(0, now));
    }
}
