//! The top-level iced application: which screen is shown, routing of messages and actions,
//! theme, language and keyboard focus (Tab / Shift+Tab).

use std::path::PathBuf;

use iced::widget::{Id, operation};
use iced::{Element, Subscription, Task, Theme};

use crate::config::{Args, Settings};
use crate::diagnostics::{self, LogBuffer};
use crate::embedded::Hosted;
use crate::fl;
use crate::i18n::{self, Language};
use crate::meeting_link::LinkKey;
use crate::screens::{
    Account, Session, UiError, home, meeting, prejoin, schedule, settings, signin,
};
use crate::service::account;
use crate::service::join::JoinRequest;

pub enum Screen {
    SignIn(signin::State),
    Home(Box<home::State>),
    Schedule(Box<schedule::State>),
    Settings(settings::State),
    PreJoin(Box<prejoin::State>),
    Meeting(Box<meeting::State>),
}

/// Where to go once the sign-in is renewed.
#[derive(Debug, Clone)]
pub enum AfterRenewal {
    Home,
    Join(Box<JoinRequest>),
}

#[derive(Debug, Clone)]
pub enum Message {
    SignIn(signin::Message),
    Home(home::Message),
    Schedule(schedule::Message),
    Settings(settings::Message),
    PreJoin(prejoin::Message),
    Meeting(meeting::Message),
    Restored(Result<Option<Session>, UiError>),
    /// Sign-out finished; `Ok(Some(detail))`: the server could not be told.
    SignedOut(Result<Option<String>, UiError>),
    /// The sign-in was renewed (or could not be) before going on.
    Renewed(Result<Session, UiError>, AfterRenewal),
    SettingsSaved(Result<(), String>),
    /// Hides the problem banner.
    DismissProblem,
    /// The window is about to draw a frame (only listened to until the first one).
    Frame(std::time::Instant),
}

pub struct Shell {
    args: Args,
    data_dir: PathBuf,
    settings: Settings,
    language: Language,
    log: LogBuffer,
    screen: Screen,
    session: Option<Session>,
    hosted: Option<Hosted>,
    /// Counts join attempts so a retry always starts a fresh meeting connection.
    join_attempts: u64,
    /// Home was opened with `--join`'s number filled in (the password field comes first).
    prefilled_join: bool,
    first_frame_seen: bool,
    /// Something that went wrong outside any one screen (settings not saved, keychain not
    /// cleared), shown above the screen until dismissed.
    problem: Option<String>,
}

impl Shell {
    /// The first state and the task that restores an earlier sign-in from the keychain.
    pub fn boot(args: Args, settings: Settings, log: LogBuffer) -> (Self, Task<Message>) {
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(crate::config::default_data_dir);
        let language = settings.language(args.lang.as_deref());
        i18n::set_language(language);
        let mut shell = Self {
            screen: Screen::SignIn(signin::State::new(signin::Context::default())),
            args,
            data_dir,
            settings,
            language,
            log,
            session: None,
            hosted: None,
            join_attempts: 0,
            prefilled_join: false,
            first_frame_seen: false,
            problem: None,
        };
        shell.screen = Screen::SignIn(shell.signin_state());
        // An explicit --server means "this server now", not the identity kept from before.
        let restore = if shell.args.server.is_some() {
            Task::none()
        } else {
            Task::perform(account::restore(), Message::Restored)
        };
        let focus = shell.focus_first_field();
        (shell, Task::batch([restore, focus]))
    }

    fn signin_state(&self) -> signin::State {
        signin::State::new(signin::Context {
            data_dir: self.data_dir.clone(),
            host_on_lan: self.settings.host_on_lan,
            local_host_username: self.settings.local_host_username.clone(),
            server: self
                .args
                .server
                .clone()
                .or_else(|| self.settings.last_server.clone()),
            pin: self
                .args
                .pin
                .clone()
                .or_else(|| self.settings.last_pin.clone()),
            display_name: self.settings.display_name.clone(),
        })
    }

    pub fn title(&self) -> String {
        fl!("app-title")
    }

