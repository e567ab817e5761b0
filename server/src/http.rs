//! The HTTPS JSON endpoints next to the WebSocket: sign-in, meeting creation and health.
//!
//! - `POST /v1/signin` `{username, password, device_signature_key}` → a short-lived bearer
//!   (access) token, a refresh token and a member certificate binding the device's MLS
//!   signature key to the account;
//! - `POST /v1/token/refresh` `{refresh_token}` → a new access token, a new refresh token (the
//!   old one is spent; presenting it again revokes the session) and a fresh certificate;
//! - `POST /v1/sign-out` (bearer token, optional `{refresh_token}`) → 204; the session is
//!   revoked and its live connections closed;
//! - `POST /v1/meetings` (bearer token) → a new meeting's number and password;
//! - `GET /v1/org-key` → the organization's public key (for guests to verify members);
//! - `GET /v1/server-info` → the server's version, the client versions it asks for (minimum,
//!   latest, download address) and the organisation's meeting defaults; public, like the
//!   org key, since clients check it before anyone signs in;
//! - `GET /v1/health` → `ok`.
//!
//! Errors are JSON `{"error": "..."}`. Passwords and tokens are never logged.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use conclave_protocol::http::{
    CreateMeetingRequest, CreateMeetingResponse, ErrorResponse, OrgKeyResponse, RefreshRequest,
    RefreshResponse, ServerInfo, SignInRequest, SignInResponse, SignOutRequest,
};
use conclave_protocol::password_policy::PolicyViolation;
use conclave_protocol::schedule::PasswordPolicy;
use conclave_protocol::{MAX_AUTO_LOCK_MINUTES, MeetingPassword};

use crate::audit::device_fingerprint;
use crate::auth::authenticate;
use crate::hub::{Hub, MeetingOptions, SERVER_VERSION, StoredOptions as _, unix_now};
use crate::org_key::issue_member_certificate;
use crate::store::{
    AuditEvent, MAX_TITLE_CHARS, RefreshOutcome, StoreError, unix_now as store_now,
};
use crate::throttle::{Guess, ThrottleError};

/// Ed25519 public key length: the only MLS signature scheme of the ciphersuite.
const SIGNATURE_KEY_BYTES: usize = 32;

/// A JSON error response.
fn error(status: StatusCode, message: &str) -> Response {
    let body = ErrorResponse {
        error: message.to_owned(),
        rule: None,
    };
    (status, Json(body)).into_response()
}

fn bad_json(rejection: &JsonRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("invalid request body: {}", rejection.body_text()),
    )
}

fn internal(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what} failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn throttled(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().saturating_add(1);
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too many attempts; try again later",
    );
    if let Ok(value) = secs.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Seconds a client is told to wait when every password-hashing slot is busy.
pub const BUSY_RETRY_SECS: u64 = 2;

