//! The HTTPS API's request and response bodies (`/v1/signin`, `/v1/token/refresh`,
//! `/v1/sign-out`, `/v1/meetings`, `/v1/org-key`, `/v1/server-info`), defined once for the server that answers
//! them and the clients that call them. Keys and certificates travel as standard base64.
//!
//! Requests refuse unknown fields (a typo is an error, not a silent default). Answers accept
//! what older servers leave out where the client can do without it. Every body that holds a
//! password or token redacts it in `Debug`, so logging one cannot leak it.

use serde::{Deserialize, Serialize};

use crate::schedule::MeetingOptions;

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
/// generates one by the organisation's policy; an option left out (`None`) takes the
/// organisation's default (`[meeting_defaults]`, announced by `GET /v1/server-info`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMeetingRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_sign_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_lock_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_before_host: Option<bool>,
}

impl CreateMeetingRequest {
    /// The meeting's options: what the request says, the organisation's defaults for the rest.
    pub fn options(&self, defaults: &MeetingDefaults) -> MeetingOptions {
        MeetingOptions {
            require_sign_in: self.require_sign_in.unwrap_or(defaults.require_sign_in),
            lobby: self.lobby.unwrap_or(defaults.lobby),
            auto_lock_minutes: self.auto_lock_minutes.or(defaults.auto_lock_minutes),
            join_before_host: self.join_before_host.unwrap_or(defaults.join_before_host),
            ..MeetingOptions::default()
        }
    }
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

/// The organisation's starting values for a new meeting's options (`[meeting_defaults]` in
/// `conclaved.toml`): the server applies them to every option a request leaves out, and
/// clients show them as the starting values of their forms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingDefaults {
    pub lobby: bool,
    pub require_sign_in: bool,
    /// Minutes after the start at which the meeting locks itself; `None`: never.
    pub auto_lock_minutes: Option<u32>,
    pub join_before_host: bool,
}

impl MeetingDefaults {
    /// The options of a meeting whose request said nothing.
    pub fn options(&self) -> MeetingOptions {
        CreateMeetingRequest::default().options(self)
    }

    /// Adds the defaults to a JSON `options` object for every key it leaves out, so a scheduling
    /// request that names only some options gets the organisation's values for the others.
    pub fn fill_options_json(&self, options: &mut serde_json::Map<String, serde_json::Value>) {
        let values = [
            ("lobby", serde_json::Value::from(self.lobby)),
            ("require_sign_in", self.require_sign_in.into()),
            ("join_before_host", self.join_before_host.into()),
            (
                "auto_lock_minutes",
                self.auto_lock_minutes
                    .map_or(serde_json::Value::Null, Into::into),
            ),
        ];
        for (key, value) in values {
            options.entry(key).or_insert(value);
        }
    }
}

/// The client versions a server asks for (`[client_versions]` in `conclaved.toml`). Versions
/// are semver (`1.4.0`); a client older than `minimum` must update before it joins, one older
/// than `latest` is told that an update exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientVersions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// An `https://` page where the organisation's users get the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// Why a [`ClientVersions`] is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientVersionsError {
    #[error("{field} is not a semver version (like 1.4.0): {value:?}")]
    NotSemver { field: &'static str, value: String },
    #[error("minimum {minimum} is newer than latest {latest}")]
    MinimumAboveLatest { minimum: String, latest: String },
    #[error("download_url must be an https:// address without spaces or quotes")]
    DownloadUrl,
}

/// Longest accepted `download_url`.
pub const MAX_DOWNLOAD_URL_BYTES: usize = 2048;