    pub fn theme(&self) -> Option<Theme> {
        self.settings.theme.theme()
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    fn save_settings(&self) -> Task<Message> {
        let settings = self.settings.clone();
        let dir = self.data_dir.clone();
        Task::perform(
            async move {
                tokio::task::spawn_blocking(move || settings.save(&dir))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            },
            Message::SettingsSaved,
        )
    }

    /// Every screen opens with the keyboard in its first field.
    fn focus_first_field(&self) -> Task<Message> {
        let field = match &self.screen {
            Screen::SignIn(state) => state.first_field(),
            Screen::Home(_) if self.prefilled_join => home::PASSWORD_INPUT,
            Screen::Home(_) => home::NUMBER_INPUT,
            Screen::PreJoin(_) => prejoin::NAME_INPUT,
            _ => return Task::none(),
        };
        operation::focus(Id::new(field))
    }

    fn go_home(&mut self, session: Session) -> Task<Message> {
        self.session = Some(session.clone());
        let mut home = home::State::new(session);
        // `--join` opens the join form for that meeting once, right after sign-in.
        self.prefilled_join = false;
        if let Some(number) = self.args.join.take() {
            home.prefill_number(&number);
            self.prefilled_join = true;
        }
        let load = home.load().map(Message::Home);
        self.screen = Screen::Home(Box::new(home));
        Task::batch([load, self.focus_first_field()])
    }

    /// Renews the sign-in when its access token has expired or is about to (guests and
    /// fresh tokens go on at once), then goes on.
    fn renew_then(&mut self, after: AfterRenewal) -> Task<Message> {
        let Some(session) = self.session.clone() else {
            return match after {
                AfterRenewal::Join(request) => self.join(*request),
                AfterRenewal::Home => self.home_or_signin(),
            };
        };
        let due = session.account.as_ref().is_some_and(|a| {
            conclave_core::client::account::needs_refresh(
                a.identity.expires_at,
                conclave_core::client::account::unix_now(),
            )
        });
        if !due {
            return self.renewed(Ok(session), after);
        }
        Task::perform(account::renew(session), move |result| {
            Message::Renewed(result, after.clone())
        })
    }

    fn renewed(&mut self, result: Result<Session, UiError>, after: AfterRenewal) -> Task<Message> {
        match (result, after) {
            (Ok(session), AfterRenewal::Home) => self.go_home(session),
            (Ok(session), AfterRenewal::Join(mut request)) => {
                if request.identity.is_some() {
                    request.identity = session.account.as_ref().map(|a| a.identity.clone());
                }
                self.session = Some(session);
                self.join(*request)
            }
            (Err(UiError::SignInAgain), _) => {
                self.session = None;
                let mut state = self.signin_state();
                state.set_error(UiError::SignInAgain);
                self.screen = Screen::SignIn(state);
                self.focus_first_field()
            }
            (Err(error), after) => {
                self.problem = Some(error.text());
                match (after, self.session.clone()) {
                    (AfterRenewal::Home, Some(session)) => self.go_home(session),
                    _ => Task::none(),
                }
            }
        }
    }

    fn home_or_signin(&mut self) -> Task<Message> {
        match self.session.clone() {
            Some(session) if session.account.is_some() => self.renew_then(AfterRenewal::Home),
            Some(session) => self.go_home(session),
            None => {
                self.screen = Screen::SignIn(self.signin_state());
                self.focus_first_field()
            }
        }
    }

    /// Joining goes through pre-join (devices, name), then the meeting screen, which also shows
    /// the waiting room so one connection lives from the lobby into the meeting.
    fn join(&mut self, request: JoinRequest) -> Task<Message> {
        let (state, task) = prejoin::State::new(request, self.settings.devices());
        self.screen = Screen::PreJoin(Box::new(state));
        Task::batch([task.map(Message::PreJoin), self.focus_first_field()])
    }

    fn diagnostics(&self) -> String {
        let state = [
            ("language", self.language.tag().to_owned()),
            ("theme", format!("{:?}", self.settings.theme)),
            ("host_on_lan", self.settings.host_on_lan.to_string()),
            ("data_dir", self.data_dir.display().to_string()),
            (
                "server",
                self.session
                    .as_ref()
                    .map(|s| s.server.clone())
                    .unwrap_or_default(),
            ),
            (
                "signed_in",
                self.session
                    .as_ref()
                    .is_some_and(|s| s.account.is_some())
                    .to_string(),
            ),
            ("hosting_locally", self.hosted.is_some().to_string()),
        ];
        diagnostics::report(&state, &self.log)
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Frame(at) => self.first_frame(at),
            Message::SettingsSaved(result) => {
                if let Err(error) = result {
                    tracing::warn!(%error, "could not save settings");
                    self.problem = Some(fl!("shell-settings-not-saved", detail = error.as_str()));
                }
                Task::none()
            }
            Message::DismissProblem => {
                self.problem = None;
                Task::none()
            }
            Message::Restored(result) => {
                match (result, &mut self.screen) {
                    (Ok(Some(session)), Screen::SignIn(_)) => return self.go_home(session),
                    (Err(error), Screen::SignIn(state)) => {
                        tracing::warn!(error = %error.text(), "no kept sign-in");
                        state.set_error(error);
                    }
                    _ => {}
                }
                Task::none()
            }
            Message::SignedOut(result) => self.signed_out(result),
            Message::Renewed(result, after) => self.renewed(result, after),
            Message::SignIn(message) => self.signin_update(message),
            Message::Home(message) => self.home_update(message),
            Message::Schedule(message) => {
                let Screen::Schedule(state) = &mut self.screen else {
                    return Task::none();
                };
                match state.update(message) {
                    schedule::Action::None => Task::none(),
                    schedule::Action::Run(task) => task.map(Message::Schedule),
                    schedule::Action::Back => self.home_or_signin(),
                }
            }
            Message::Settings(message) => self.settings_update(message),
            Message::PreJoin(message) => self.prejoin_update(message),
            Message::Meeting(message) => {
                let Screen::Meeting(state) = &mut self.screen else {
                    return Task::none();
                };
                match state.update(message) {
                    meeting::Action::None => Task::none(),
                    meeting::Action::Run(task) => task.map(Message::Meeting),
                    meeting::Action::Closed => self.home_or_signin(),
                }
            }
        }
    }

