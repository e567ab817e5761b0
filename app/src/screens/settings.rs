//! Settings: language (English / 日本語), theme, hosting for the local network, devices and
//! the diagnostics export (secrets redacted).

use crate::controls::{button, pick_list, toggler};
use crate::service::secrets::SecretStore;
use iced::widget::{column, row, rule, text};
use iced::{Alignment, Element, Length, Task};

use super::{UiError, page};
use crate::config::{Settings, ThemeChoice};
use crate::diagnostics;
use crate::fl;
use crate::i18n::Language;
use crate::service::policy::AppPolicy;

/// The theme choice as the picker shows it (translated at view time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThemeOption(pub ThemeChoice);

impl std::fmt::Display for ThemeOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&match self.0 {
            ThemeChoice::Light => fl!("settings-theme-light"),
            ThemeChoice::Dark => fl!("settings-theme-dark"),
            ThemeChoice::System => fl!("settings-theme-system"),
        })
    }
}

/// A device in the settings pickers: one by name, or automatic (`None`, the first found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOption(pub Option<String>);

impl std::fmt::Display for DeviceOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(name) => f.write_str(name),
            None => f.write_str(&fl!("settings-device-automatic")),
        }
    }
}

/// Automatic, the devices found, and the preferred one even when it is not plugged in now
/// (so the picker shows what is set).
fn device_options(found: &[String], preferred: &Option<String>) -> Vec<DeviceOption> {
    let mut options = vec![DeviceOption(None)];
    options.extend(found.iter().cloned().map(|name| DeviceOption(Some(name))));
    if let Some(name) = preferred
        && !found.contains(name)
    {
        options.push(DeviceOption(Some(name.clone())));
    }
    options
}

pub struct State {
    settings: Settings,
    language: Language,
    /// The unredacted report; redacted when exported.
    diagnostics: String,
    /// Microphones, speakers and cameras the devices module found (names as the OS gives
    /// them).
    microphones: Vec<String>,
    speakers: Vec<String>,
    cameras: Vec<String>,
    notice: Option<String>,
    error: Option<UiError>,
    /// What the organisation fixes (shown locked) and the problems found in its policy.
    policy: AppPolicy,
}

#[derive(Debug, Clone)]
pub enum Message {
    Language(Language),
    Theme(ThemeOption),
    HostOnLan(bool),
    /// The preferred microphone, speaker or camera.
    Microphone(DeviceOption),
    Speaker(DeviceOption),
    Camera(DeviceOption),
    /// Microphones, speakers and cameras found (listed off the UI thread).
    DevicesListed(Vec<String>, Vec<String>, Vec<String>),
    ExportDiagnostics,
    Exported(Result<Option<std::path::PathBuf>, UiError>),
    Back,
}

pub enum Action {
    None,
    Run(Task<Message>),
    /// The shell applies (language, theme) and saves these.
    Changed(Settings, Language),
    Back,
}

impl State {
    pub fn new(
        settings: Settings,
        language: Language,
        diagnostics: String,
        policy: AppPolicy,
    ) -> Self {
        Self {
            policy,
            settings,
            language,
            diagnostics,
            microphones: Vec::new(),
            speakers: Vec::new(),
            cameras: Vec::new(),
            notice: None,
            error: None,
        }
    }

    /// Lists the devices (`crate::devices`) on a blocking thread.
    pub fn list_devices() -> Task<Message> {
        Task::perform(
            async {
                tokio::task::spawn_blocking(crate::devices::list)
                    .await
                    .unwrap_or_default()
            },
            |lists| {
                Message::DevicesListed(
                    lists.microphones,
                    lists.speakers,
                    lists.cameras.into_iter().map(|c| c.name).collect(),
                )
            },
        )
    }

    /// The report as it would be saved.
    pub fn redacted_diagnostics(&self) -> String {
        diagnostics::redact(&self.diagnostics)
    }

    pub fn update(&mut self, message: Message) -> Action {
        match message {
            // A setting the organisation fixes cannot be changed, even by a stray message.
            Message::Language(_) if self.policy.language_enforced() => {}
            Message::HostOnLan(true) if !self.policy.allows_lan_hosting() => {}
            Message::Language(language) => {
                self.language = language;
                self.settings.language = Some(language.tag().to_owned());
                return Action::Changed(self.settings.clone(), language);
            }
            Message::Theme(ThemeOption(theme)) => {
                self.settings.theme = theme;
                return Action::Changed(self.settings.clone(), self.language);
            }
            Message::HostOnLan(on) => {
                self.settings.host_on_lan = on;
                return Action::Changed(self.settings.clone(), self.language);
            }
            Message::Microphone(DeviceOption(name)) => {
                self.settings.microphone = name;
                return Action::Changed(self.settings.clone(), self.language);
            }
            Message::Speaker(DeviceOption(name)) => {
                self.settings.speaker = name;
                return Action::Changed(self.settings.clone(), self.language);
            }
            Message::Camera(DeviceOption(name)) => {
                self.settings.camera = name;
                return Action::Changed(self.settings.clone(), self.language);
            }
            Message::DevicesListed(microphones, speakers, cameras) => {
                self.microphones = microphones;
                self.speakers = speakers;
                self.cameras = cameras;
            }
            Message::ExportDiagnostics => {
                let report = self.redacted_diagnostics();
                return Action::Run(Task::perform(
                    super::schedule::save_with_dialog("conclave-diagnostics.txt".into(), report),
                    Message::Exported,
                ));
            }
            Message::Exported(result) => match result {
                Ok(Some(path)) => {
                    self.error = None;
                    self.notice = Some(fl!("common-saved-to", path = path.display().to_string()));
                }
                Ok(None) => {}
                Err(error) => self.error = Some(error),
            },
            Message::Back => return Action::Back,
        }
        Action::None
    }

