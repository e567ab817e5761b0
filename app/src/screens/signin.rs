//! First run / sign-in: host on this computer, or pick a server and sign in (token and device
//! key go to the OS keychain) or continue as a guest with a display name.

use std::path::PathBuf;

use crate::controls::{button, focusable, step_through};
use conclave_core::client::TlsTrust;
use conclave_protocol::DisplayName;
use iced::widget::{Id, column, radio, row, rule, text, text_input};
use iced::{Element, Length, Task};

use super::{Session, UiError, error_line, page, parse_server};
use crate::embedded::{self, HostOptions, Hosted};
use crate::fl;
use crate::service::account::sign_in;

/// Where the meetings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The server embedded in this app.
    ThisComputer,
    /// A server somewhere else.
    Server,
}

pub const SERVER_INPUT: &str = "signin-server";
pub const PIN_INPUT: &str = "signin-pin";
pub const USERNAME_INPUT: &str = "signin-username";
pub const PASSWORD_INPUT: &str = "signin-password";
pub const NAME_INPUT: &str = "signin-name";

/// What the screen starts from (flags and saved settings).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub data_dir: PathBuf,
    pub host_on_lan: bool,
    pub local_host_username: Option<String>,
    pub server: Option<String>,
    pub pin: Option<String>,
    pub display_name: Option<String>,
    /// The organisation's policy fixes the server (and its pin): shown, not editable.
    pub server_locked: bool,
    pub pin_locked: bool,
    /// The policy forbids joining as a guest / hosting on this computer: not offered.
    pub guests_forbidden: bool,
    pub local_hosting_forbidden: bool,
}

pub struct State {
    context: Context,
    place: Place,
    server: String,
    pin: String,
    username: String,
    password: String,
    display_name: String,
    busy: bool,
    error: Option<UiError>,
}

#[derive(Debug, Clone)]
pub enum Message {
    PlaceChosen(Place),
    ServerChanged(String),
    PinChanged(String),
    UsernameChanged(String),
    PasswordChanged(String),
    DisplayNameChanged(String),
    SignIn,
    ContinueAsGuest,
    HostHere,
    SignedIn(Result<Session, UiError>),
    Hosted(Result<Hosted, UiError>),
    Settings,
}

pub enum Action {
    None,
    Run(Task<Message>),
    SignedIn(Session),
    Hosted(Hosted),
    OpenSettings,
}

impl State {
    pub fn new(context: Context) -> Self {
        let place = if context.server.is_some() || context.local_hosting_forbidden {
            Place::Server
        } else {
            Place::ThisComputer
        };
        Self {
            place,
            server: context.server.clone().unwrap_or_default(),
            pin: context.pin.clone().unwrap_or_default(),
            username: String::new(),
            password: String::new(),
            display_name: context
                .display_name
                .clone()
                .unwrap_or_else(embedded::default_display_name),
            busy: false,
            error: None,
            context,
        }
    }