    /// Logs the cold-start figure once, at the first frame drawn.
    fn first_frame(&mut self, at: std::time::Instant) -> Task<Message> {
        if std::mem::replace(&mut self.first_frame_seen, true) {
            return Task::none();
        }
        if let Some(started) = crate::STARTED.get() {
            let millis = at.saturating_duration_since(*started).as_secs_f64() * 1000.0;
            tracing::info!(millis = format!("{millis:.1}"), "first frame");
        }
        Task::none()
    }

    /// Says what sign-out could not do (tell the server, or clear the keychain).
    fn signed_out(&mut self, result: Result<Option<String>, UiError>) -> Task<Message> {
        match result {
            Ok(None) => {}
            Ok(Some(detail)) => {
                tracing::warn!(%detail, "sign-out could not reach the server");
                self.problem = Some(fl!(
                    "shell-sign-out-server-unreachable",
                    detail = detail.as_str()
                ));
            }
            Err(error) => {
                tracing::warn!(error = %error.text(), "sign-out could not clear the keychain");
                let detail = error.text();
                self.problem = Some(fl!("shell-sign-out-not-cleared", detail = detail.as_str()));
            }
        }
        Task::none()
    }

    /// The sign-in screen's message, and where its outcome leads (settings are remembered).
    fn signin_update(&mut self, message: signin::Message) -> Task<Message> {
        let Screen::SignIn(state) = &mut self.screen else {
            return Task::none();
        };
        match state.update(message) {
            signin::Action::None => Task::none(),
            signin::Action::Run(task) => task.map(Message::SignIn),
            signin::Action::SignedIn(session) => {
                if session.account.is_none() {
                    self.settings.display_name = Some(session.display_name.clone());
                }
                self.settings.last_server = Some(session.server.clone());
                self.settings.last_pin = match &session.trust {
                    conclave_core::client::TlsTrust::PinnedSha256(pin) => Some(pin.clone()),
                    conclave_core::client::TlsTrust::PublicRoots => None,
                };
                Task::batch([self.save_settings(), self.go_home(session)])
            }
            signin::Action::OpenSettings => self.open_settings(),
            signin::Action::Hosted(hosted) => {
                self.settings.local_host_username = Some(hosted.username.clone());
                let session = Session {
                    server: hosted.address.clone(),
                    trust: hosted.trust(),
                    display_name: hosted.display_name.clone(),
                    account: Some(Account {
                        username: hosted.username.clone(),
                        identity: hosted.identity.clone(),
                    }),
                    hosting_locally: true,
                    not_kept: None,
                };
                self.hosted = Some(hosted);
                Task::batch([self.save_settings(), self.go_home(session)])
            }
        }
    }

