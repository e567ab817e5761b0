//! The organisation's policy (`conclave-policy`) as the app applies it: which server it may
//! use, whether guests and hosting on this computer are allowed, the trusted organisation key,
//! the language, and the starting options of new meetings.
//!
//! The policy is read once, at start ([`install`]); screens get it from the shell, and the
//! services that run off the UI (sign-in, join) read the installed one with [`current`].

use std::sync::{Arc, OnceLock};

use conclave_policy::{Policy, PolicyIssue, PolicyKey, PolicyValue, Resolved};
use conclave_protocol::identity::{OrgKeyPin, OrgPublicKey};

use crate::config::Settings;
use crate::fl;

/// The policy, cheap to clone into screens.
#[derive(Debug, Clone, Default)]
pub struct AppPolicy(Arc<Policy>);

static INSTALLED: OnceLock<AppPolicy> = OnceLock::new();

/// Makes `policy` the one [`current`] returns (the first call wins: the policy does not change
/// while the app runs).
pub fn install(policy: AppPolicy) -> AppPolicy {
    INSTALLED.get_or_init(|| policy).clone()
}

/// The installed policy; none when nothing was installed (unit tests).
pub fn current() -> AppPolicy {
    INSTALLED.get().cloned().unwrap_or_default()
}

/// The starting options of a meeting scheduled in the app, and whether the organisation
/// enforces each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeetingDefaults {
    pub lobby: bool,
    pub lobby_enforced: bool,
    pub require_sign_in: bool,
    pub require_sign_in_enforced: bool,
    /// 0: no auto-lock.
    pub auto_lock_minutes: u32,
    pub auto_lock_enforced: bool,
}

impl AppPolicy {
    /// Applies the app's own consistency rules on top of the sources' checks.
    pub fn new(mut policy: Policy) -> Self {
        let lock = policy.resolve(PolicyKey::LockServer, None).bool_or(false);
        if lock && !policy.is_enforced(PolicyKey::ServerUrl) {
            policy.report(
                "LockServer",
                "ServerUrl",
                "LockServer is on but no ServerUrl is enforced: there is no server to lock to, \
                 so the lock is not applied"
                    .into(),
            );
        }
        Self(Arc::new(policy))
    }

    pub fn none() -> Self {
        Self::default()
    }

    /// This system's policy (`--policy-dir` replaces the Linux directory in debug builds, for
    /// tests).
    pub fn load(policy_dir: Option<&std::path::Path>) -> Self {
        let policy = match policy_dir {
            Some(dir) => conclave_policy::sources::from_linux_root(dir),
            None => Policy::load_system(),
        };
        Self::new(policy)
    }

    pub fn policy(&self) -> &Policy {
        &self.0
    }

    pub fn issues(&self) -> &[PolicyIssue] {
        self.0.issues()
    }

    /// The only server the app may use, when the organisation locked it.
    pub fn locked_server(&self) -> Option<String> {
        if !self.0.resolve(PolicyKey::LockServer, None).bool_or(false) {
            return None;
        }
        self.0
            .enforced(PolicyKey::ServerUrl)
            .and_then(PolicyValue::as_text)
            .map(str::to_owned)
    }

    /// The server to offer on the sign-in screen: enforced, the user's last one, recommended.
    pub fn server(&self, last: Option<&str>) -> Resolved {
        let user = last.map(|server| PolicyValue::Text(server.to_owned()));
        self.0.resolve(PolicyKey::ServerUrl, user)
    }

    /// The certificate pin the organisation set for its server, if any.
    pub fn server_pin(&self) -> Option<String> {
        self.0
            .enforced(PolicyKey::ServerPin)
            .and_then(PolicyValue::as_text)
            .map(str::to_owned)
    }

    /// Refuses a server other than the locked one, with the message the user sees.
    pub fn check_server(&self, server: &str) -> Result<(), String> {
        match self.locked_server() {
            Some(locked) if !same_server(&locked, server) => Err(fl!(
                "policy-server-refused",
                server = server,
                locked = locked.as_str()
            )),
            _ => Ok(()),
        }
    }

