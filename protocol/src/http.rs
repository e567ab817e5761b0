//! The HTTPS API's request and response bodies (`/v1/signin`, `/v1/token/refresh`,
//! `/v1/sign-out`, `/v1/meetings`, `/v1/org-key`), defined once for the server that answers
//! them and the clients that call them. Keys and certificates travel as standard base64.
//!
//! Requests refuse unknown fields (a typo is an error, not a silent default). Answers accept
//! what older servers leave out where the client can do without it. Every body that holds a
//! password or token redacts it in `Debug`, so logging one cannot leak it.

use serde::{Deserialize, Serialize};

/// Writes `<redacted>` in place of a secret in a `Debug` implementation.
struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Body of `POST /v1/signin`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    /// The device's MLS signature public key, standard base64.
    pub device_signature_key: String,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("username", &self.username)
            .field("password", &Redacted)
            .field("device_signature_key", &self.device_signature_key)
            .finish()
    }
}

/// Answer to `POST /v1/signin`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInResponse {
    /// Bearer (access) token for `Authorization: Bearer …`.
    pub token: String,
    /// Unix seconds; 0 from servers that do not say.
    #[serde(default)]
    pub expires_at: i64,
    /// Single-use token for `POST /v1/token/refresh`; absent from servers older than refresh
    /// tokens.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub refresh_expires_at: i64,
    pub user_id: String,
    pub display_name: String,
    /// `MemberCertificate::to_bytes()`, standard base64.
    pub certificate: String,
    /// The organization's 32-byte public key, standard base64.
    pub org_key: String,
    #[serde(default)]
    pub org_key_fingerprint: String,
}

impl std::fmt::Debug for SignInResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInResponse")
            .field("token", &Redacted)
            .field("expires_at", &self.expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| Redacted),
            )
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("user_id", &self.user_id)
            .field("display_name", &self.display_name)
            .field("org_key_fingerprint", &self.org_key_fingerprint)
            .finish_non_exhaustive()
    }
}

/// Body of `POST /v1/token/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &Redacted)
            .finish()
    }
}

/// Answer to `POST /v1/token/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResponse {
    /// The new bearer (access) token; the session's earlier ones are revoked.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The next refresh token; the one sent is spent.
    pub refresh_token: String,
    /// Unix seconds.
    #[serde(default)]
    pub refresh_expires_at: i64,
    /// A fresh `MemberCertificate::to_bytes()` for the session's device, standard base64.
    pub certificate: String,
}

impl std::fmt::Debug for RefreshResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshResponse")
            .field("token", &Redacted)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &Redacted)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

/// Optional body of `POST /v1/sign-out`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOutRequest {
    /// The session's refresh token: lets a client whose access token is gone end it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for SignOutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOutRequest")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

/// Body of `POST /v1/meetings`: the options of a new meeting. Without a password the server
/// generates one by the organisation's policy.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMeetingRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub require_sign_in: bool,
    #[serde(default)]
    pub lobby: bool,
    #[serde(default)]
    pub auto_lock_minutes: Option<u32>,
    #[serde(default)]
    pub join_before_host: bool,
}

impl std::fmt::Debug for CreateMeetingRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateMeetingRequest")
            .field("title", &self.title)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("require_sign_in", &self.require_sign_in)
            .field("lobby", &self.lobby)
            .field("auto_lock_minutes", &self.auto_lock_minutes)
            .field("join_before_host", &self.join_before_host)
            .finish()
    }
}

/// Answer to `POST /v1/meetings`: the meeting's number and its password, which the host sends
/// by another channel than the invitation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateMeetingResponse {
    pub number: String,
    pub password: String,
}

impl std::fmt::Debug for CreateMeetingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateMeetingResponse")
            .field("number", &self.number)
            .field("password", &Redacted)
            .finish()
    }
}

/// Answer to `GET /v1/org-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgKeyResponse {
    /// The organization's 32-byte public key, standard base64.
    pub org_key: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// The body of every refusal: `{"error": "...", "rule": "..."}`. `error` is in English for
/// logs; `rule` names the password-policy rule a chosen password broke, for clients to
/// translate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let sign_in = SignInRequest {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            device_signature_key: "AAAA".into(),
        };
        let response = SignInResponse {
            token: "token-secret".into(),
            expires_at: 1,
            refresh_token: Some("refresh-secret".into()),
            refresh_expires_at: 2,
            user_id: "u1".into(),
            display_name: "Alice".into(),
            certificate: "cert".into(),
            org_key: "key".into(),
            org_key_fingerprint: "fp".into(),
        };
        let refresh = RefreshResponse {
            token: "token-secret".into(),
            expires_at: 1,
            refresh_token: "refresh-secret".into(),
            refresh_expires_at: 2,
            certificate: "cert".into(),
        };
        let meeting = CreateMeetingRequest {
            password: Some("meeting-secret".into()),
            ..CreateMeetingRequest::default()
        };
        let created = CreateMeetingResponse {
            number: "123".into(),
            password: "meeting-secret".into(),
        };
        let printed = format!(
            "{sign_in:?} {response:?} {refresh:?} {meeting:?} {created:?} {:?} {:?}",
            RefreshRequest {
                refresh_token: "refresh-secret".into()
            },
            SignOutRequest {
                refresh_token: Some("refresh-secret".into())
            }
        );
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("alice") && printed.contains("123"));
    }

    #[test]
    fn requests_refuse_unknown_fields_and_answers_tolerate_older_servers() {
        let typo = r#"{"username":"a","password":"b","device_signature_key":"c","admin":true}"#;
        assert!(serde_json::from_str::<SignInRequest>(typo).is_err());
        assert!(serde_json::from_str::<CreateMeetingRequest>(r#"{"lobbby":true}"#).is_err());
        let empty: CreateMeetingRequest = serde_json::from_str("{}").expect("all fields default");
        assert_eq!(empty, CreateMeetingRequest::default());
        let older =
            r#"{"token":"t","user_id":"u","display_name":"d","certificate":"c","org_key":"k"}"#;
        let parsed: SignInResponse = serde_json::from_str(older).expect("older answer parses");
        assert_eq!((parsed.expires_at, parsed.refresh_token), (0, None));
    }

    #[test]
    fn a_sign_out_without_refresh_token_sends_an_empty_object() {
        let body = serde_json::to_string(&SignOutRequest::default()).expect("serialises");
        assert_eq!(body, "{}");
    }
}