    /// The home screen's message: join, schedule or edit a meeting, settings, sign-out.
    fn home_update(&mut self, message: home::Message) -> Task<Message> {
        let Screen::Home(state) = &mut self.screen else {
            return Task::none();
        };
        match state.update(message) {
            home::Action::None => Task::none(),
            home::Action::Run(task) => task.map(Message::Home),
            home::Action::Join(request) => self.renew_then(AfterRenewal::Join(request)),
            home::Action::OpenSchedule => {
                if let Some(session) = self.session.clone() {
                    self.screen = Screen::Schedule(Box::new(schedule::State::new(session)));
                }
                Task::none()
            }
            home::Action::EditMeeting(meeting) => {
                if let Some(session) = self.session.clone() {
                    self.screen =
                        Screen::Schedule(Box::new(schedule::State::edit(session, *meeting)));
                }
                Task::none()
            }
            home::Action::OpenSettings => self.open_settings(),
            home::Action::SignOut => self.sign_out(),
        }
    }

    /// The settings screen's message; changed settings are applied and saved.
    fn settings_update(&mut self, message: settings::Message) -> Task<Message> {
        let Screen::Settings(state) = &mut self.screen else {
            return Task::none();
        };
        match state.update(message) {
            settings::Action::None => Task::none(),
            settings::Action::Run(task) => task.map(Message::Settings),
            settings::Action::Changed(settings, language) => {
                self.settings = settings;
                if language != self.language {
                    self.language = language;
                    i18n::set_language(language);
                }
                self.save_settings()
            }
            settings::Action::Back => self.home_or_signin(),
        }
    }

    /// The pre-join screen's message; Join opens the meeting with the chosen devices.
    fn prejoin_update(&mut self, message: prejoin::Message) -> Task<Message> {
        let Screen::PreJoin(state) = &mut self.screen else {
            return Task::none();
        };
        match state.update(message) {
            prejoin::Action::None => Task::none(),
            prejoin::Action::Run(task) => task.map(Message::PreJoin),
            prejoin::Action::Join(request, audio) => {
                self.join_attempts += 1;
                // The devices joined with are the ones offered next time.
                let remember = if audio.preference() == self.settings.devices() {
                    Task::none()
                } else {
                    self.settings.set_devices(audio.preference());
                    self.save_settings()
                };
                let key = LinkKey {
                    attempt: self.join_attempts,
                    request: std::sync::Arc::new(*request),
                    devices: audio,
                };
                self.screen = Screen::Meeting(Box::new(meeting::State::new(key)));
                remember
            }
            prejoin::Action::Cancel => self.home_or_signin(),
        }
    }

    fn open_settings(&mut self) -> Task<Message> {
        let diagnostics = self.diagnostics();
        self.screen = Screen::Settings(settings::State::new(
            self.settings.clone(),
            self.language,
            diagnostics,
        ));
        settings::State::list_devices().map(Message::Settings)
    }

