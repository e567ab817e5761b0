//! `conclaved`'s settings: built-in defaults, then a TOML file (`--config`), then command-line
//! flags, each overriding the one before.
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! data_dir = "/var/lib/conclave-server"
//! tls_cert = "/etc/conclave/cert.pem"   # both or neither; without them a dev certificate
//! tls_key = "/etc/conclave/key.pem"     # is created in data_dir
//! hostnames = ["meet.example.org"]
//! idle_timeout_secs = 60
//! send_timeout_secs = 10     # a client that takes longer to accept one message is dropped
//! access_token_ttl_minutes = 60   # bearer tokens; clients refresh them
//! token_ttl_hours = 720            # a sign-in session: its refresh token, rotated at each use
//! session_check_secs = 30          # live connections re-check their sign-in this often
//! certificate_ttl_hours = 24
//! public_address = "meet.example.org:8443"  # what invitations and join links show
//! media_bind = "0.0.0.0:0"                   # UDP address of the SFU's WebRTC connections
//! media_tcp_bind = "0.0.0.0:0"               # ICE-TCP fallback when UDP is blocked ("" = off)
//! audit_retention_days = 90   # audit trail entries older than this are purged (daily)
//!
//! [password_policy]        # rules for meeting passwords (generated and host-chosen)
//! min_length = 12
//! require_lowercase = true
//! require_uppercase = true
//! require_digit = true
//! require_symbol = false
//! forbidden_words = ["example", "conclave"]
//!
//! [meeting_defaults]       # every new meeting's options where its request does not say
//! lobby = true             # (instant, scheduled, `conclaved meeting create`); announced by
//! require_sign_in = false  # GET /v1/server-info so clients start their forms from them
//! auto_lock_minutes = 15   # optional: 1 to 1440
//! join_before_host = false
//!
//! [client_versions]        # announced by GET /v1/server-info; all optional
//! minimum = "0.1.0"        # older clients refuse to join and ask for an update
//! latest = "0.2.0"         # older clients say an update exists
//! download_url = "https://intranet.example.org/conclave"   # also on the join page
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use conclave_protocol::MAX_AUTO_LOCK_MINUTES;
use conclave_protocol::http::{ClientVersions, MeetingDefaults};
use conclave_protocol::schedule::PasswordPolicy;
use serde::Deserialize;

/// Default listen address: loopback only, so nothing is exposed until an admin says so.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8443);

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the database, the organization key and the dev certificate live.
    pub data_dir: PathBuf,
    /// PEM certificate chain; with `tls_key`, replaces the generated dev certificate.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Names the dev certificate is issued for (besides `localhost` and loopback addresses).
    pub hostnames: Vec<String>,
    /// A connection that sends nothing (not even `ping`) for this long is dropped.
    pub idle_timeout_secs: u64,
    /// A write to a client's socket that takes longer than this drops the connection (the
    /// client cannot keep up, or stopped reading).
    pub send_timeout_secs: u64,
    /// Lifetime of an access (bearer) token; clients get the next one with their refresh
    /// token.
    pub access_token_ttl_minutes: u64,
    /// Lifetime of a sign-in session without use: each refresh token lives this long, and
    /// every refresh hands out a new one.
    pub token_ttl_hours: u64,
    /// How often a live signed-in connection re-checks that its session was not revoked
    /// (sign-out, disabled account, password reset), closing when it was.
    pub session_check_secs: u64,
    /// Lifetime of a member certificate issued at sign-in.
    pub certificate_ttl_hours: u64,
    /// `host:port` that clients reach this server at, shown in invitations and join links;
    /// default: the first `hostnames` entry (or the listen address) with the listen port.
    pub public_address: Option<String>,
    /// The organization's rules for meeting passwords.
    pub password_policy: PasswordPolicy,
    /// Where the SFU's WebRTC connections bind UDP (`0.0.0.0:0`: every interface, any port).
    pub media_bind: String,
    /// Where each SFU connection listens for ICE-TCP (RFC 6544 passive candidates), for
    /// clients whose UDP is blocked; empty turns ICE-TCP off. webrtc-rs 0.21 opens one
    /// listener per connection, so keep the port `0` (one ephemeral port each).
    pub media_tcp_bind: String,
    /// The organisation's defaults for new meetings.
    pub meeting_defaults: MeetingDefaultsTable,
    /// The client versions the server asks for, and where to get the app.
    pub client_versions: ClientVersionsTable,
    /// Days the audit trail keeps an entry.
    pub audit_retention_days: u32,
}

