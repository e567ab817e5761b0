//! Schedule a meeting with every option of the scheduling API. After saving: what end-to-end
//! encryption turns off, the password (generated to the organization's policy unless the host
//! typed one) hidden until the host asks to see it, with a Copy button, the
//! invitation `.ics` through a save dialog, the invitation text and — separately — the
//! password message. Invitations are rendered by `conclave_core::invite`.
//!
//! The form and its checks are in `form`, export and file saving in `export`, drawing in
//! `view`; this file holds the state and what each message does.

mod export;
mod form;
#[cfg(test)]
mod tests;
mod view;

use std::path::PathBuf;

use conclave_core::client::TlsTrust;
use conclave_core::client::schedule_api::Scheduler;
use conclave_protocol::schedule::{MeetingUpdate, ScheduleRequest, ScheduledMeeting};
use iced::Task;

pub use export::save_with_dialog;
pub use form::Form;
pub use view::{e2ee_turns_off, e2ee_turns_off_items};

use super::{Session, UiError};
use crate::fl;
use crate::service::policy::MeetingDefaults;
use crate::service::secrets;
#[cfg(test)]
use {conclave_protocol::schedule::ScheduleError, form::schedule_error};

pub const TITLE_INPUT: &str = "schedule-title";
pub const START_INPUT: &str = "schedule-start";
pub const DURATION_INPUT: &str = "schedule-duration";
pub const ZONE_INPUT: &str = "schedule-zone";
pub const PASSWORD_INPUT: &str = "schedule-password";

/// What Save sends.
enum Change {
    Schedule(Box<ScheduleRequest>),
    Update(String, Box<MeetingUpdate>),
}

/// A saved meeting and the password the server handed out once.
#[derive(Debug, Clone)]
pub struct Saved {
    pub meeting: ScheduledMeeting,
    pub password: Option<String>,
}

pub struct State {
    session: Session,
    /// Changing this scheduled meeting rather than scheduling a new one.
    editing: Option<ScheduledMeeting>,
    pub form: Form,
    saving: bool,
    saved: Option<Saved>,
    /// The saved meeting's password is drawn on screen only while the host asks for it
    /// (screenshots and screen shares would otherwise carry it).
    password_shown: bool,
    error: Option<UiError>,
    notice: Option<String>,
    /// The organisation's meeting defaults; what it enforces is locked in the form.
    managed: MeetingDefaults,
}

#[derive(Debug, Clone)]
pub enum Message {
    Title(String),
    Start(String),
    Duration(String),
    TimeZone(String),
    Day(usize, bool),
    Until(String),
    Count(String),
    Lobby(bool),
    RequireSignIn(bool),
    AutoLock(String),
    JoinBeforeHost(bool),
    ExcludePassword(bool),
    CoHosts(String),
    OwnPassword(String),
    Save,
    Saved(Result<Box<Saved>, UiError>),
    KeptPassword(Result<(), UiError>),
    /// The password kept on this device for an edited meeting (for its updated invitation).
    PasswordLoaded(Result<Option<String>, UiError>),
    /// Show (`true`) or hide the saved meeting's password.
    ShowPassword(bool),
    CopyPassword,
    CopyInvitation,
    CopyPasswordMessage,
    ExportIcs,
    Exported(Result<Option<PathBuf>, UiError>),
    Back,
}

pub enum Action {
    None,
    Run(Task<Message>),
    /// Back to home (the list there refreshes).
    Back,
}

impl State {
    pub fn new(session: Session) -> Self {
        Self {
            managed: MeetingDefaults::default(),
            session,
            editing: None,
            form: Form::default(),
            saving: false,
            saved: None,
            password_shown: false,
            error: None,
            notice: None,
        }
    }

