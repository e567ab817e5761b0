//! Home: upcoming meetings, join by number + password, instant meeting, and the ways to the
//! schedule and settings screens and out (sign-out).

use crate::controls::button;
use conclave_core::client::TlsTrust;
use conclave_core::client::account::{self, NewMeeting};
use conclave_core::client::schedule_api::Scheduler;
use conclave_protocol::schedule::ScheduledMeeting;
use iced::widget::{Id, column, container, row, rule, scrollable, text, text_input};
use iced::{Alignment, Element, Length, Task};

use super::{Session, UiError, error_line, page};
use crate::fl;
use crate::service::join::{FormProblem, JoinRequest};
use crate::service::secrets;

pub const NUMBER_INPUT: &str = "home-number";
pub const PASSWORD_INPUT: &str = "home-password";
pub const NAME_INPUT: &str = "home-name";

pub struct State {
    session: Session,
    meetings: Vec<ScheduledMeeting>,
    loading: bool,
    list_error: Option<UiError>,
    number: String,
    password: String,
    display_name: String,
    join_error: Option<UiError>,
    creating: bool,
    /// The meeting whose cancellation waits for the host's confirmation.
    confirm_cancel: Option<String>,
    /// A cancellation on its way to the server.
    cancelling: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Message {
    NumberChanged(String),
    PasswordChanged(String),
    DisplayNameChanged(String),
    Join,
    JoinScheduled(String),
    KeptPassword(String, Result<Option<String>, UiError>),
    Refresh,
    Listed(Result<Vec<ScheduledMeeting>, UiError>),
    InstantMeeting,
    InstantCreated(Result<(String, String), UiError>),
    Schedule,
    Settings,
    SignOut,
    /// Opens a scheduled meeting for changes.
    EditMeeting(String),
    /// Asks to cancel a scheduled meeting (confirmed before anything is sent).
    CancelMeeting(String),
    ConfirmCancel,
    KeepMeeting,
    /// Copies how other computers on the network reach this one's embedded server.
    CopyLanDetails,
    Cancelled(Result<(), UiError>),
}

pub enum Action {
    None,
    Run(Task<Message>),
    Join(Box<JoinRequest>),
    OpenSchedule,
    /// Change this scheduled meeting.
    EditMeeting(Box<ScheduledMeeting>),
    OpenSettings,
    SignOut,
}

impl State {
    pub fn new(session: Session) -> Self {
        Self {
            display_name: session.display_name.clone(),
            session,
            meetings: Vec::new(),
            loading: false,
            list_error: None,
            number: String::new(),
            password: String::new(),
            join_error: None,
            creating: false,
            confirm_cancel: None,
            cancelling: None,
        }
    }

    /// Fills in the meeting number (from `--join`); the password is still typed.
    pub fn prefill_number(&mut self, number: &str) {
        self.number = number.trim().to_owned();
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The first load of the meeting list (signed-in users only).
    pub fn load(&mut self) -> Task<Message> {
        match self.update(Message::Refresh) {
            Action::Run(task) => task,
            _ => Task::none(),
        }
    }

    /// Checks the join form and builds the request.
    pub fn join_request(&self) -> Result<JoinRequest, FormProblem> {
        JoinRequest::from_typed(
            &self.session,
            &self.number,
            &self.password,
            &self.display_name,
        )
    }

    fn join(&mut self) -> Action {
        match self.join_request() {
            Ok(request) => {
                self.join_error = None;
                Action::Join(Box::new(request))
            }
            Err(problem) => {
                self.join_error = Some(UiError::Refused(match problem {
                    FormProblem::Number => fl!("home-error-number"),
                    FormProblem::Password => fl!("home-error-password"),
                    FormProblem::Name => fl!("home-error-name"),
                }));
                Action::None
            }
        }
    }

    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::NumberChanged(value) => self.number = value,
            Message::PasswordChanged(value) => self.password = value,
            Message::DisplayNameChanged(value) => self.display_name = value,
            Message::Join => return self.join(),
            Message::JoinScheduled(number) => return self.join_scheduled(number),
            Message::KeptPassword(number, result) => {
                self.number = number;
                match result {
                    Ok(Some(password)) => {
                        self.password = password;
                        return self.join();
                    }
                    // The host's own meeting without a kept password: the user types it.
                    Ok(None) => self.join_error = Some(UiError::Refused(fl!("home-need-password"))),
                    Err(error) => self.join_error = Some(error),
                }
            }
            Message::Refresh => return self.refresh(),
            Message::Listed(result) => {
                self.loading = false;
                match result {
                    Ok(mut meetings) => {
                        meetings.retain(|m| !m.cancelled);
                        meetings.sort_by_key(|m| m.when.start);
                        self.meetings = meetings;
                        self.list_error = None;
                    }
                    Err(error) => self.list_error = Some(error),
                }
            }
            Message::InstantMeeting => return self.instant_meeting(),
            Message::InstantCreated(result) => {
                self.creating = false;
                match result {
                    Ok((number, password)) => {
                        self.number = number;
                        self.password = password;
                        return self.join();
                    }
                    Err(error) => self.join_error = Some(error),
                }
            }
            Message::EditMeeting(number) => {
                if let Some(meeting) = self.meetings.iter().find(|m| m.number == number) {
                    return Action::EditMeeting(Box::new(meeting.clone()));
                }
            }
            Message::CancelMeeting(number) => self.confirm_cancel = Some(number),
            Message::KeepMeeting => self.confirm_cancel = None,
            Message::CopyLanDetails => {
                if let Some(details) = self.lan_details() {
                    return Action::Run(iced::clipboard::write(details));
                }
            }
            Message::ConfirmCancel => return self.confirm_cancel(),
            Message::Cancelled(result) => {
                self.cancelling = None;
                match result {
                    Ok(()) => return self.update(Message::Refresh),
                    Err(error) => self.list_error = Some(error),
                }
            }
            Message::Schedule => return Action::OpenSchedule,
            Message::Settings => return Action::OpenSettings,
            Message::SignOut => return Action::SignOut,
        }
        Action::None
    }