/// `[meeting_defaults]`: the file's spelling of [`MeetingDefaults`] (a typo is an error here,
/// while the wire type tolerates fields added by newer servers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeetingDefaultsTable {
    pub lobby: bool,
    pub require_sign_in: bool,
    pub auto_lock_minutes: Option<u32>,
    pub join_before_host: bool,
}

impl From<&MeetingDefaultsTable> for MeetingDefaults {
    fn from(table: &MeetingDefaultsTable) -> Self {
        Self {
            lobby: table.lobby,
            require_sign_in: table.require_sign_in,
            auto_lock_minutes: table.auto_lock_minutes,
            join_before_host: table.join_before_host,
        }
    }
}

/// `[client_versions]`: the file's spelling of [`ClientVersions`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientVersionsTable {
    pub minimum: Option<String>,
    pub latest: Option<String>,
    pub download_url: Option<String>,
}

impl From<&ClientVersionsTable> for ClientVersions {
    fn from(table: &ClientVersionsTable) -> Self {
        Self {
            minimum: table.minimum.clone(),
            latest: table.latest.clone(),
            download_url: table.download_url.clone(),
        }
    }
}

/// Default of `audit_retention_days`.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 90;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            data_dir: default_data_dir(),
            tls_cert: None,
            tls_key: None,
            hostnames: Vec::new(),
            idle_timeout_secs: 60,
            send_timeout_secs: 10,
            access_token_ttl_minutes: 60,
            token_ttl_hours: 720,
            session_check_secs: 30,
            certificate_ttl_hours: 24,
            public_address: None,
            password_policy: PasswordPolicy::default(),
            media_bind: "0.0.0.0:0".to_owned(),
            media_tcp_bind: "0.0.0.0:0".to_owned(),
            meeting_defaults: MeetingDefaultsTable::default(),
            client_versions: ClientVersionsTable::default(),
            audit_retention_days: DEFAULT_AUDIT_RETENTION_DAYS,
        }
    }
}

/// `$XDG_DATA_HOME/conclave-server`, else `./conclave-data`.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("conclave-server"),
        _ => PathBuf::from("./conclave-data"),
    }
}