/// 503 with `Retry-After`: every password-hashing slot stayed taken.
fn busy() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is busy; try again shortly",
    );
    if let Ok(value) = BUSY_RETRY_SECS.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `GET /v1/health`.
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /v1/org-key`: lets guests check signed-in members' certified credentials. It is only
/// as trustworthy as the TLS connection it came over; an organization pins it by policy.
pub async fn org_key(State(hub): State<Arc<Hub>>) -> Json<OrgKeyResponse> {
    let key = hub.org_public_key();
    Json(OrgKeyResponse {
        org_key: BASE64.encode(key.0),
        fingerprint: key.fingerprint(),
    })
}

/// `GET /v1/server-info`: nothing secret (no meeting, no account), so no sign-in.
pub async fn server_info(State(hub): State<Arc<Hub>>) -> Json<ServerInfo> {
    let settings = hub.settings();
    Json(ServerInfo {
        server_version: SERVER_VERSION.to_owned(),
        client_versions: settings.client_versions.clone(),
        meeting_defaults: settings.meeting_defaults.clone(),
    })
}

/// Longest username kept in an audit entry of a failed sign-in (whatever was typed).
const MAX_AUDITED_USERNAME_CHARS: usize = 64;

/// Queues a sign-in audit entry: the name tried, the address and, once known, the account and
/// device. Never the password.
fn audit_sign_in(
    hub: &Hub,
    action: &str,
    username: &str,
    address: std::net::IpAddr,
    signed_in: Option<(&crate::store::UserRecord, &[u8])>,
) {
    hub.audit_trail().record(AuditEvent {
        actor: username.chars().take(MAX_AUDITED_USERNAME_CHARS).collect(),
        action: action.to_owned(),
        user_id: signed_in.map(|(user, _)| user.id.clone()),
        display_name: signed_in.map(|(user, _)| user.display_name.clone()),
        device: signed_in.map(|(_, key)| device_fingerprint(key)),
        address: Some(address.to_string()),
        ..AuditEvent::default()
    });
}

/// `POST /v1/signin`.
pub async fn signin(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return bad_json(&rejection),
    };
    let device_key = match BASE64.decode(request.device_signature_key.as_bytes()) {
        Ok(key) if key.len() == SIGNATURE_KEY_BYTES => key,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "device_signature_key must be a base64 Ed25519 public key",
            );
        }
    };
    // Counted before the password is checked, so parallel guesses cannot all slip through.
    let address = peer.ip();
    let guess = Guess::sign_in(address, &request.username);
    match hub.throttle().reserve(&guess, store_now()).await {
        Ok(()) => {}
        Err(ThrottleError::Wait(wait)) => {
            tracing::info!(%address, "sign-in throttled");
            audit_sign_in(&hub, "sign_in.throttled", &request.username, address, None);
            return throttled(wait);
        }
        Err(ThrottleError::Store(e)) => return internal("guess throttle", &e),
    }

    let user = match hub
        .store()
        .verify_password(&request.username, &request.password)
        .await
    {
        Ok(user) => user,
        Err(StoreError::BadCredentials | StoreError::Disabled) => {
            tracing::info!(%address, "sign-in refused");
            audit_sign_in(&hub, "sign_in.failed", &request.username, address, None);
            // Same answer for an unknown user, a wrong password and a disabled account.
            return error(StatusCode::UNAUTHORIZED, "wrong username or password");
        }
        Err(StoreError::Busy) => {
            // Not checked, so not counted.
            if let Err(e) = hub.throttle().cancel(&guess).await {
                tracing::warn!(error = %e, "could not cancel the guess record");
            }
            tracing::info!(%address, "sign-in refused: password checks busy");
            return busy();
        }
        Err(e) => return internal("password check", &e),
    };
    if let Err(e) = hub.throttle().succeeded(&guess).await {
        tracing::warn!(error = %e, "could not clear the guess record");
    }

    let settings = hub.settings();
    let issued = match hub
        .store()
        .create_session(
            &user.id,
            &device_key,
            settings.access_token_ttl,
            settings.refresh_token_ttl,
        )
        .await
    {
        Ok(issued) => issued,
        Err(e) => return internal("token creation", &e),
    };
    let certificate = match certify(&hub, &user, &device_key) {
        Ok(certificate) => certificate,
        Err(response) => return *response,
    };
    let org = hub.org_public_key();
    tracing::info!(user = %user.id, "signed in");
    audit_sign_in(
        &hub,
        "sign_in.ok",
        &request.username,
        address,
        Some((&user, &device_key)),
    );
    Json(SignInResponse {
        token: issued.access.token,
        expires_at: issued.access.expires_at,
        refresh_token: Some(issued.refresh_token),
        refresh_expires_at: issued.refresh_expires_at,
        user_id: user.id,
        display_name: user.display_name,
        certificate,
        org_key: BASE64.encode(org.0),
        org_key_fingerprint: org.fingerprint(),
    })
    .into_response()
}

/// A member certificate for `device_key`, standard base64.
fn certify(
    hub: &Hub,
    user: &crate::store::UserRecord,
    device_key: &[u8],
) -> Result<String, Box<Response>> {
    let certificate = issue_member_certificate(
        hub.org_key(),
        user,
        device_key,
        unix_now(),
        hub.settings().certificate_ttl,
    )
    .map_err(|e| Box::new(internal("certification", &e)))?;
    certificate
        .to_bytes()
        .map(|bytes| BASE64.encode(bytes))
        .map_err(|e| Box::new(internal("certificate encoding", &e)))
}

/// The answer to a refresh token that no longer buys anything.
pub const SIGN_IN_AGAIN: &str = "the sign-in has expired or was revoked; sign in again";

/// `POST /v1/token/refresh`: rotates the session's tokens. 401 for an unknown, expired or
/// revoked refresh token or a disabled account; a refresh token presented a second time
/// revokes its session (and closes its live connections).
pub async fn refresh(
    State(hub): State<Arc<Hub>>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return bad_json(&rejection),
    };
    let settings = hub.settings();
    let outcome = hub
        .store()
        .refresh_session(
            &request.refresh_token,
            settings.access_token_ttl,
            settings.refresh_token_ttl,
        )
        .await;
    let issued = match outcome {
        Ok(RefreshOutcome::Rotated(issued)) => issued,
        Ok(RefreshOutcome::Refused) => return error(StatusCode::UNAUTHORIZED, SIGN_IN_AGAIN),
        Ok(RefreshOutcome::Reused { user_id, session }) => {
            hub.audit_trail().record(AuditEvent {
                actor: user_id.clone(),
                action: "sign_in.refresh_token_reused".to_owned(),
                user_id: Some(user_id.clone()),
                ..AuditEvent::default()
            });
            hub.close_signed_in(&user_id, Some(&session), crate::auth::SIGN_IN_REVOKED);
            return error(StatusCode::UNAUTHORIZED, SIGN_IN_AGAIN);
        }
        Err(e) => return internal("token refresh", &e),
    };
    let certificate = match certify(&hub, &issued.user, &issued.device_signature_key) {
        Ok(certificate) => certificate,
        Err(response) => return *response,
    };
    Json(RefreshResponse {
        token: issued.access.token,
        expires_at: issued.access.expires_at,
        refresh_token: issued.refresh_token,
        refresh_expires_at: issued.refresh_expires_at,
        certificate,
    })
    .into_response()
}

/// `POST /v1/sign-out`: revokes the session of the bearer token (expired or not) and of the
/// refresh token in the body, if any, and closes their live connections. 204 when something
/// was signed out, 401 when neither token was known.
pub async fn sign_out(State(hub): State<Arc<Hub>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: SignOutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SignOutRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid request body: {e}"),
                );
            }
        }
    };
    let token = crate::auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let mut signed_out = Vec::new();
    if let Some(token) = &token {
        match hub.store().sign_out_token(token.expose()).await {
            Ok(found) => signed_out.extend(found),
            Err(e) => return internal("sign-out", &e),
        }
    }
    if let Some(refresh_token) = &request.refresh_token {
        match hub.store().sign_out_refresh_token(refresh_token).await {
            Ok(found) => signed_out.extend(found),
            Err(e) => return internal("sign-out", &e),
        }
    }
    if signed_out.is_empty() {
        return error(StatusCode::UNAUTHORIZED, "unknown token");
    }
    for (user_id, session) in &signed_out {
        hub.audit_trail().record(AuditEvent {
            actor: user_id.clone(),
            action: "sign_out".to_owned(),
            user_id: Some(user_id.clone()),
            ..AuditEvent::default()
        });
        hub.close_signed_in(user_id, Some(session), crate::auth::SIGN_IN_REVOKED);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// 400 naming the password-policy rule the chosen password breaks (`rule`, for clients to
/// localise) and what the policy needs, in words.
fn policy_refusal(violation: &PolicyViolation) -> Response {
    let body = ErrorResponse {
        error: MeetingRequestError::Policy(violation.clone()).to_string(),
        rule: Some(violation.code().to_owned()),
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Why a new meeting's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetingRequestError {
    /// The host-chosen password breaks the organisation's password policy.
    #[error("the password does not meet the policy: {0}")]
    Policy(PolicyViolation),
    /// An option or the title is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// Checks a new meeting's request and returns its password: the host's choice if it meets the
/// organisation's `policy`, else a generated one that does.
pub fn prepare_meeting(
    policy: &PasswordPolicy,
    chosen: Option<String>,
    title: Option<&str>,
    options: &MeetingOptions,
) -> Result<String, MeetingRequestError> {
    if let Some(minutes) = options.auto_lock_minutes
        && !(1..=MAX_AUTO_LOCK_MINUTES).contains(&minutes)
    {
        return Err(MeetingRequestError::Invalid(format!(
            "auto_lock_minutes must be 1 to {MAX_AUTO_LOCK_MINUTES}"
        )));
    }
    if title.is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control))
    {
        return Err(MeetingRequestError::Invalid(format!(
            "title must be at most {MAX_TITLE_CHARS} characters without control characters"
        )));
    }
    let password = match chosen {
        Some(chosen) => {
            policy.check(&chosen).map_err(MeetingRequestError::Policy)?;
            chosen
        }
        None => policy.generate(),
    };
    MeetingPassword::new(password.clone())
        .map_err(|e| MeetingRequestError::Invalid(e.to_string()))?;
    Ok(password)
}

/// `POST /v1/meetings`.
pub async fn create_meeting(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    body: Result<Json<CreateMeetingRequest>, JsonRejection>,
) -> Response {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match authenticate(&hub, header).await {
        Ok(user) => user,
        Err(StatusCode::UNAUTHORIZED) => {
            return error(StatusCode::UNAUTHORIZED, "sign in first");
        }
        Err(status) => return error(status, "internal error"),
    };
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return bad_json(&rejection),
    };
    // What the request leaves out takes the organisation's defaults; the password obeys the
    // organisation's policy like a scheduled meeting's.
    let settings = hub.settings();
    let options = request.options(&settings.meeting_defaults);
    let title = request.title.as_deref();
    let password =
        match prepare_meeting(&settings.password_policy, request.password, title, &options) {
            Ok(password) => password,
            Err(MeetingRequestError::Policy(violation)) => return policy_refusal(&violation),
            Err(why) => return error(StatusCode::BAD_REQUEST, &why.to_string()),
        };
    match hub
        .store()
        .create_meeting(
            Some(&user.id),
            &password,
            title.unwrap_or_default(),
            &options.to_json(),
        )
        .await
    {
        Ok(record) => {
            tracing::info!(meeting = %record.number, host = %user.id, "meeting created");
            hub.audit_trail().record(AuditEvent {
                meeting_number: Some(record.number.clone()),
                actor: user.id.clone(),
                action: "meeting.create".to_owned(),
                user_id: Some(user.id.clone()),
                display_name: Some(user.display_name.clone()),
                ..AuditEvent::default()
            });
            Json(CreateMeetingResponse {
                number: record.number,
                password,
            })
            .into_response()
        }
        Err(e @ StoreError::InvalidInput { .. }) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => internal("meeting creation", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length of generated meeting passwords (the default policy's).
    const GENERATED_PASSWORD_CHARS: usize = 12;

    #[test]
    fn generated_passwords_mix_classes_and_avoid_look_alikes() {
        let policy = PasswordPolicy::default();
        let options = MeetingOptions::default();
        for _ in 0..200 {
            let Ok(password) = prepare_meeting(&policy, None, None, &options) else {
                panic!("the default policy generates a password");
            };
            assert_eq!(password.chars().count(), GENERATED_PASSWORD_CHARS);
            assert!(password.chars().any(|c| c.is_ascii_digit()));
            assert!(password.chars().any(|c| c.is_ascii_lowercase()));
            assert!(password.chars().any(|c| c.is_ascii_uppercase()));
            assert!(!password.chars().any(|c| "0O1lI".contains(c)));
        }
    }

    #[test]
    fn meeting_requests_are_checked_against_the_policy() {
        let policy = PasswordPolicy {
            min_length: 16,
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        let options = MeetingOptions {
            auto_lock_minutes: Some(0),
            ..MeetingOptions::default()
        };
        assert!(prepare_meeting(&policy, None, None, &options).is_err());
        let options = MeetingOptions::default();
        assert!(matches!(
            prepare_meeting(&policy, Some(String::new()), None, &options),
            Err(MeetingRequestError::Policy(PolicyViolation::Empty))
        ));
        assert!(prepare_meeting(&policy, None, Some("a\u{7}"), &options).is_err());
        assert!(matches!(
            prepare_meeting(&policy, Some("given pw".into()), None, &options),
            Err(MeetingRequestError::Policy(PolicyViolation::TooShort {
                min: 16,
                ..
            }))
        ));
        let strong = "Given-password-2026".to_owned();
        assert_eq!(
            prepare_meeting(&policy, Some(strong.clone()), Some("Weekly"), &options),
            Ok(strong)
        );
        let generated = prepare_meeting(&policy, None, None, &options);
        let Ok(generated) = generated else {
            panic!("a generated password: {generated:?}");
        };
        assert_eq!(policy.check(&generated), Ok(()));
        assert!(generated.chars().count() >= 16);
    }
}