    pub fn allows_guests(&self) -> bool {
        self.0
            .resolve(PolicyKey::AllowGuestJoin, None)
            .bool_or(true)
    }

    pub fn allows_local_hosting(&self) -> bool {
        self.0
            .resolve(PolicyKey::AllowLocalHosting, None)
            .bool_or(true)
    }

    /// Whether hosting may be opened to the local network (enforced only).
    pub fn allows_lan_hosting(&self) -> bool {
        self.0
            .resolve(PolicyKey::AllowLanHosting, None)
            .bool_or(true)
    }

    /// The interface language: enforced, the user's choice, recommended (`None`: the OS's).
    pub fn language(&self, user: Option<&str>) -> Resolved {
        let user = user.map(|tag| PolicyValue::Text(tag.to_owned()));
        self.0.resolve(PolicyKey::DefaultLanguage, user)
    }

    pub fn language_enforced(&self) -> bool {
        self.0.is_enforced(PolicyKey::DefaultLanguage)
    }

    /// The organisation key to trust: the pinned one refuses every other.
    pub fn org_key_pin(&self) -> OrgKeyPin {
        match self
            .0
            .enforced(PolicyKey::OrgKeyFingerprint)
            .and_then(PolicyValue::as_text)
        {
            Some(fingerprint) => OrgKeyPin::pinned(fingerprint),
            None => OrgKeyPin::unpinned(),
        }
    }

    /// Whether the organisation pins the key that certifies accounts.
    pub fn org_key_pinned(&self) -> bool {
        self.0.is_enforced(PolicyKey::OrgKeyFingerprint)
    }

    /// Refuses a server's organisation key that is not the trusted one.
    pub fn check_org_key(&self, offered: &OrgPublicKey) -> Result<(), String> {
        self.org_key_pin().check(offered).map_err(|_| {
            fl!(
                "policy-org-key-refused",
                fingerprint = offered.fingerprint()
            )
        })
    }

    /// Where to ask for the latest version instead of the server, when the policy says.
    pub fn update_check_url(&self) -> Option<String> {
        self.0
            .enforced(PolicyKey::UpdateCheckUrl)
            .and_then(PolicyValue::as_text)
            .map(str::to_owned)
    }

    pub fn update_check(&self) -> bool {
        self.0.resolve(PolicyKey::UpdateCheck, None).bool_or(true)
    }

    pub fn meeting_defaults(&self) -> MeetingDefaults {
        self.meeting_defaults_over(None)
    }

    /// The starting options of a new meeting: the policy's (enforced or recommended), else the
    /// server's organisation defaults, else the app's own.
    pub fn meeting_defaults_over(
        &self,
        server: Option<&conclave_protocol::http::MeetingDefaults>,
    ) -> MeetingDefaults {
        let lobby = self.0.resolve(PolicyKey::DefaultLobby, None);
        let sign_in = self.0.resolve(PolicyKey::DefaultRequireSignIn, None);
        let minutes = self.0.resolve(PolicyKey::DefaultAutoLockMinutes, None);
        let from_server = |resolved: &Resolved| {
            (resolved.source == conclave_policy::Source::Default)
                .then_some(server)
                .flatten()
        };
        MeetingDefaults {
            lobby: from_server(&lobby).map_or(lobby.bool_or(true), |s| s.lobby),
            lobby_enforced: lobby.is_enforced(),
            require_sign_in: from_server(&sign_in)
                .map_or(sign_in.bool_or(false), |s| s.require_sign_in),
            require_sign_in_enforced: sign_in.is_enforced(),
            auto_lock_minutes: from_server(&minutes).map_or(minutes.integer().unwrap_or(0), |s| {
                s.auto_lock_minutes.unwrap_or(0)
            }),
            auto_lock_enforced: minutes.is_enforced(),
        }
    }

