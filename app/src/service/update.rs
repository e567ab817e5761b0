//! What the app learns from a server before any meeting: whether this Conclave is recent
//! enough for it (an update required or available) and the organisation's meeting defaults.
//! The organisation's policy decides whether to look for updates and where (`UpdateCheck`,
//! `UpdateCheckUrl`); a server's minimum is obeyed either way (joining checks it too).

use conclave_core::client::{
    CLIENT_VERSION, ServerInfo, TlsTrust, VersionCheck, check_version, fetch_client_versions,
    fetch_server_info,
};
use conclave_protocol::http::MeetingDefaults;

use super::policy::AppPolicy;

/// The outcome of asking a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCheck {
    pub version: VersionCheck,
    /// The organisation's defaults for new meetings, when the server announces them.
    pub meeting_defaults: Option<MeetingDefaults>,
}

/// Asks `server` (and the policy's update address, if set). A server that cannot be asked is
/// no reason to stop anyone: the answer is then "up to date, no defaults", and joining still
/// enforces a minimum.
pub async fn check_server(server: String, trust: TlsTrust, policy: AppPolicy) -> ServerCheck {
    let info = match fetch_server_info(&server, &trust).await {
        Ok(info) => info,
        Err(error) => {
            tracing::warn!(%error, "cannot ask the server for its client versions");
            None
        }
    };
    let meeting_defaults = info.as_ref().map(|info| info.meeting_defaults.clone());
    let mut info = info.unwrap_or_else(|| ServerInfo {
        server_version: String::new(),
        client_versions: Default::default(),
        meeting_defaults: MeetingDefaults::default(),
    });
    if let Some(url) = policy.update_check_url() {
        match fetch_client_versions(&url).await {
            // The server's minimum stays: it is what joining enforces.
            Ok(versions) => {
                let announced = &mut info.client_versions;
                announced.latest = versions.latest.or(announced.latest.take());
                announced.download_url = versions.download_url.or(announced.download_url.take());
            }
            Err(error) => tracing::warn!(%error, "cannot reach the update address"),
        }
    }
    ServerCheck {
        version: decide(check_version(CLIENT_VERSION, &info), policy.update_check()),
        meeting_defaults,
    }
}

/// With update checks off, only a required update is shown (the server would refuse the
/// join anyway).
fn decide(version: VersionCheck, update_check: bool) -> VersionCheck {
    match version {
        VersionCheck::UpdateAvailable { .. } if !update_check => VersionCheck::UpToDate,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_update_checks_off_only_a_required_update_is_shown() {
        let available = VersionCheck::UpdateAvailable {
            latest: "9.0.0".into(),
            url: None,
        };
        let required = VersionCheck::UpdateRequired {
            minimum: "9.0.0".into(),
            url: None,
        };
        assert_eq!(decide(available.clone(), true), available);
        assert_eq!(decide(available, false), VersionCheck::UpToDate);
        assert_eq!(decide(required.clone(), false), required);
    }
}