    fn sign_out(&mut self) -> Task<Message> {
        let session = self.session.take();
        let was_signed_in = session
            .as_ref()
            .is_some_and(|s| s.account.is_some() && !s.hosting_locally);
        let stop = match self.hosted.take() {
            Some(hosted) => Task::future(async move { hosted.shutdown().await }).discard(),
            None => Task::none(),
        };
        let forget = if was_signed_in {
            Task::perform(account::forget(session), Message::SignedOut)
        } else {
            Task::none()
        };
        self.screen = Screen::SignIn(self.signin_state());
        Task::batch([stop, forget])
    }

    pub fn view(&self) -> Element<'_, Message> {
        let screen = match &self.screen {
            Screen::SignIn(state) => state.view().map(Message::SignIn),
            Screen::Home(state) => state.view().map(Message::Home),
            Screen::Schedule(state) => state.view().map(Message::Schedule),
            Screen::Settings(state) => state.view().map(Message::Settings),
            Screen::PreJoin(state) => state.view().map(Message::PreJoin),
            Screen::Meeting(state) => state.view().map(Message::Meeting),
        };
        let screen = match &self.problem {
            Some(problem) => iced::widget::column![
                iced::widget::container(
                    iced::widget::row![
                        iced::widget::text(problem.as_str()).width(iced::Length::Fill),
                        crate::controls::button(iced::widget::text(fl!("shell-dismiss")))
                            .on_press(Message::DismissProblem),
                    ]
                    .spacing(8)
                    .align_y(iced::Alignment::Center),
                )
                .padding(8)
                .style(iced::widget::container::danger),
                screen,
            ]
            .into(),
            None => screen,
        };
        // Tab moves the focus within the event batch (see `focus`).
        crate::focus::tab_focus(screen).into()
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let screen = match &self.screen {
            Screen::PreJoin(state) => state.subscription().map(Message::PreJoin),
            Screen::Meeting(state) => state.subscription().map(Message::Meeting),
            _ => Subscription::none(),
        };
        let first_frame = if self.first_frame_seen {
            Subscription::none()
        } else {
            iced::window::frames().map(Message::Frame)
        };
        Subscription::batch([screen, first_frame])
    }
}