    /// The language picker, or the organisation's language with "Managed by your organisation".
    fn language_row(&self) -> Element<'_, Message> {
        let choice: Element<'_, Message> = if self.policy.language_enforced() {
            row![text(self.language.to_string()), super::managed_note()]
                .spacing(12)
                .align_y(Alignment::Center)
                .into()
        } else {
            pick_list(
                Language::ALL.to_vec(),
                Some(self.language),
                Message::Language,
            )
            .into()
        };
        row![
            text(fl!("settings-language")).width(Length::Fixed(200.0)),
            choice
        ]
        .align_y(Alignment::Center)
        .into()
    }

    fn lan_row(&self) -> Element<'_, Message> {
        if self.policy.allows_lan_hosting() {
            column![
                toggler(
                    self.settings.host_on_lan,
                    fl!("settings-host-on-lan"),
                    Message::HostOnLan
                ),
                text(fl!("settings-host-on-lan-note")).size(12),
            ]
            .spacing(12)
            .into()
        } else {
            column![text(fl!("policy-lan-not-allowed")), super::managed_note()]
                .spacing(4)
                .into()
        }
    }

    /// Values the organisation set wrongly, so whoever looks can tell IT.
    fn policy_problems(&self) -> Element<'_, Message> {
        let issues = self.policy.issues();
        if issues.is_empty() {
            return column![].into();
        }
        let mut lines = column![text(fl!("policy-problems-heading")).size(14)].spacing(2);
        for issue in issues.iter().take(10) {
            lines = lines.push(text(issue.to_string()).size(12).style(text::danger));
        }
        lines.into()
    }

    pub fn view(&self) -> Element<'_, Message> {
        let themes: Vec<ThemeOption> = ThemeChoice::ALL.into_iter().map(ThemeOption).collect();
        // Translated here, so a language switch applies to them too.
        let picker = |label: String, found: &[String], preferred: &Option<String>, on_pick| {
            row![
                text(label).width(Length::Fixed(200.0)),
                pick_list(
                    device_options(found, preferred),
                    Some(DeviceOption(preferred.clone())),
                    on_pick
                ),
            ]
            .align_y(Alignment::Center)
        };
        let none_found =
            self.microphones.is_empty() && self.speakers.is_empty() && self.cameras.is_empty();
        let devices = column![
            picker(
                fl!("settings-microphone"),
                &self.microphones,
                &self.settings.microphone,
                Message::Microphone as fn(DeviceOption) -> Message
            ),
            picker(
                fl!("settings-speaker"),
                &self.speakers,
                &self.settings.speaker,
                Message::Speaker
            ),
            picker(
                fl!("settings-camera"),
                &self.cameras,
                &self.settings.camera,
                Message::Camera
            ),
            text(if none_found {
                fl!("settings-devices-none")
            } else {
                fl!("settings-devices-note")
            })
            .size(12),
        ]
        .spacing(6);
        let status: Element<'_, Message> = match (&self.error, &self.notice) {
            (Some(error), _) => super::error_line(Some(error)),
            (None, Some(notice)) => text(notice.as_str()).into(),
            (None, None) => column![].into(),
        };
        page(
            column![
                text(fl!("settings-heading")).size(28),
                self.language_row(),
                row![
                    text(fl!("settings-theme")).width(Length::Fixed(200.0)),
                    pick_list(
                        themes,
                        Some(ThemeOption(self.settings.theme)),
                        Message::Theme
                    ),
                ]
                .align_y(Alignment::Center),
                self.lan_row(),
                rule::horizontal(1),
                text(fl!("settings-devices")).size(18),
                devices,
                rule::horizontal(1),
                text(fl!("settings-diagnostics")).size(18),
                text(fl!("settings-diagnostics-note")).size(12),
                button(text(fl!("settings-export-diagnostics")))
                    .on_press(Message::ExportDiagnostics),
                status,
                text(match crate::service::secrets::chosen_store() {
                    Some(SecretStore::SecretService) => fl!("settings-secrets-secret-service"),
                    Some(SecretStore::KernelKeyring) => fl!("settings-secrets-kernel-keyring"),
                    Some(SecretStore::SystemKeychain) => fl!("settings-secrets-system-keychain"),
                    None => String::new(),
                })
                .size(12),
                self.policy_problems(),
                rule::horizontal(1),
                text(fl!(
                    "settings-about",
                    version = conclave_build_info::VERSION_LINE
                ))
                .size(12),
                button(text(fl!("common-back"))).on_press(Message::Back),
            ]
            .spacing(12),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_test::simulator;

    #[test]
    fn switching_to_japanese_changes_the_visible_text() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(
            Settings::default(),
            Language::English,
            String::new(),
            AppPolicy::none(),
        );
        {
            let mut ui = simulator(state.view());
            assert!(ui.find("Settings").is_ok());
            assert!(ui.find("Language").is_ok());
        }
        let action = state.update(Message::Language(Language::Japanese));
        let Action::Changed(settings, language) = action else {
            panic!("the shell must be told to switch language");
        };
        assert_eq!(settings.language.as_deref(), Some("ja"));
        {
            let mut ui = simulator(state.view());
            assert!(
                ui.find(format!("Conclave {}", conclave_build_info::VERSION_LINE).as_str())
                    .is_ok(),
                "the About line names the version and commit"
            );
        }
        // What the shell does with it:
        crate::i18n::set_language(language);
        let mut ui = simulator(state.view());
        assert!(ui.find("設定").is_ok());
        assert!(ui.find("言語").is_ok());
        assert!(ui.find("Settings").is_err());
    }

    #[test]
    fn the_exported_report_is_redacted() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(
            Settings::default(),
            Language::English,
            "token = c2VjcmV0LXRva2VuLTAxMjM0NTY3ODk=\nserver = 127.0.0.1:8443".into(),
            AppPolicy::none(),
        );
        let report = state.redacted_diagnostics();
        assert!(!report.contains("c2VjcmV0LXRva2VuLTAxMjM0NTY3ODk"));
        assert!(report.contains("127.0.0.1:8443"));
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(fl!("settings-export-diagnostics"))
                .expect("export button");
            ui.into_messages().collect::<Vec<_>>()
        };
        assert!(matches!(messages.as_slice(), [Message::ExportDiagnostics]));
        assert!(matches!(
            state.update(Message::ExportDiagnostics),
            Action::Run(_)
        ));
    }

    #[test]
    fn every_setting_can_be_changed_from_the_keyboard() {
        use iced::keyboard::key::Named;
        let _language = crate::test_language(Language::English);
        let mut state = State::new(
            Settings::default(),
            Language::English,
            String::new(),
            AppPolicy::none(),
        );
        let _ = state.update(Message::DevicesListed(
            vec!["Built-in".into()],
            vec!["Speakers".into()],
            vec!["Integrated".into()],
        ));
        let messages = crate::controls::reachable(
            || state.view(),
            14,
            &[Named::ArrowDown, Named::ArrowUp, Named::Space],
        );
        crate::controls::assert_reachable(
            &messages,
            &[
                "Language(Japanese)",
                "Theme(",
                "HostOnLan(true)",
                "Microphone(",
                "Speaker(",
                "Camera(",
                "ExportDiagnostics",
                "Back",
            ],
        );
    }

    #[test]
    fn preferred_devices_are_picked_saved_and_shown_even_when_unplugged() {
        let _language = crate::test_language(Language::English);
        let settings = Settings {
            camera: Some("Desk camera".into()),
            ..Settings::default()
        };
        let mut state = State::new(
            settings,
            Language::English,
            String::new(),
            AppPolicy::none(),
        );
        let _ = state.update(Message::DevicesListed(
            vec!["Built-in".into(), "USB headset".into()],
            vec!["Speakers".into()],
            Vec::new(),
        ));
        // The unplugged camera is still shown as the choice; the others are automatic.
        assert!(simulator(state.view()).find(fl!("settings-camera")).is_ok());
        assert_eq!(
            device_options(&state.cameras, &state.settings.camera),
            [DeviceOption(None), DeviceOption(Some("Desk camera".into()))]
        );
        assert_eq!(
            DeviceOption(None).to_string(),
            fl!("settings-device-automatic")
        );
        match state.update(Message::Microphone(DeviceOption(Some(
            "USB headset".into(),
        )))) {
            Action::Changed(saved, _) => {
                assert_eq!(saved.microphone.as_deref(), Some("USB headset"));
                assert_eq!(saved.camera.as_deref(), Some("Desk camera"));
            }
            _ => panic!("a device choice is saved"),
        }
        match state.update(Message::Camera(DeviceOption(None))) {
            Action::Changed(saved, _) => assert_eq!(saved.camera, None),
            _ => panic!("back to automatic is saved"),
        }
    }
}