    /// The field the keyboard starts in, so the form can be filled and sent without a mouse.
    pub fn first_field(&self) -> &'static str {
        match self.place {
            Place::ThisComputer => NAME_INPUT,
            Place::Server if self.server.trim().is_empty() => SERVER_INPUT,
            Place::Server => USERNAME_INPUT,
        }
    }

    /// The server address as the form shows it.
    pub fn server_text(&self) -> &str {
        &self.server
    }

    pub fn error(&self) -> Option<&UiError> {
        self.error.as_ref()
    }

    /// Shows a problem found outside the form (e.g. no keychain when restoring a sign-in).
    pub fn set_error(&mut self, error: UiError) {
        self.error = Some(error);
    }

    fn trust(&self) -> TlsTrust {
        match self.pin.trim() {
            "" => TlsTrust::PublicRoots,
            pin => TlsTrust::PinnedSha256(pin.to_owned()),
        }
    }

    fn server(&mut self) -> Option<String> {
        let server = parse_server(&self.server);
        if server.is_none() {
            self.error = Some(UiError::Refused(fl!(
                "signin-error-server",
                server = self.server.as_str()
            )));
        }
        server
    }

    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::PlaceChosen(place) => {
                if !(place == Place::ThisComputer && self.context.local_hosting_forbidden) {
                    self.place = place;
                }
                self.error = None;
            }
            Message::ServerChanged(value) if !self.context.server_locked => self.server = value,
            Message::PinChanged(value) if !self.context.pin_locked => self.pin = value,
            Message::ServerChanged(_) | Message::PinChanged(_) => {}
            Message::UsernameChanged(value) => self.username = value,
            Message::PasswordChanged(value) => self.password = value,
            Message::DisplayNameChanged(value) => self.display_name = value,
            Message::SignIn if !self.busy => {
                let Some(server) = self.server() else {
                    return Action::None;
                };
                if self.username.trim().is_empty() || self.password.is_empty() {
                    self.error = Some(UiError::Refused(fl!("signin-error-missing")));
                    return Action::None;
                }
                self.busy = true;
                self.error = None;
                let trust = self.trust();
                let username = self.username.trim().to_owned();
                let password = std::mem::take(&mut self.password);
                return Action::Run(Task::perform(
                    sign_in(server, trust, username, password),
                    Message::SignedIn,
                ));
            }
            Message::ContinueAsGuest if self.context.guests_forbidden => {
                self.error = Some(UiError::Refused(fl!("policy-guests-not-allowed")));
            }
            Message::HostHere if self.context.local_hosting_forbidden => {
                self.error = Some(UiError::Refused(fl!("policy-hosting-not-allowed")));
            }
            Message::ContinueAsGuest if !self.busy => {
                let Some(server) = self.server() else {
                    return Action::None;
                };
                if DisplayName::new(self.display_name.trim()).is_err() {
                    self.error = Some(UiError::Refused(fl!("signin-error-name")));
                    return Action::None;
                }
                return Action::SignedIn(Session {
                    server,
                    trust: self.trust(),
                    display_name: self.display_name.trim().to_owned(),
                    account: None,
                    hosting_locally: false,
                    not_kept: None,
                });
            }
            Message::HostHere if !self.busy => {
                if DisplayName::new(self.display_name.trim()).is_err() {
                    self.error = Some(UiError::Refused(fl!("signin-error-name")));
                    return Action::None;
                }
                self.busy = true;
                self.error = None;
                let options = HostOptions {
                    data_dir: self.context.data_dir.clone(),
                    lan: self.context.host_on_lan,
                    port: embedded::PREFERRED_PORT,
                    username: self.context.local_host_username.clone(),
                    display_name: self.display_name.trim().to_owned(),
                };
                return Action::Run(Task::perform(
                    async move {
                        embedded::host_on_this_computer(options)
                            .await
                            .map_err(UiError::from)
                    },
                    Message::Hosted,
                ));
            }
            Message::SignedIn(result) => {
                self.busy = false;
                match result {
                    Ok(session) => return Action::SignedIn(session),
                    Err(error) => self.error = Some(error),
                }
            }
            Message::Hosted(result) => {
                self.busy = false;
                match result {
                    Ok(hosted) => return Action::Hosted(hosted),
                    Err(error) => self.error = Some(error),
                }
            }
            Message::Settings => return Action::OpenSettings,
            Message::SignIn | Message::ContinueAsGuest | Message::HostHere => {}
        }
        Action::None
    }

    /// The server, the account and (unless the organisation forbids it) the guest form.
    fn server_form<'a>(
        &'a self,
        name: iced::widget::TextInput<'a, Message>,
    ) -> Element<'a, Message> {
        let busy = self.busy;
        let mut server =
            text_input("meet.example.org:8443", &self.server).id(Id::new(SERVER_INPUT));
        if !self.context.server_locked {
            server = server
                .on_input(Message::ServerChanged)
                .on_submit(Message::SignIn);
        }
        let mut pin = text_input(&fl!("signin-pin-placeholder"), &self.pin).id(Id::new(PIN_INPUT));
        if !self.context.pin_locked {
            pin = pin.on_input(Message::PinChanged);
        }
        let mut form = column![text(fl!("signin-server")).size(14), server]
            .push(self.context.server_locked.then(super::managed_note))
            .push(text(fl!("signin-pin")).size(14))
            .push(pin)
            .push(self.context.pin_locked.then(super::managed_note))
            .push(rule::horizontal(1))
            .push(text(fl!("signin-account-heading")).size(18))
            .push(
                text_input(&fl!("signin-username"), &self.username)
                    .id(Id::new(USERNAME_INPUT))
                    .on_input(Message::UsernameChanged)
                    .on_submit(Message::SignIn),
            )
            .push(
                text_input(&fl!("signin-password"), &self.password)
                    .id(Id::new(PASSWORD_INPUT))
                    .secure(true)
                    .on_input(Message::PasswordChanged)
                    .on_submit(Message::SignIn),
            )
            .push(
                button(text(fl!("signin-sign-in")))
                    .on_press_maybe((!busy).then_some(Message::SignIn))
                    .style(button::primary),
            );
        if !self.context.guests_forbidden {
            form = form
                .push(rule::horizontal(1))
                .push(text(fl!("signin-guest-heading")).size(18))
                .push(name.on_submit(Message::ContinueAsGuest))
                .push(
                    button(text(fl!("signin-continue-as-guest")))
                        .on_press_maybe((!busy).then_some(Message::ContinueAsGuest)),
                );
        }
        form.spacing(8).into()
    }

    pub fn view(&self) -> Element<'_, Message> {
        // One stop for Tab; the arrow keys choose, as in a desktop radio group. Not offered
        // when the organisation forbids hosting here.
        let places: Element<'_, Message> = if self.context.local_hosting_forbidden {
            column![].into()
        } else {
            focusable(
                row![
                    radio(
                        fl!("signin-this-computer"),
                        Place::ThisComputer,
                        Some(self.place),
                        Message::PlaceChosen
                    ),
                    radio(
                        fl!("signin-other-server"),
                        Place::Server,
                        Some(self.place),
                        Message::PlaceChosen
                    ),
                ]
                .spacing(24),
            )
            .on_step(step_through(
                vec![Place::ThisComputer, Place::Server],
                Some(self.place),
                Message::PlaceChosen,
            ))
            .into()
        };
        let name = text_input(&fl!("signin-display-name"), &self.display_name)
            .id(Id::new(NAME_INPUT))
            .on_input(Message::DisplayNameChanged);
        let busy = self.busy;
        let body: Element<'_, Message> = match self.place {
            Place::ThisComputer => column![
                text(fl!("signin-this-computer-explain")),
                text(fl!("signin-display-name")).size(14),
                name.on_submit(Message::HostHere),
                button(text(fl!("signin-host-here")))
                    .on_press_maybe((!busy).then_some(Message::HostHere))
                    .style(button::primary),
            ]
            .spacing(8)
            .into(),
            Place::Server => self.server_form(name),
        };
        let status: Element<'_, Message> = if busy {
            text(fl!("common-working")).into()
        } else {
            error_line(self.error.as_ref())
        };
        page(
            column![
                row![
                    text(fl!("signin-title")).size(28).width(Length::Fill),
                    button(text(fl!("home-settings"))).on_press(Message::Settings),
                ],
                text(fl!("signin-e2ee-note")),
                places,
                body,
                status,
            ]
            .spacing(16)
            .width(Length::Fill),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_test::simulator;

    fn screen() -> State {
        State::new(Context {
            server: Some(String::new()),
            ..Context::default()
        })
    }

    fn run(state: &mut State, ui_messages: Vec<Message>) -> Vec<Action> {
        ui_messages
            .into_iter()
            .map(|message| state.update(message))
            .collect()
    }

    #[test]
    fn guest_path_emits_a_session_without_an_account() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let mut state = screen();
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(Id::new(SERVER_INPUT)).expect("server field");
            ui.typewrite("127.0.0.1:8443");
            ui.into_messages().collect::<Vec<_>>()
        };
        run(&mut state, messages);
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(Id::new(NAME_INPUT)).expect("name field");
            ui.typewrite("Aiko");
            ui.click("Continue as guest").expect("guest button");
            ui.into_messages().collect::<Vec<_>>()
        };
        let actions = run(&mut state, messages);
        let session = actions
            .into_iter()
            .find_map(|action| match action {
                Action::SignedIn(session) => Some(session),
                _ => None,
            })
            .expect("a guest session");
        assert_eq!(session.server, "127.0.0.1:8443");
        assert!(session.account.is_none());
        assert!(session.display_name.ends_with("Aiko"));
    }

    #[test]
    fn a_bad_server_address_is_shown_as_an_error() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let mut state = screen();
        state.update(Message::ServerChanged("not a server/".into()));
        let messages = {
            let mut ui = simulator(state.view());
            ui.click("Continue as guest").expect("guest button");
            ui.into_messages().collect::<Vec<_>>()
        };
        let actions = run(&mut state, messages);
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        let mut ui = simulator(state.view());
        assert!(
            ui.find("\"not a server/\" is not a server address (host or host:port).")
                .is_ok()
        );
    }

    fn error_text(state: &State) -> String {
        state.error().map(UiError::text).unwrap_or_default()
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_network_error_on_screen() {
        // Nothing listens on port 9 of loopback (discard) in the test environment.
        let result = sign_in(
            "127.0.0.1:9".into(),
            TlsTrust::PublicRoots,
            "hana".into(),
            "password".into(),
        )
        .await;
        let error = result.expect_err("no server there");
        assert!(matches!(error, UiError::Network(_)));
        let _language = crate::test_language(crate::i18n::Language::English);
        let mut state = screen();
        state.update(Message::SignedIn(Err(error)));
        let mut ui = simulator(state.view());
        assert!(ui.find(error_text(&state)).is_ok());
    }

    #[test]
    fn the_keyboard_starts_in_the_first_field_still_to_fill() {
        let here = State::new(Context::default());
        assert_eq!(
            here.first_field(),
            NAME_INPUT,
            "host here: the display name"
        );
        assert_eq!(screen().first_field(), SERVER_INPUT, "no server yet");
        let known = State::new(Context {
            server: Some("meet.example.org:8443".into()),
            ..Context::default()
        });
        assert_eq!(
            known.first_field(),
            USERNAME_INPUT,
            "server given: the user name"
        );
    }

    /// A password manager types "user⇥password⏎" in one go; each part must land in its field.
    #[test]
    fn user_tab_password_enter_typed_at_once_signs_in_with_both() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let mut state = screen();
        state.update(Message::ServerChanged("127.0.0.1:8443".into()));
        let messages = {
            let mut ui = simulator(crate::focus::tab_focus(state.view()));
            ui.click(Id::new(USERNAME_INPUT)).expect("user name field");
            let batch: Vec<iced::Event> = iced_test::simulator::typewrite("hana")
                .chain(iced_test::simulator::tap_key(
                    iced::keyboard::key::Named::Tab,
                    None,
                ))
                .chain(iced_test::simulator::typewrite("s3cret pass"))
                .chain(iced_test::simulator::tap_key(
                    iced::keyboard::key::Named::Enter,
                    None,
                ))
                .collect();
            ui.simulate(batch);
            ui.into_messages().collect::<Vec<_>>()
        };
        // Sign-in is the last thing sent, after both fields are filled.
        assert!(matches!(messages.last(), Some(Message::SignIn)));
        let fields: Vec<Message> = messages
            .into_iter()
            .filter(|m| !matches!(m, Message::SignIn))
            .collect();
        run(&mut state, fields);
        assert_eq!(state.username, "hana");
        assert_eq!(state.password, "s3cret pass");
    }

    #[test]
    fn the_place_and_the_buttons_can_be_chosen_from_the_keyboard() {
        use iced::keyboard::key::Named;
        let _language = crate::test_language(crate::i18n::Language::English);
        let state = State::new(Context::default());
        let messages =
            crate::controls::reachable(|| state.view(), 8, &[Named::ArrowDown, Named::Enter]);
        crate::controls::assert_reachable(&messages, &["PlaceChosen(Server)", "Settings"]);
        let state = screen();
        let messages =
            crate::controls::reachable(|| state.view(), 12, &[Named::ArrowUp, Named::Enter]);
        crate::controls::assert_reachable(
            &messages,
            &["PlaceChosen(ThisComputer)", "SignIn", "ContinueAsGuest"],
        );
    }
}