impl ServerConfig {
    /// Reads a TOML file; keys it does not set keep their defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text (see the module docs for the keys).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    /// Checks the rules a TOML schema cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if self.idle_timeout_secs == 0 || self.send_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "idle_timeout_secs and send_timeout_secs must be at least 1".into(),
            ));
        }
        if self.token_ttl_hours == 0
            || self.certificate_ttl_hours == 0
            || self.access_token_ttl_minutes == 0
            || self.session_check_secs == 0
        {
            return Err(ConfigError::Invalid(
                "access_token_ttl_minutes, token_ttl_hours, certificate_ttl_hours and \
                 session_check_secs must be at least 1"
                    .into(),
            ));
        }
        if self.access_token_ttl_minutes > self.token_ttl_hours.saturating_mul(60) {
            return Err(ConfigError::Invalid(
                "access_token_ttl_minutes must not exceed token_ttl_hours".into(),
            ));
        }
        self.password_policy
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("password_policy: {e}")))?;
        if let Some(minutes) = self.meeting_defaults.auto_lock_minutes
            && !(1..=MAX_AUTO_LOCK_MINUTES).contains(&minutes)
        {
            return Err(ConfigError::Invalid(format!(
                "meeting_defaults.auto_lock_minutes must be 1 to {MAX_AUTO_LOCK_MINUTES}"
            )));
        }
        self.client_versions()
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("client_versions: {e}")))?;
        if self.audit_retention_days == 0 {
            return Err(ConfigError::Invalid(
                "audit_retention_days must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The organisation's meeting defaults, as clients see them.
    pub fn meeting_defaults(&self) -> MeetingDefaults {
        (&self.meeting_defaults).into()
    }

    /// The client versions, as clients see them.
    pub fn client_versions(&self) -> ClientVersions {
        (&self.client_versions).into()
    }

    /// The `host:port` invitations and join links name.
    pub fn public_address(&self) -> String {
        if let Some(address) = &self.public_address {
            return address.clone();
        }
        match self.hostnames.first() {
            Some(host) => format!("{host}:{}", self.listen.port()),
            None => self.listen.to_string(),
        }
    }
}

/// Command-line flags of `conclaved serve`; each one given overrides the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8443 (default 127.0.0.1:8443).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory (database, organization key, dev certificate).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PEM certificate chain (requires --tls-key); default: a generated dev certificate.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Host name for the dev certificate (repeatable).
    #[arg(long = "hostname", value_name = "NAME")]
    pub hostnames: Vec<String>,
}

impl ServeArgs {
    /// Defaults, then the `--config` file, then the flags.
    pub fn resolve(&self) -> Result<ServerConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => ServerConfig::load(path)?,
            None => ServerConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        if self.tls_cert.is_some() {
            config.tls_cert.clone_from(&self.tls_cert);
            config.tls_key.clone_from(&self.tls_key);
        }
        if !self.hostnames.is_empty() {
            config.hostnames.clone_from(&self.hostnames);
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The `/etc/conclave/conclaved.toml` the .deb installs parses, passes validation and
    /// listens on loopback only, so installing the package exposes nothing.
    #[test]
    fn the_packaged_configuration_is_valid_and_exposes_nothing() {
        let text = include_str!("../../packaging/linux/conclaved.toml");
        let config = ServerConfig::from_toml(text).unwrap();
        config.validate().unwrap();
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/conclaved"));
    }

    #[test]
    fn file_values_override_defaults_and_flags_override_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let path = dir.join("conclaved.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\nhostnames = [\"meet.example.org\"]\nidle_timeout_secs = 30\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            data_dir: Some(dir.clone()),
            ..ServeArgs::default()
        };
        let config = args.resolve().unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(config.hostnames, vec!["meet.example.org".to_string()]);
        assert_eq!(config.idle_timeout_secs, 30);
        assert_eq!(config.token_ttl_hours, 720);
        assert_eq!(config.access_token_ttl_minutes, 60);
        assert_eq!(config.data_dir, dir);

        let args = ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..ServeArgs::default()
        };
        assert_eq!(
            args.resolve().unwrap().listen,
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn unknown_keys_and_half_tls_settings_are_refused() {
        assert!(ServerConfig::from_toml("lisen = \"127.0.0.1:1\"").is_err());
        let config = ServerConfig::from_toml("tls_cert = \"/x.pem\"").unwrap();
        assert!(config.validate().is_err());
        assert_eq!(
            ServerConfig::from_toml("").unwrap(),
            ServerConfig::default()
        );
    }

    #[test]
    fn token_lifetimes_are_checked() {
        let config = ServerConfig::from_toml("access_token_ttl_minutes = 15").unwrap();
        assert!(config.validate().is_ok());
        assert_eq!(config.access_token_ttl_minutes, 15);
        assert_eq!(config.session_check_secs, 30);
        // An access token may not outlive the session that renews it.
        let config =
            ServerConfig::from_toml("access_token_ttl_minutes = 121\ntoken_ttl_hours = 2").unwrap();
        assert!(config.validate().is_err());
        for zero in [
            "access_token_ttl_minutes = 0",
            "token_ttl_hours = 0",
            "session_check_secs = 0",
        ] {
            assert!(
                ServerConfig::from_toml(zero).unwrap().validate().is_err(),
                "{zero}"
            );
        }
    }

    #[test]
    fn organisation_defaults_and_client_versions_are_read_and_checked() {
        let config = ServerConfig::from_toml(
            "audit_retention_days = 30\n[meeting_defaults]\nlobby = true\nauto_lock_minutes = 15\n\
             [client_versions]\nminimum = \"0.1.0\"\nlatest = \"0.3.0\"\n\
             download_url = \"https://intranet.example/app\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        let defaults = config.meeting_defaults();
        assert!(defaults.lobby && !defaults.require_sign_in);
        assert_eq!(defaults.auto_lock_minutes, Some(15));
        assert_eq!(config.client_versions().latest.as_deref(), Some("0.3.0"));
        assert_eq!(config.audit_retention_days, 30);
        assert_eq!(
            ServerConfig::default().audit_retention_days,
            DEFAULT_AUDIT_RETENTION_DAYS
        );
        for bad in [
            "[meeting_defaults]\nlobbby = true",
            "[client_versions]\nnewest = \"1.0.0\"",
        ] {
            assert!(ServerConfig::from_toml(bad).is_err(), "{bad}");
        }
        for invalid in [
            "[meeting_defaults]\nauto_lock_minutes = 0",
            "[client_versions]\nminimum = \"one\"",
            "[client_versions]\ndownload_url = \"http://plain.example\"",
            "audit_retention_days = 0",
        ] {
            let config = ServerConfig::from_toml(invalid).unwrap();
            assert!(config.validate().is_err(), "{invalid}");
        }
    }

    /// The example in this module's documentation is a valid configuration.
    #[test]
    fn the_documented_example_parses_and_validates() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .skip_while(|l| *l != "//! ```toml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let config = ServerConfig::from_toml(&example).unwrap();
        assert_eq!(config.audit_retention_days, 90);
        assert!(config.meeting_defaults.lobby);
        assert_eq!(config.client_versions.latest.as_deref(), Some("0.2.0"));
    }
}