/// Window and font settings, then the event loop.
pub fn run(args: Args, settings: Settings, log: LogBuffer) -> iced::Result {
    iced::application(
        move || Shell::boot(args.clone(), settings.clone(), log.clone()),
        Shell::update,
        Shell::view,
    )
    .title(Shell::title)
    .theme(Shell::theme)
    .subscription(Shell::subscription)
    .window(iced::window::Settings {
        size: iced::Size::new(1024.0, 720.0),
        icon: crate::icon::window_icon(),
        ..iced::window::Settings::default()
    })
    .default_font(crate::fonts::DEFAULT)
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_test::simulator;

    fn shell(dir: &std::path::Path) -> Shell {
        let args = Args {
            lang: Some("en".into()),
            server: Some("127.0.0.1:8443".into()),
            data_dir: Some(dir.to_path_buf()),
            ..Args::default()
        };
        let (shell, _restore) = Shell::boot(args, Settings::default(), LogBuffer::default());
        shell
    }

    fn click(shell: &mut Shell, label: &str) {
        let messages: Vec<Message> = {
            let mut ui = simulator(shell.view());
            ui.click(label).expect("button on screen");
            ui.into_messages().collect()
        };
        for message in messages {
            let _ = shell.update(message);
        }
    }

    #[test]
    fn guest_reaches_home_settings_and_signs_out_back_to_sign_in() {
        let _language = crate::test_language(Language::English);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut shell = shell(dir.path());
        assert!(matches!(shell.screen(), Screen::SignIn(_)));
        click(&mut shell, &fl!("signin-continue-as-guest"));
        assert!(matches!(shell.screen(), Screen::Home(_)));
        click(&mut shell, &fl!("home-settings"));
        assert!(matches!(shell.screen(), Screen::Settings(_)));
        click(&mut shell, &fl!("common-back"));
        assert!(matches!(shell.screen(), Screen::Home(_)));
        click(&mut shell, &fl!("home-sign-out"));
        assert!(matches!(shell.screen(), Screen::SignIn(_)));
    }

    #[test]
    fn joining_goes_through_pre_join_to_the_meeting_and_cancel_returns_home() {
        use conclave_core::client::TlsTrust;
        use conclave_protocol::{DisplayName, MeetingNumber};
        let _language = crate::test_language(Language::English);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut shell = shell(dir.path());
        click(&mut shell, &fl!("signin-continue-as-guest"));
        let request = JoinRequest {
            server: "127.0.0.1:8443".into(),
            trust: TlsTrust::PublicRoots,
            meeting: MeetingNumber::parse("123456789").expect("number"),
            password: None,
            display_name: DisplayName::new("Aiko").expect("name"),
            identity: None,
        };
        let _ = shell.join(request.clone());
        assert!(matches!(shell.screen(), Screen::PreJoin(_)));
        click(&mut shell, &fl!("prejoin-cancel"));
        assert!(matches!(shell.screen(), Screen::Home(_)));
        let _ = shell.join(request);
        // A machine with a headset: joining with it makes it the device offered next time.
        let _ = shell.update(Message::PreJoin(prejoin::Message::DevicesListed(
            crate::devices::DeviceLists {
                microphones: vec!["USB headset".into()],
                speakers: vec!["USB headset".into()],
                cameras: Vec::new(),
            },
        )));
        click(&mut shell, &fl!("prejoin-join"));
        assert_eq!(shell.settings.microphone.as_deref(), Some("USB headset"));
        assert_eq!(shell.settings.speaker.as_deref(), Some("USB headset"));
        assert_eq!(
            shell.settings.camera, None,
            "the test pattern is not remembered"
        );
        let Screen::Meeting(_) = shell.screen() else {
            panic!("Join on the pre-join screen opens the meeting screen");
        };
        // The waiting room is part of the meeting screen: it says we are connecting.
        let mut ui = simulator(shell.view());
        assert!(ui.find(fl!("lobby-connecting")).is_ok());
    }

    #[test]
    fn the_lang_flag_picks_the_language_and_the_screens_follow_it() {
        let _language = crate::test_language(Language::English);
        let dir = tempfile::tempdir().expect("temp dir");
        let args = Args {
            lang: Some("ja".into()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Args::default()
        };
        let (shell, _restore) = Shell::boot(args, Settings::default(), LogBuffer::default());
        let mut ui = simulator(shell.view());
        assert!(ui.find("Conclave へようこそ").is_ok());
        assert!(ui.find("このコンピュータで開催").is_ok());
    }

    #[test]
    fn the_join_flag_fills_in_the_number_once_and_the_password_comes_next() {
        let _language = crate::test_language(Language::English);
        let dir = tempfile::tempdir().expect("temp dir");
        let args = Args {
            lang: Some("en".into()),
            server: Some("127.0.0.1:8443".into()),
            data_dir: Some(dir.path().to_path_buf()),
            join: Some("123456789".into()),
            ..Args::default()
        };
        let (mut shell, _) = Shell::boot(args, Settings::default(), LogBuffer::default());
        let session = Session::test_guest();
        let _ = shell.go_home(session.clone());
        assert!(shell.prefilled_join, "the keyboard goes to the password");
        let Screen::Home(home) = shell.screen() else {
            panic!("home after sign-in");
        };
        assert_eq!(
            home.join_request().map(|r| r.meeting.to_string()).ok(),
            Some("123 456 789".to_owned())
        );
        // Back home after the meeting: the number is not filled in again.
        let _ = shell.go_home(session);
        assert!(!shell.prefilled_join);
    }

    #[test]
    fn settings_that_could_not_be_saved_are_reported_until_dismissed() {
        let _language = crate::test_language(Language::English);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut shell = shell(dir.path());
        let _ = shell.update(Message::SettingsSaved(Err("disk full".into())));
        let shown = fl!("shell-settings-not-saved", detail = "disk full");
        assert!(simulator(shell.view()).find(shown.as_str()).is_ok());
        click(&mut shell, &fl!("shell-dismiss"));
        assert!(simulator(shell.view()).find(shown.as_str()).is_err());
    }
}