impl ClientVersions {
    /// Checks the versions are semver, the minimum is not above the latest and the download
    /// address is a plain `https://` URL.
    pub fn validate(&self) -> Result<(), ClientVersionsError> {
        let parse = |field: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    semver::Version::parse(v).map_err(|_| ClientVersionsError::NotSemver {
                        field,
                        value: v.to_owned(),
                    })
                })
                .transpose()
        };
        let minimum = parse("minimum", &self.minimum)?;
        let latest = parse("latest", &self.latest)?;
        if let (Some(minimum), Some(latest)) = (minimum, latest)
            && minimum > latest
        {
            return Err(ClientVersionsError::MinimumAboveLatest {
                minimum: minimum.to_string(),
                latest: latest.to_string(),
            });
        }
        if let Some(url) = &self.download_url {
            let plain = url.len() <= MAX_DOWNLOAD_URL_BYTES
                && url.len() > "https://".len()
                && url.starts_with("https://")
                && !url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c));
            if !plain {
                return Err(ClientVersionsError::DownloadUrl);
            }
        }
        Ok(())
    }
}

/// Answer to `GET /v1/server-info` (public, no sign-in): what a client checks before it joins
/// and what it shows as starting values. Fields are added over time; clients ignore those they
/// do not know, and older servers answer 404 (a client then proceeds as before).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// e.g. `conclaved 0.1.0`.
    pub server_version: String,
    #[serde(default)]
    pub client_versions: ClientVersions,
    #[serde(default)]
    pub meeting_defaults: MeetingDefaults,
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

    #[test]
    fn what_a_meeting_request_leaves_out_takes_the_organisation_default() {
        let defaults = MeetingDefaults {
            lobby: true,
            require_sign_in: true,
            auto_lock_minutes: Some(10),
            join_before_host: false,
        };
        let silent: CreateMeetingRequest = serde_json::from_str("{}").expect("parses");
        assert_eq!(silent.options(&defaults), defaults.options());
        assert!(defaults.options().lobby && defaults.options().require_sign_in);
        let explicit: CreateMeetingRequest =
            serde_json::from_str(r#"{"lobby":false,"join_before_host":true}"#).expect("parses");
        let options = explicit.options(&defaults);
        assert!(!options.lobby && options.join_before_host && options.require_sign_in);
        assert_eq!(options.auto_lock_minutes, Some(10));
        // Rust clients leave unset options out of the JSON, so the server's defaults apply.
        let sent = serde_json::to_string(&CreateMeetingRequest::default()).expect("serialises");
        assert_eq!(sent, r#"{"title":null,"password":null}"#);

        let mut scheduled = serde_json::json!({"lobby": false});
        let map = scheduled.as_object_mut().expect("an object");
        defaults.fill_options_json(map);
        let options: MeetingOptions = serde_json::from_value(scheduled).expect("options");
        assert!(!options.lobby && options.require_sign_in);
        assert_eq!(options.auto_lock_minutes, Some(10));
    }

    #[test]
    fn client_versions_must_be_semver_in_order_with_an_https_download_address() {
        let good = ClientVersions {
            minimum: Some("1.2.0".into()),
            latest: Some("1.4.1".into()),
            download_url: Some("https://intranet.example/conclave".into()),
        };
        assert_eq!(good.validate(), Ok(()));
        assert_eq!(ClientVersions::default().validate(), Ok(()));
        let bad = [
            ClientVersions {
                minimum: Some("1.2".into()),
                ..ClientVersions::default()
            },
            ClientVersions {
                minimum: Some("2.0.0".into()),
                latest: Some("1.9.9".into()),
                ..ClientVersions::default()
            },
            ClientVersions {
                download_url: Some("http://example.org/app".into()),
                ..ClientVersions::default()
            },
            ClientVersions {
                download_url: Some("https://example.org/\"><script>".into()),
                ..ClientVersions::default()
            },
        ];
        for versions in bad {
            assert!(versions.validate().is_err(), "{versions:?}");
        }
    }

    #[test]
    fn server_info_from_a_newer_server_with_more_fields_still_parses() {
        let newer = r#"{"server_version":"conclaved 9.0.0","client_versions":{"minimum":"1.0.0",
            "channel":"beta"},"meeting_defaults":{"lobby":true,"watermark":true},"motd":"hi"}"#;
        let info: ServerInfo = serde_json::from_str(newer).expect("parses");
        assert_eq!(info.client_versions.minimum.as_deref(), Some("1.0.0"));
        assert!(info.meeting_defaults.lobby);
    }
}