    /// Applies the organisation's meeting defaults: a new meeting starts from them, and what
    /// it enforces cannot be changed (an edited meeting keeps its values, and the enforced
    /// ones are set again).
    pub fn with_policy(mut self, defaults: MeetingDefaults) -> Self {
        let form = &mut self.form;
        if self.editing.is_none() || defaults.lobby_enforced {
            form.lobby = defaults.lobby;
        }
        if self.editing.is_none() || defaults.require_sign_in_enforced {
            form.require_sign_in = defaults.require_sign_in;
        }
        if self.editing.is_none() || defaults.auto_lock_enforced {
            form.auto_lock = match defaults.auto_lock_minutes {
                0 => String::new(),
                minutes => minutes.to_string(),
            };
        }
        self.managed = defaults;
        self
    }

    /// The form for changing a scheduled meeting; saving sends the change and offers the
    /// updated invitation (the calendar replaces the old one: same UID, higher SEQUENCE).
    pub fn edit(session: Session, meeting: ScheduledMeeting) -> Self {
        Self {
            form: Form::from_meeting(&meeting),
            editing: Some(meeting),
            ..Self::new(session)
        }
    }

    pub fn saved(&self) -> Option<&Saved> {
        self.saved.as_ref()
    }

    /// Whether the saved meeting's password is drawn on screen.
    pub fn password_shown(&self) -> bool {
        self.password_shown
    }

    fn copy(&mut self, rendered: Option<Result<String, UiError>>, notice: String) -> Action {
        match rendered {
            Some(Ok(content)) => {
                self.notice = Some(notice);
                Action::Run(iced::clipboard::write(content))
            }
            Some(Err(error)) => {
                self.error = Some(error);
                Action::None
            }
            None => Action::None,
        }
    }

    pub fn update(&mut self, message: Message) -> Action {
        let form = &mut self.form;
        match message {
            Message::Title(v) => form.title = v,
            Message::Start(v) => form.start = v,
            Message::Duration(v) => form.duration = v,
            Message::TimeZone(v) => form.time_zone = v,
            Message::Day(index, on) => {
                if let Some(day) = form.days.get_mut(index) {
                    *day = on;
                }
            }
            Message::Until(v) => form.until = v,
            Message::Count(v) => form.count = v,
            // What the organisation enforces stays as it set it.
            Message::Lobby(_) if self.managed.lobby_enforced => {}
            Message::RequireSignIn(_) if self.managed.require_sign_in_enforced => {}
            Message::AutoLock(_) if self.managed.auto_lock_enforced => {}
            Message::Lobby(v) => form.lobby = v,
            Message::RequireSignIn(v) => form.require_sign_in = v,
            Message::AutoLock(v) => form.auto_lock = v,
            Message::JoinBeforeHost(v) => form.join_before_host = v,
            Message::ExcludePassword(v) => form.exclude_password_from_invitation = v,
            Message::CoHosts(v) => form.co_hosts = v,
            Message::OwnPassword(v) => form.own_password = v,
            Message::ShowPassword(shown) => self.password_shown = shown,
            Message::Save if !self.saving => return self.save(),
            Message::Save => {}
            Message::Saved(result) => {
                self.saving = false;
                match result {
                    Ok(saved) => return self.on_saved(*saved),
                    Err(error) => self.error = Some(error),
                }
            }
            Message::PasswordLoaded(result) => match result {
                Ok(password) => {
                    if let Some(saved) = self.saved.as_mut() {
                        saved.password = password;
                    }
                }
                // Without it the invitation still goes out; the password message can't.
                Err(error) => tracing::warn!(?error, "the meeting password is not on this device"),
            },
            Message::KeptPassword(result) => {
                if let Err(error) = result {
                    self.error = Some(error);
                }
            }
            Message::CopyPassword => {
                let password = self.saved.as_ref().and_then(|s| s.password.clone()).map(Ok);
                return self.copy(password, fl!("schedule-copied-password"));
            }
            Message::CopyInvitation => {
                let rendered = self.invitation_text();
                return self.copy(rendered, fl!("schedule-copied-invitation"));
            }
            Message::CopyPasswordMessage => {
                let rendered = self.password_message();
                return self.copy(rendered, fl!("schedule-copied-password-message"));
            }
            Message::ExportIcs => return self.export_ics(),
            Message::Exported(result) => match result {
                Ok(Some(path)) => {
                    self.notice = Some(fl!("common-saved-to", path = path.display().to_string()));
                }
                Ok(None) => {}
                Err(error) => self.error = Some(error),
            },
            Message::Back => return Action::Back,
        }
        Action::None
    }

