//! HTTPS calls to the server outside a meeting: sign-in (which certifies this device's MLS
//! signature key) and scheduling a meeting.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::tls::{TlsError, TlsTrust, owned_client_config};
use crate::identity::{MemberCertificate, OrgPublicKey};

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
    #[error("the server's answer could not be understood: {0}")]
    BadResponse(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// What sign-in returns.
pub struct SignIn {
    /// Bearer token for the WebSocket upgrade and HTTPS calls. Keep it in the OS keychain.
    pub token: String,
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
            .field("user_id", &self.user_id)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct SignInRequest<'a> {
    username: &'a str,
    password: &'a str,
    device_signature_key: String,
}

#[derive(Deserialize)]
struct SignInResponse {
    token: String,
    user_id: String,
    display_name: String,
    certificate: String,
    org_key: String,
}

/// Options of a new meeting.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewMeeting {
    pub title: Option<String>,
    pub password: Option<String>,
    pub require_sign_in: bool,
    pub lobby: bool,
    pub auto_lock_minutes: Option<u32>,
    pub join_before_host: bool,
}

/// A created meeting: its number and password (to be sent by another channel).
#[derive(Deserialize)]
pub struct CreatedMeeting {
    pub number: String,
    pub password: String,
}

impl std::fmt::Debug for CreatedMeeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedMeeting")
            .field("number", &self.number)
            .field("password", &"<redacted>")
            .finish()
    }
}

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
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
        #[serde(default)]
        rule: Option<String>,
    }
    let (message, rule) = match serde_json::from_str::<ErrorBody>(&text) {
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
    let response = request
        .send()
        .await
        .map_err(|e| AccountError::Network(e.to_string()))?;
    if !response.status().is_success() {
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
            username,
            password,
            device_signature_key: STANDARD.encode(device_signature_key),
        });
    let body: SignInResponse = send_json(request).await?;
    let certificate = MemberCertificate::from_bytes(&decode("certificate", &body.certificate)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))?;
    let org_key = OrgPublicKey::from_bytes(&decode("org_key", &body.org_key)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))?;
    Ok(SignIn {
        token: body.token,
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
    #[derive(Deserialize)]
    struct Body {
        org_key: String,
    }
    let request = http_client(trust)?.get(format!("https://{server}/v1/org-key"));
    let body: Body = send_json(request).await?;
    OrgPublicKey::from_bytes(&decode("org_key", &body.org_key)?)
        .map_err(|e| AccountError::BadResponse(e.to_string()))
}
