//! What a server announces to everyone before sign-in (`GET /v1/server-info`): its version,
//! the client versions it asks for, where to get the app and the organisation's meeting
//! defaults; and whether this client is recent enough for it ([`check_version`]).
//!
//! [`super::MeetingClient::connect`] refuses to join when the server requires a newer client
//! ([`super::ConnectError::UpdateRequired`]); an app calls [`fetch_server_info`] and
//! [`check_version`] itself to say that an update exists, or to start its forms from the
//! organisation's defaults.

pub use conclave_protocol::http::{ClientVersions, MeetingDefaults, ServerInfo};

use super::account::{AccountError, http_client, send_json};
use super::tls::TlsTrust;

/// This client's version: the workspace version every Conclave client is built with.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How this client's version compares with what the server asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    /// At least the latest version, or the server names none.
    UpToDate,
    /// Allowed to join, but `latest` exists; `url` is where to get it, when the server says.
    UpdateAvailable { latest: String, url: Option<String> },
    /// Older than the server's `minimum`: update before joining.
    UpdateRequired {
        minimum: String,
        url: Option<String>,
    },
}

fn parse(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.trim()).ok()
}

/// Compares `client_version` (normally [`CLIENT_VERSION`]) with the server's announcement.
/// A version that is not semver on either side counts as no requirement: the server checks
/// its configuration, so that only happens with a broken peer, and refusing to join over it
/// would lock people out for nothing.
pub fn check_version(client_version: &str, info: &ServerInfo) -> VersionCheck {
    let Some(current) = parse(client_version) else {
        tracing::warn!(client_version, "this client's version is not semver");
        return VersionCheck::UpToDate;
    };
    let versions = &info.client_versions;
    let url = versions.download_url.clone();
    if let Some(minimum) = versions.minimum.as_deref().and_then(parse)
        && current < minimum
    {
        return VersionCheck::UpdateRequired {
            minimum: minimum.to_string(),
            url,
        };
    }
    match versions.latest.as_deref().and_then(parse) {
        Some(latest) if current < latest => VersionCheck::UpdateAvailable {
            latest: latest.to_string(),
            url,
        },
        _ => VersionCheck::UpToDate,
    }
}

/// Fetches `GET https://<server>/v1/server-info`; `None` from servers older than it (404).
pub async fn fetch_server_info(
    server: &str,
    trust: &TlsTrust,
) -> Result<Option<ServerInfo>, AccountError> {
    let request = http_client(trust)?.get(format!("https://{server}/v1/server-info"));
    match send_json(request).await {
        Ok(info) => Ok(Some(info)),
        Err(AccountError::Refused { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fetches the client versions an organisation publishes at an address of its own (the app's
/// `UpdateCheckUrl` policy): the JSON of `client_versions` in `/v1/server-info`, checked
/// against the system's trusted authorities.
pub async fn fetch_client_versions(url: &str) -> Result<ClientVersions, AccountError> {
    let request = http_client(&TlsTrust::PublicRoots)?.get(url);
    send_json(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(minimum: Option<&str>, latest: Option<&str>) -> ServerInfo {
        ServerInfo {
            server_version: "conclaved 1.0.0".into(),
            client_versions: ClientVersions {
                minimum: minimum.map(str::to_owned),
                latest: latest.map(str::to_owned),
                download_url: Some("https://intranet.example/conclave".into()),
            },
            meeting_defaults: MeetingDefaults::default(),
        }
    }

    #[test]
    fn versions_compare_by_semver_not_by_text() {
        let url = Some("https://intranet.example/conclave".to_owned());
        assert_eq!(
            check_version("1.9.0", &info(Some("1.10.0"), None)),
            VersionCheck::UpdateRequired {
                minimum: "1.10.0".into(),
                url: url.clone()
            }
        );
        assert_eq!(
            check_version("1.10.0", &info(Some("1.10.0"), Some("1.10.2"))),
            VersionCheck::UpdateAvailable {
                latest: "1.10.2".into(),
                url
            }
        );
        assert_eq!(
            check_version("1.10.2", &info(Some("1.2.0"), Some("1.10.2"))),
            VersionCheck::UpToDate
        );
        // A pre-release comes before its release.
        assert!(matches!(
            check_version("2.0.0-rc.1", &info(Some("2.0.0"), None)),
            VersionCheck::UpdateRequired { .. }
        ));
        assert_eq!(
            check_version("1.0.0", &info(None, None)),
            VersionCheck::UpToDate
        );
    }

    #[test]
    fn unreadable_versions_require_nothing() {
        assert_eq!(
            check_version("1.0.0", &info(Some("soon"), Some("later"))),
            VersionCheck::UpToDate
        );
        assert_eq!(
            check_version("dev", &info(Some("9.0.0"), None)),
            VersionCheck::UpToDate
        );
        assert!(matches!(
            check_version(CLIENT_VERSION, &info(Some("999.0.0"), None)),
            VersionCheck::UpdateRequired { .. }
        ));
    }
}
