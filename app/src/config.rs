//! Command-line flags and the user's settings (language, theme, LAN hosting, last server).
//!
//! Settings hold no secrets (tokens, keys and passwords live in the OS keychain, see
//! [`crate::service::secrets`]); they are a small TOML file in the app's data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::i18n::Language;

/// Flags for automation and scripts.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "conclave",
    version = conclave_build_info::VERSION_LINE,
    about = "Conclave: always end-to-end encrypted meetings"
)]
pub struct Args {
    /// User-interface language (default: the OS locale, then the saved setting).
    #[arg(long, value_parser = ["en", "ja"])]
    pub lang: Option<String>,
    /// Meeting server `host:port` to offer on the sign-in screen.
    #[arg(long)]
    pub server: Option<String>,
    /// SHA-256 fingerprint of the server's self-signed certificate (else public roots).
    #[arg(long)]
    pub pin: Option<String>,
    /// Where settings and the embedded server's database live.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Open the join form for this meeting number after sign-in (as a meeting link would); the
    /// password is typed, never passed on the command line.
    #[arg(long, value_name = "NUMBER")]
    pub join: Option<String>,
    /// Print the organisation's policy as it applies here (each value and where it came
    /// from, then any ignored value), and exit.
    #[arg(long)]
    pub print_policy: bool,
    /// A meeting link, `conclave://join/<server>/<number>`, as the system passes it when one
    /// is opened; a running Conclave takes it instead of a second window opening.
    #[arg(value_name = "LINK")]
    pub link: Option<String>,
    /// Reads the Linux policy files from this directory instead of /etc/conclave/policies
    /// (debug builds only: tests use it; a release build always reads the system's policy).
    #[cfg(debug_assertions)]
    #[arg(long, hide = true)]
    pub policy_dir: Option<PathBuf>,
}

impl Args {
    /// The policy directory a test asked for (always `None` in a release build).
    pub fn policy_dir(&self) -> Option<&Path> {
        #[cfg(debug_assertions)]
        {
            self.policy_dir.as_deref()
        }
        #[cfg(not(debug_assertions))]
        {
            None
        }
    }
}

/// Light, dark or whatever the OS uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeChoice {
    Light,
    Dark,
    #[default]
    System,
}

impl ThemeChoice {
    pub const ALL: [ThemeChoice; 3] = [ThemeChoice::Light, ThemeChoice::Dark, ThemeChoice::System];

    /// `None` lets iced follow the OS colour scheme.
    pub fn theme(self) -> Option<iced::Theme> {
        match self {
            ThemeChoice::Light => Some(iced::Theme::Light),
            ThemeChoice::Dark => Some(iced::Theme::Dark),
            ThemeChoice::System => None,
        }
    }
}

/// What the app remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `en` or `ja`; `None` follows the OS locale.
    pub language: Option<String>,
    pub theme: ThemeChoice,
    /// Let other computers on the network reach the meeting server hosted on this computer.
    pub host_on_lan: bool,
    /// The last server signed in to (`host:port`) and its certificate pin, if any.
    pub last_server: Option<String>,
    pub last_pin: Option<String>,
    /// The display name used last time as a guest.
    pub display_name: Option<String>,
    /// The account the embedded server created for this computer's host.
    pub local_host_username: Option<String>,
    /// Preferred devices, by the name the OS gives them (`None`: the first one found). Set
    /// in settings, and by the devices last joined with.
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub camera: Option<String>,
}

/// Errors reading or writing settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the settings file {path} is damaged: {message}")]
    Parse { path: PathBuf, message: String },
}

const SETTINGS_FILE: &str = "settings.toml";

/// `$XDG_DATA_HOME/conclave` (or the platform's equivalent), else `./conclave-data`.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .map(|dir| dir.join("conclave"))
        .unwrap_or_else(|| PathBuf::from("./conclave-data"))
}

impl Settings {
    pub fn devices(&self) -> crate::devices::DevicePreference {
        crate::devices::DevicePreference {
            microphone: self.microphone.clone(),
            speaker: self.speaker.clone(),
            camera: self.camera.clone(),
        }
    }

    pub fn set_devices(&mut self, preference: crate::devices::DevicePreference) {
        self.microphone = preference.microphone;
        self.speaker = preference.speaker;
        self.camera = preference.camera;
    }

    /// Reads the settings; a missing file gives the defaults.
    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = data_dir.join(SETTINGS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path,
                message: e.message().to_owned(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io { path, source }),
        }
    }

    /// Writes the settings (creating the data directory).
    pub fn save(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: data_dir.join(SETTINGS_FILE),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let text = toml::to_string(self).map_err(|e| ConfigError::Parse {
            path: data_dir.join(SETTINGS_FILE),
            message: e.to_string(),
        })?;
        std::fs::write(data_dir.join(SETTINGS_FILE), text).map_err(io)
    }

    /// The language to show: the flag, then the saved choice, then the OS locale.
    pub fn language(&self, flag: Option<&str>) -> Language {
        flag.or(self.language.as_deref())
            .map(Language::from_tag)
            .unwrap_or_else(Language::from_os_locale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_restart_and_default_when_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            Settings::load(dir.path()).expect("defaults"),
            Settings::default()
        );
        let settings = Settings {
            language: Some("ja".into()),
            theme: ThemeChoice::Dark,
            host_on_lan: true,
            last_server: Some("meet.example.org:8443".into()),
            ..Settings::default()
        };
        settings.save(dir.path()).expect("save");
        assert_eq!(Settings::load(dir.path()).expect("load"), settings);
        assert_eq!(settings.language(None), Language::Japanese);
        assert_eq!(settings.language(Some("en")), Language::English);
    }

    #[test]
    fn a_damaged_settings_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(SETTINGS_FILE), "theme = [").expect("write");
        assert!(matches!(
            Settings::load(dir.path()),
            Err(ConfigError::Parse { .. })
        ));
    }
}