    /// Sends the form: a new meeting, or the change to the one being edited.
    fn save(&mut self) -> Action {
        // The form is checked first, so its mistakes show whatever else is wrong.
        let change = match &self.editing {
            Some(meeting) => self
                .form
                .update(meeting.sequence)
                .map(|update| Change::Update(meeting.number.clone(), Box::new(update))),
            None => self
                .form
                .request()
                .map(|request| Change::Schedule(Box::new(request))),
        };
        let change = match change {
            Ok(change) => change,
            Err(error) => {
                self.error = Some(error);
                return Action::None;
            }
        };
        // Guests never reach this screen; without a sign-in there is nothing to send.
        let Some(token) = self.session.token().map(str::to_owned) else {
            return Action::None;
        };
        self.saving = true;
        self.error = None;
        let (server, trust) = (self.session.server.clone(), self.session.trust.clone());
        Action::Run(Task::perform(
            send(server, trust, token, change),
            Message::Saved,
        ))
    }

    /// Shows the saved meeting, and keeps its new password on this device (or, for a change
    /// that kept the password, fetches the one kept here).
    fn on_saved(&mut self, saved: Saved) -> Action {
        let account =
            secrets::meeting_password_account(&self.session.server, &saved.meeting.number);
        let keep = saved.password.clone().map(|password| {
            let account = account.clone();
            Task::perform(
                async move {
                    secrets::blocking(move || secrets::set(&account, &password))
                        .await
                        .map_err(UiError::from)
                },
                Message::KeptPassword,
            )
        });
        let edited_without_password = self.editing.is_some() && saved.password.is_none();
        self.saved = Some(saved);
        self.password_shown = false;
        if let Some(task) = keep {
            return Action::Run(task);
        }
        if edited_without_password {
            // The password did not change: the updated invitation and the
            // password message need the one kept on this device.
            return Action::Run(Task::perform(
                async move {
                    secrets::blocking(move || secrets::get(&account))
                        .await
                        .map_err(UiError::from)
                },
                Message::PasswordLoaded,
            ));
        }
        Action::None
    }
}

/// Sends `change` to the server's scheduling API.
async fn send(
    server: String,
    trust: TlsTrust,
    token: String,
    change: Change,
) -> Result<Box<Saved>, UiError> {
    let scheduler = Scheduler::new(&server, &trust, &token)?;
    let response = match change {
        Change::Schedule(request) => scheduler.schedule(&request).await?,
        Change::Update(number, update) => scheduler.update(&number, &update).await?,
    };
    Ok(Box::new(Saved {
        meeting: response.meeting,
        password: response.password,
    }))
}

/// A scheduled meeting as the server would answer `request` (for tests of the screens that
/// list or show meetings).
#[cfg(test)]
pub(crate) fn sample_meeting(
    request: ScheduleRequest,
    number: &str,
    viewer_is_co_host: bool,
) -> ScheduledMeeting {
    ScheduledMeeting {
        number: number.into(),
        uid: format!("uid-{number}@127.0.0.1"),
        sequence: 0,
        title: request.title,
        when: request.when,
        options: request.options,
        host_name: "Hana".into(),
        co_hosts: Vec::new(),
        viewer_is_co_host,
        server: "127.0.0.1:8443".into(),
        cancelled: false,
    }
}