    /// Joins one of the listed meetings with the password kept on this device for it.
    fn join_scheduled(&self, number: String) -> Action {
        let account = secrets::meeting_password_account(&self.session.server, &number);
        Action::Run(Task::perform(
            async move {
                secrets::blocking(move || secrets::get(&account))
                    .await
                    .map_err(UiError::from)
            },
            move |result| Message::KeptPassword(number.clone(), result),
        ))
    }

    /// Asks the server for the scheduled meetings again.
    fn refresh(&mut self) -> Action {
        let Some(token) = self.session.token().map(str::to_owned) else {
            return Action::None;
        };
        self.loading = true;
        let server = self.session.server.clone();
        let trust = self.session.trust.clone();
        Action::Run(Task::perform(
            async move {
                let scheduler = Scheduler::new(&server, &trust, &token)?;
                scheduler.list().await.map_err(UiError::from)
            },
            Message::Listed,
        ))
    }

    /// Creates a meeting now (lobby on) and joins it once created.
    fn instant_meeting(&mut self) -> Action {
        let Some(token) = self.session.token().map(str::to_owned) else {
            return Action::None;
        };
        self.creating = true;
        let server = self.session.server.clone();
        let trust = self.session.trust.clone();
        let options = NewMeeting {
            title: Some(fl!("home-instant-title")),
            lobby: Some(true),
            ..NewMeeting::default()
        };
        Action::Run(Task::perform(
            async move {
                let created = account::create_meeting(&server, &trust, &token, &options).await?;
                Ok((created.number, created.password))
            },
            Message::InstantCreated,
        ))
    }

    /// Cancels the meeting the user confirmed cancelling.
    fn confirm_cancel(&mut self) -> Action {
        let (Some(number), Some(token)) = (
            self.confirm_cancel.take(),
            self.session.token().map(str::to_owned),
        ) else {
            return Action::None;
        };
        self.cancelling = Some(number.clone());
        let server = self.session.server.clone();
        let trust = self.session.trust.clone();
        Action::Run(Task::perform(
            async move {
                let scheduler = Scheduler::new(&server, &trust, &token)?;
                scheduler.cancel(&number).await?;
                Ok(())
            },
            Message::Cancelled,
        ))
    }

