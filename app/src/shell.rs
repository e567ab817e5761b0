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
use crate::service::policy::AppPolicy;

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
    /// A meeting link opened while the app runs (passed on by a second launch).
    LinkOpened(String),
    /// What the server said about client versions and meeting defaults.
    ServerChecked(crate::service::update::ServerCheck),
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
    /// The organisation's policy, read once at start.
    policy: AppPolicy,
    /// The server's organisation defaults for new meetings, once it has said.
    server_defaults: Option<conclave_protocol::http::MeetingDefaults>,
    /// The server requires a newer Conclave: (minimum, where to get it). Shown instead of
    /// any screen until the user signs out.
    update_required: Option<(String, Option<String>)>,
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
    /// The first state and the task that restores an earlier sign-in from the keychain, with
    /// no organisation policy.
    pub fn boot(args: Args, settings: Settings, log: LogBuffer) -> (Self, Task<Message>) {
        Self::boot_with_policy(args, settings, log, AppPolicy::none())
    }

    /// As [`Shell::boot`], under the organisation's `policy`: a `--server` or meeting link
    /// that the policy refuses is dropped, and the user is told why.
    pub fn boot_with_policy(
        mut args: Args,
        settings: Settings,
        log: LogBuffer,
        policy: AppPolicy,
    ) -> (Self, Task<Message>) {
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(crate::config::default_data_dir);
        // An enforced language beats the --lang flag too.
        let language = match (policy.language_enforced(), args.lang.as_deref()) {
            (false, Some(flag)) => Language::from_tag(flag),
            _ => policy
                .language(settings.language.as_deref())
                .text()
                .map(Language::from_tag)
                .unwrap_or_else(Language::from_os_locale),
        };
        i18n::set_language(language);
        let problem = Self::apply_link_and_server(&mut args, &policy);
        let mut shell = Self {
            screen: Screen::SignIn(signin::State::new(signin::Context::default())),
            args,
            data_dir,
            settings,
            language,
            log,
            policy,
            server_defaults: None,
            update_required: None,
            session: None,
            hosted: None,
            join_attempts: 0,
            prefilled_join: false,
            first_frame_seen: false,
            problem,
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

    /// Turns a meeting link into `--server` and `--join`, and drops a server the policy
    /// refuses; returns what the user must be told.
    fn apply_link_and_server(args: &mut Args, policy: &AppPolicy) -> Option<String> {
        let mut problem = None;
        if let Some(link) = args.link.take() {
            match conclave_core::invite::parse_join_link(&link) {
                Ok((server, number)) => {
                    args.server = Some(server);
                    args.join = Some(number);
                }
                Err(error) => {
                    tracing::warn!(%error, "meeting link not opened");
                    problem = Some(fl!("link-invalid"));
                }
            }
        }
        if let Some(server) = &args.server
            && let Err(refusal) = policy.check_server(server)
        {
            tracing::warn!(server = %server, "server refused by policy");
            args.server = None;
            args.join = None;
            problem = Some(refusal);
        }
        problem
    }

    fn signin_state(&self) -> signin::State {
        let locked = self.policy.locked_server();
        let server = self.policy.server(
            self.args
                .server
                .as_deref()
                .or(self.settings.last_server.as_deref()),
        );
        signin::State::new(signin::Context {
            data_dir: self.data_dir.clone(),
            host_on_lan: self.settings.host_on_lan && self.policy.allows_lan_hosting(),
            local_host_username: self.settings.local_host_username.clone(),
            server: server.text().map(str::to_owned),
            pin: self
                .policy
                .server_pin()
                .or_else(|| self.args.pin.clone())
                .or_else(|| self.settings.last_pin.clone()),
            display_name: self.settings.display_name.clone(),
            server_locked: locked.is_some(),
            pin_locked: self.policy.server_pin().is_some(),
            guests_forbidden: !self.policy.allows_guests(),
            // The lock names the one server to use: this computer's is another.
            local_hosting_forbidden: !self.policy.allows_local_hosting() || locked.is_some(),
        })
    }

    /// A kept or new session on a server the policy refuses goes back to sign-in, saying why.
    fn refuse_session(&mut self, session: &Session) -> Option<Task<Message>> {
        let refusal = if session.hosting_locally {
            self.policy
                .locked_server()
                .map(|_| fl!("policy-hosting-not-allowed"))
        } else {
            self.policy.check_server(&session.server).err()
        }?;
        self.session = None;
        let mut state = self.signin_state();
        state.set_error(UiError::Refused(refusal));
        self.screen = Screen::SignIn(state);
        Some(self.focus_first_field())
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
        if let Some(refused) = self.refuse_session(&session) {
            return refused;
        }
        self.session = Some(session.clone());
        // Versions and meeting defaults come from the server; home shows meanwhile.
        let check = Task::perform(
            crate::service::update::check_server(
                session.server.clone(),
                session.trust.clone(),
                self.policy.clone(),
            ),
            Message::ServerChecked,
        );
        let mut home = home::State::new(session);
        // `--join` opens the join form for that meeting once, right after sign-in.
        self.prefilled_join = false;
        if let Some(number) = self.args.join.take() {
            home.prefill_number(&number);
            self.prefilled_join = true;
        }
        let load = home.load().map(Message::Home);
        self.screen = Screen::Home(Box::new(home));
        Task::batch([load, check, self.focus_first_field()])
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
        // What the organisation's policy set and what in it was ignored, for IT.
        let mut state = state.to_vec();
        let managed: Vec<&str> = conclave_policy::POLICIES
            .iter()
            .filter(|def| self.policy.policy().is_enforced(def.key))
            .map(|def| def.name)
            .collect();
        state.push(("policy_enforced", managed.join(", ")));
        for issue in self.policy.issues() {
            state.push(("policy_problem", issue.to_string()));
        }
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
            Message::LinkOpened(link) => self.link_opened(link),
            Message::ServerChecked(check) => {
                self.server_checked(check);
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
                    let state = schedule::State::new(session).with_policy(self.meeting_defaults());
                    self.screen = Screen::Schedule(Box::new(state));
                }
                Task::none()
            }
            home::Action::EditMeeting(meeting) => {
                if let Some(session) = self.session.clone() {
                    let state = schedule::State::edit(session, *meeting)
                        .with_policy(self.meeting_defaults());
                    self.screen = Screen::Schedule(Box::new(state));
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

    fn meeting_defaults(&self) -> crate::service::policy::MeetingDefaults {
        self.policy
            .meeting_defaults_over(self.server_defaults.as_ref())
    }

    fn server_checked(&mut self, check: crate::service::update::ServerCheck) {
        use conclave_core::client::{CLIENT_VERSION, VersionCheck};
        self.server_defaults = check.meeting_defaults;
        match check.version {
            VersionCheck::UpToDate => {}
            VersionCheck::UpdateAvailable { latest, url } => {
                self.problem = Some(fl!(
                    "update-available",
                    latest = latest.as_str(),
                    current = CLIENT_VERSION,
                    url = url.as_deref().unwrap_or("-")
                ));
            }
            VersionCheck::UpdateRequired { minimum, url } => {
                self.update_required = Some((minimum, url));
            }
        }
    }

    /// The "update required" page: the version asked for, where to get it (as text: it is
    /// never opened by itself), and sign-out to use another server.
    fn update_required_view(&self) -> Option<Element<'_, Message>> {
        use iced::widget::{column, text};
        let (minimum, url) = self.update_required.as_ref()?;
        let mut page = column![
            text(fl!("update-required-title")).size(28),
            text(fl!(
                "update-required-explain",
                minimum = minimum.as_str(),
                current = conclave_core::client::CLIENT_VERSION
            )),
        ]
        .spacing(16);
        if let Some(url) = url {
            page = page.push(text(fl!("update-required-where", url = url.as_str())));
        }
        page = page.push(
            crate::controls::button(text(fl!("home-sign-out")))
                .on_press(Message::Home(home::Message::SignOut)),
        );
        Some(crate::screens::page(page))
    }

    /// A link opened while the app runs: outside a meeting, it opens that meeting's join
    /// form (signing in to its server when it is another); in a meeting, it waits for the
    /// user to leave, with a notice, rather than dropping them out of the meeting.
    fn link_opened(&mut self, link: String) -> Task<Message> {
        // A later launch: bring this window forward instead of opening another.
        let focus = iced::window::latest().and_then(iced::window::gain_focus);
        if link.is_empty() {
            return focus;
        }
        tracing::info!("a meeting link was handed over");
        Task::batch([focus, self.open_link(link)])
    }

    fn open_link(&mut self, link: String) -> Task<Message> {
        let mut args = Args {
            link: Some(link),
            ..Args::default()
        };
        if let Some(problem) = Self::apply_link_and_server(&mut args, &self.policy) {
            self.problem = Some(problem);
            return Task::none();
        }
        let (Some(server), Some(number)) = (args.server, args.join) else {
            return Task::none();
        };
        // An earlier link's refusal no longer applies.
        self.problem = None;
        if matches!(self.screen, Screen::Meeting(_) | Screen::PreJoin(_)) {
            self.problem = Some(fl!("link-after-meeting", number = number.as_str()));
            self.args.join = Some(number);
            return Task::none();
        }
        self.args.join = Some(number);
        match self.session.clone() {
            Some(session) if session.server == server => self.go_home(session),
            _ => {
                self.args.server = Some(server);
                self.session = None;
                self.screen = Screen::SignIn(self.signin_state());
                self.focus_first_field()
            }
        }
    }

    fn open_settings(&mut self) -> Task<Message> {
        let diagnostics = self.diagnostics();
        self.screen = Screen::Settings(settings::State::new(
            self.settings.clone(),
            self.language,
            diagnostics,
            self.policy.clone(),
        ));
        settings::State::list_devices().map(Message::Settings)
    }

    fn sign_out(&mut self) -> Task<Message> {
        self.update_required = None;
        self.server_defaults = None;
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
        if let Some(page) = self.update_required_view() {
            return page;
        }
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
        // Links that later launches hand over (only when this process is the running one).
        let links = if crate::service::instance::installed().is_some() {
            Subscription::run(handed_over_links).map(Message::LinkOpened)
        } else {
            Subscription::none()
        };
        let first_frame = if self.first_frame_seen {
            Subscription::none()
        } else {
            iced::window::frames().map(Message::Frame)
        };
        Subscription::batch([screen, links, first_frame])
    }
}

/// The links later launches hand to this one (`service::instance`), accepted off the UI
/// thread one at a time.
fn handed_over_links() -> impl iced::futures::Stream<Item = String> {
    use iced::futures::SinkExt as _;
    iced::stream::channel(8, async |mut output| {
        let Some(running) = crate::service::instance::installed() else {
            return;
        };
        loop {
            let listener = std::sync::Arc::clone(&running);
            match tokio::task::spawn_blocking(move || listener.accept_one()).await {
                Ok(Ok(Some(link))) => {
                    if output.send(link).await.is_err() {
                        return;
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot take links from later launches");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(_) => return,
            }
        }
    })
}

/// Window and font settings, then the event loop.
pub fn run(args: Args, settings: Settings, log: LogBuffer, policy: AppPolicy) -> iced::Result {
    iced::application(
        move || {
            Shell::boot_with_policy(args.clone(), settings.clone(), log.clone(), policy.clone())
        },
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
mod tests;