    /// What `conclave --print-policy` prints: every key, its effective value and source,
    /// counting the user's own settings where a key has one.
    pub fn describe(&self, settings: &Settings) -> String {
        self.0.describe(|key| match key {
            PolicyKey::ServerUrl => settings.last_server.clone().map(PolicyValue::Text),
            PolicyKey::DefaultLanguage => settings.language.clone().map(PolicyValue::Text),
            _ => None,
        })
    }
}

/// Two server addresses name the same server (case of the host name and an `https://`
/// prefix do not matter).
fn same_server(a: &str, b: &str) -> bool {
    let normal = |s: &str| {
        conclave_policy::value::server_address(s)
            .unwrap_or_else(|| s.trim().to_owned())
            .to_ascii_lowercase()
    };
    normal(a) == normal(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_policy::{Level, RawValue};

    fn policy(values: &[(&str, RawValue)]) -> AppPolicy {
        let mut policy = Policy::none();
        for (name, value) in values {
            policy.add(Level::Enforced, "test", name, value);
        }
        AppPolicy::new(policy)
    }

    #[test]
    fn a_locked_server_refuses_every_other_server() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let locked = policy(&[
            (
                "ServerUrl",
                RawValue::Text("https://Meet.Example.com:8443".into()),
            ),
            ("LockServer", RawValue::Bool(true)),
        ]);
        assert_eq!(
            locked.locked_server().as_deref(),
            Some("Meet.Example.com:8443")
        );
        assert!(locked.check_server("meet.example.com:8443").is_ok());
        assert!(
            locked
                .check_server("https://meet.example.com:8443/")
                .is_ok()
        );
        let refusal = locked
            .check_server("evil.example:443")
            .expect_err("refused");
        assert!(refusal.contains("evil.example:443") && refusal.contains("Meet.Example.com:8443"));
        assert!(AppPolicy::none().check_server("anything:1").is_ok());
    }

    #[test]
    fn a_lock_without_an_enforced_server_is_reported_and_not_applied() {
        let odd = policy(&[("LockServer", RawValue::Bool(true))]);
        assert_eq!(odd.locked_server(), None);
        assert!(
            odd.issues()
                .iter()
                .any(|i| i.problem.contains("no ServerUrl"))
        );
    }

    #[test]
    fn a_pinned_organisation_key_refuses_others() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let trusted = conclave_protocol::identity::OrgSigningKey::generate();
        let other = conclave_protocol::identity::OrgSigningKey::generate();
        let pinned = policy(&[(
            "OrgKeyFingerprint",
            RawValue::Text(trusted.public().fingerprint()),
        )]);
        assert!(pinned.check_org_key(&trusted.public()).is_ok());
        assert!(pinned.check_org_key(&other.public()).is_err());
        assert!(AppPolicy::none().check_org_key(&other.public()).is_ok());
    }

    #[test]
    fn meeting_defaults_follow_the_policy_and_say_what_is_enforced() {
        let defaults = AppPolicy::none().meeting_defaults();
        assert!(defaults.lobby && !defaults.lobby_enforced && !defaults.require_sign_in);
        let managed = policy(&[
            ("DefaultRequireSignIn", RawValue::Bool(true)),
            ("DefaultAutoLockMinutes", RawValue::Integer(15)),
        ]);
        let defaults = managed.meeting_defaults();
        assert!(defaults.require_sign_in && defaults.require_sign_in_enforced);
        assert_eq!(defaults.auto_lock_minutes, 15);
        assert!(defaults.auto_lock_enforced && !defaults.lobby_enforced);
        // The server's organisation defaults fill what the policy leaves unset.
        let server = conclave_protocol::http::MeetingDefaults {
            lobby: false,
            require_sign_in: false,
            auto_lock_minutes: Some(30),
            join_before_host: true,
        };
        let defaults = managed.meeting_defaults_over(Some(&server));
        assert!(!defaults.lobby, "from the server");
        assert!(defaults.require_sign_in, "the policy wins");
        assert_eq!(defaults.auto_lock_minutes, 15, "the policy wins");
    }
}