    fn meeting_row<'a>(&self, meeting: &'a ScheduledMeeting) -> Element<'a, Message> {
        let when = format!(
            "{} {} ({})",
            meeting.when.start.format("%Y-%m-%d %H:%M"),
            meeting.when.time_zone,
            fl!(
                "home-minutes",
                minutes = meeting.when.duration_minutes.to_string()
            )
        );
        let number = &meeting.number;
        let actions: Element<'a, Message> = if self.confirm_cancel.as_ref() == Some(number) {
            row![
                text(fl!("home-cancel-confirm")).size(13),
                button(text(fl!("home-cancel-yes")))
                    .style(button::danger)
                    .on_press(Message::ConfirmCancel),
                button(text(fl!("home-cancel-keep"))).on_press(Message::KeepMeeting),
            ]
            .spacing(8)
            .align_y(Alignment::Center)
            .into()
        } else if self.cancelling.as_ref() == Some(number) {
            text(fl!("common-working")).into()
        } else {
            let mut actions = row![
                button(text(fl!("home-join-this")))
                    .on_press(Message::JoinScheduled(number.clone()))
            ]
            .spacing(8);
            // Co-hosts may join but not change or cancel (the server refuses them too).
            if !meeting.viewer_is_co_host {
                actions = actions
                    .push(
                        button(text(fl!("home-edit-meeting")))
                            .style(button::secondary)
                            .on_press(Message::EditMeeting(number.clone())),
                    )
                    .push(
                        button(text(fl!("home-cancel-meeting")))
                            .style(button::secondary)
                            .on_press(Message::CancelMeeting(number.clone())),
                    );
            }
            actions.into()
        };
        row![
            column![
                text(meeting.title.as_str()).size(16),
                text(when).size(13),
                text(fl!("home-number", number = meeting.number.as_str())).size(13),
            ]
            .width(Length::Fill),
            actions,
        ]
        .align_y(Alignment::Center)
        .spacing(12)
        .into()
    }

    /// When this app hosts for the local network: the server address and certificate
    /// fingerprint another computer's Conclave needs (typed on its sign-in screen).
    fn lan_details(&self) -> Option<String> {
        let TlsTrust::PinnedSha256(pin) = &self.session.trust else {
            return None;
        };
        let reachable = self
            .session
            .server
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|address| !address.ip().is_loopback());
        (self.session.hosting_locally && reachable).then(|| {
            fl!(
                "home-lan-join",
                server = self.session.server.as_str(),
                pin = pin.as_str()
            )
        })
    }

    pub fn view(&self) -> Element<'_, Message> {
        let signed_in = self.session.account.is_some();
        let who = match &self.session.account {
            Some(account) => fl!(
                "home-signed-in-as",
                name = self.session.display_name.as_str(),
                username = account.username.as_str(),
                server = self.session.server.as_str()
            ),
            None => fl!(
                "home-guest-on",
                name = self.display_name.as_str(),
                server = self.session.server.as_str()
            ),
        };
        let mut toolbar = row![].spacing(8);
        if signed_in {
            toolbar = toolbar.push(
                button(text(fl!("home-instant")))
                    .on_press_maybe((!self.creating).then_some(Message::InstantMeeting))
                    .style(button::primary),
            );
            toolbar = toolbar.push(button(text(fl!("home-schedule"))).on_press(Message::Schedule));
        }
        toolbar = toolbar
            .push(button(text(fl!("home-settings"))).on_press(Message::Settings))
            .push(
                button(text(fl!("home-sign-out")))
                    .on_press(Message::SignOut)
                    .style(button::secondary),
            );

        let join_form = column![
            text(fl!("home-join-heading")).size(20),
            text_input(&fl!("home-number-placeholder"), &self.number)
                .id(Id::new(NUMBER_INPUT))
                .on_input(Message::NumberChanged)
                .on_submit(Message::Join),
            text_input(&fl!("home-password-placeholder"), &self.password)
                .id(Id::new(PASSWORD_INPUT))
                .secure(true)
                .on_input(Message::PasswordChanged)
                .on_submit(Message::Join),
            text_input(&fl!("home-name-placeholder"), &self.display_name)
                .id(Id::new(NAME_INPUT))
                .on_input(Message::DisplayNameChanged)
                .on_submit(Message::Join),
            button(text(fl!("home-join")))
                .on_press(Message::Join)
                .style(button::primary),
            error_line(self.join_error.as_ref()),
        ]
        .spacing(8);

        let mut upcoming = column![
            row![
                text(fl!("home-upcoming")).size(20).width(Length::Fill),
                button(text(fl!("home-refresh")))
                    .on_press_maybe((signed_in && !self.loading).then_some(Message::Refresh)),
            ]
            .align_y(Alignment::Center)
        ]
        .spacing(8);
        if !signed_in {
            upcoming = upcoming.push(text(fl!("home-guest-no-list")));
        } else if self.loading {
            upcoming = upcoming.push(text(fl!("common-working")));
        } else if self.meetings.is_empty() {
            upcoming = upcoming.push(text(fl!("home-no-meetings")));
        }
        for meeting in &self.meetings {
            upcoming = upcoming.push(self.meeting_row(meeting));
        }
        upcoming = upcoming.push(error_line(self.list_error.as_ref()));

        let not_kept: Element<'_, Message> = match &self.session.not_kept {
            Some(detail) => text(fl!("home-sign-in-not-kept", detail = detail.as_str()))
                .size(13)
                .into(),
            None => column![].into(),
        };
        let lan: Element<'_, Message> = match self.lan_details() {
            Some(details) => row![
                text(details).size(13).width(Length::Fill),
                button(text(fl!("home-lan-copy"))).on_press(Message::CopyLanDetails),
            ]
            .spacing(8)
            .align_y(Alignment::Center)
            .into(),
            None => column![].into(),
        };
        page(scrollable(
            column![
                text(who),
                not_kept,
                lan,
                toolbar,
                rule::horizontal(1),
                join_form,
                rule::horizontal(1),
                container(upcoming).width(Length::Fill),
            ]
            .spacing(16)
            .padding(iced::Padding::ZERO.right(16)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Language;
    use iced_test::simulator;

    fn guest_home() -> State {
        State::new(Session::test_guest())
    }

    fn act(state: &mut State, messages: Vec<Message>) -> Vec<Action> {
        messages.into_iter().map(|m| state.update(m)).collect()
    }

    fn type_into(state: &mut State, id: &'static str, value: &str) {
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(Id::new(id)).expect("field");
            ui.typewrite(value);
            ui.into_messages().collect::<Vec<_>>()
        };
        act(state, messages);
    }

    #[test]
    fn a_bad_meeting_number_is_refused_on_screen() {
        let _language = crate::test_language(Language::English);
        let mut state = guest_home();
        type_into(&mut state, NUMBER_INPUT, "12ab");
        let messages = {
            let mut ui = simulator(state.view());
            ui.click("Join").expect("join button");
            ui.into_messages().collect::<Vec<_>>()
        };
        let actions = act(&mut state, messages);
        assert!(actions.iter().all(|a| matches!(a, Action::None)));
        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("home-error-number")).is_ok());
    }

    #[test]
    fn join_emits_the_request_with_number_password_and_name() {
        let _language = crate::test_language(Language::English);
        let mut state = guest_home();
        type_into(&mut state, NUMBER_INPUT, "12345678901");
        type_into(&mut state, PASSWORD_INPUT, "Secret-Pass1");
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(Id::new(PASSWORD_INPUT)).expect("password field");
            ui.tap_key(iced::keyboard::key::Named::Enter);
            ui.into_messages().collect::<Vec<_>>()
        };
        let request = act(&mut state, messages)
            .into_iter()
            .find_map(|action| match action {
                Action::Join(request) => Some(request),
                _ => None,
            })
            .expect("Enter in the form joins");
        assert_eq!(request.meeting.as_str(), "12345678901");
        assert_eq!(
            request.password.as_ref().map(|p| p.expose().to_owned()),
            Some("Secret-Pass1".to_owned())
        );
        assert_eq!(request.display_name.as_str(), "Aiko");
        assert!(request.identity.is_none());
        assert_eq!(request.server, "127.0.0.1:8443");
    }

    #[test]
    fn guests_see_no_schedule_or_instant_meeting() {
        let _language = crate::test_language(Language::English);
        let state = guest_home();
        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("home-schedule")).is_err());
        assert!(ui.find(fl!("home-instant")).is_err());
        assert!(ui.find(fl!("home-guest-no-list")).is_ok());
    }

    #[test]
    fn a_sign_in_without_a_keychain_says_it_lasts_for_this_run_only() {
        let _language = crate::test_language(Language::English);
        let mut session = guest_home().session;
        session.not_kept = Some("no session keyring".into());
        let state = State::new(session);
        let mut ui = simulator(state.view());
        assert!(
            ui.find(fl!("home-sign-in-not-kept", detail = "no session keyring"))
                .is_ok()
        );
        let kept = guest_home();
        let mut ui = simulator(kept.view());
        assert!(
            ui.find(fl!("home-sign-in-not-kept", detail = "no session keyring"))
                .is_err()
        );
    }

    fn scheduled(number: &str, viewer_is_co_host: bool) -> ScheduledMeeting {
        let request = crate::screens::schedule::Form {
            title: "Budget review".into(),
            start: "2026-12-01 10:00".into(),
            time_zone: "Asia/Tokyo".into(),
            ..crate::screens::schedule::Form::default()
        }
        .request()
        .expect("valid form");
        crate::screens::schedule::sample_meeting(request, number, viewer_is_co_host)
    }

    fn click(state: &mut State, label: &str) -> Vec<Action> {
        let messages: Vec<Message> = {
            let mut ui = simulator(state.view());
            ui.click(label).expect("on screen");
            ui.into_messages().collect()
        };
        act(state, messages)
    }

    #[test]
    fn cancelling_a_scheduled_meeting_asks_first_and_keep_changes_nothing() {
        let _language = crate::test_language(Language::English);
        let mut state = guest_home();
        let _ = state.update(Message::Listed(Ok(vec![scheduled("12345678901", false)])));
        assert!(
            simulator(state.view())
                .find(fl!("home-cancel-confirm"))
                .is_err()
        );
        click(&mut state, &fl!("home-cancel-meeting"));
        assert!(
            simulator(state.view())
                .find(fl!("home-cancel-confirm"))
                .is_ok()
        );
        click(&mut state, &fl!("home-cancel-keep"));
        assert!(
            simulator(state.view())
                .find(fl!("home-cancel-confirm"))
                .is_err()
        );
        assert_eq!(state.confirm_cancel, None);
        click(&mut state, &fl!("home-cancel-meeting"));
        assert_eq!(state.confirm_cancel.as_deref(), Some("12345678901"));
    }

    #[test]
    fn a_co_host_can_join_but_not_cancel() {
        let _language = crate::test_language(Language::English);
        let mut state = guest_home();
        let _ = state.update(Message::Listed(Ok(vec![scheduled("12345678901", true)])));
        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("home-join-this")).is_ok());
        assert!(ui.find(fl!("home-cancel-meeting")).is_err());
        assert!(ui.find(fl!("home-edit-meeting")).is_err(), "nor change it");
    }

    #[test]
    fn a_refused_cancellation_is_shown() {
        let _language = crate::test_language(Language::English);
        let mut state = guest_home();
        let _ = state.update(Message::Listed(Ok(vec![scheduled("12345678901", false)])));
        let _ = state.update(Message::Cancelled(Err(UiError::Refused(
            "not yours".into(),
        ))));
        let shown = fl!("common-error-refused", detail = "not yours");
        assert!(simulator(state.view()).find(shown).is_ok());
    }

    #[test]
    fn every_home_action_can_be_reached_from_the_keyboard() {
        use iced::keyboard::key::Named;
        let _language = crate::test_language(Language::English);
        let mut state = guest_home();
        let _ = state.update(Message::Listed(Ok(vec![scheduled("12345678901", false)])));
        let messages = crate::controls::reachable(|| state.view(), 20, &[Named::Enter]);
        crate::controls::assert_reachable(
            &messages,
            &[
                "JoinScheduled(\"12345678901\")",
                "EditMeeting(\"12345678901\")",
                "CancelMeeting(\"12345678901\")",
                "Join",
                "SignOut",
                "Settings",
            ],
        );
        // And the confirmation that follows.
        let _ = state.update(Message::CancelMeeting("12345678901".into()));
        let messages = crate::controls::reachable(|| state.view(), 20, &[Named::Enter]);
        crate::controls::assert_reachable(&messages, &["ConfirmCancel", "KeepMeeting"]);
    }

    #[test]
    fn hosting_for_the_network_shows_how_others_join_with_the_fingerprint() {
        let _language = crate::test_language(Language::English);
        let pin = "AB:CD:EF:01";
        let hosted = |server: &str, hosting_locally: bool| {
            let mut session = Session::test_guest();
            session.server = server.into();
            session.trust = TlsTrust::PinnedSha256(pin.into());
            session.hosting_locally = hosting_locally;
            State::new(session)
        };
        let expected = fl!("home-lan-join", server = "192.168.1.20:8443", pin = pin);
        let mut lan = hosted("192.168.1.20:8443", true);
        assert!(simulator(lan.view()).find(expected.as_str()).is_ok());
        let messages: Vec<Message> = {
            let mut ui = simulator(lan.view());
            ui.click(fl!("home-lan-copy").as_str())
                .expect("copy button");
            ui.into_messages().collect()
        };
        assert!(matches!(
            act(&mut lan, messages).as_slice(),
            [Action::Run(_)]
        ));
        // Only this computer can reach it, or the server is someone else's: nothing to tell.
        for state in [
            hosted("127.0.0.1:8443", true),
            hosted("192.168.1.20:8443", false),
        ] {
            let mut ui = simulator(state.view());
            assert!(ui.find(fl!("home-lan-copy").as_str()).is_err());
        }
    }
}
