//! Schedule a meeting with every option of the scheduling API. After saving: what end-to-end
//! encryption turns off, the password (generated to the organization's policy unless the host
//! typed one) hidden until the host asks to see it, with a Copy button, the
//! invitation `.ics` through a save dialog, the invitation text and — separately — the
//! password message. Invitations are rendered by `conclave_core::invite`.

use std::path::PathBuf;

use crate::controls::{button, checkbox};
use chrono::{NaiveDate, NaiveDateTime, Utc, Weekday};
use conclave_core::client::schedule_api::Scheduler;
use conclave_core::invite::{
    InvitationInput, Language as InviteLanguage, render_ics, render_password_message, render_text,
};
use conclave_core::schedule::{
    MeetingOptions, MeetingUpdate, ScheduleError, ScheduleRequest, ScheduledMeeting,
    WeeklyRecurrence, When, validate_title,
};
use iced::widget::{Id, column, row, rule, scrollable, text, text_input};
use iced::{Alignment, Element, Length, Task};

use super::{Session, UiError, error_line, page};
use crate::fl;
use crate::service::secrets;

pub const TITLE_INPUT: &str = "schedule-title";
pub const START_INPUT: &str = "schedule-start";
pub const DURATION_INPUT: &str = "schedule-duration";
pub const ZONE_INPUT: &str = "schedule-zone";
pub const PASSWORD_INPUT: &str = "schedule-password";

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// What the form holds.
#[derive(Debug, Clone)]
pub struct Form {
    pub title: String,
    pub start: String,
    pub duration: String,
    pub time_zone: String,
    pub days: [bool; 7],
    pub until: String,
    pub count: String,
    pub lobby: bool,
    pub require_sign_in: bool,
    pub auto_lock: String,
    pub join_before_host: bool,
    pub exclude_password_from_invitation: bool,
    pub co_hosts: String,
    /// Empty: the server generates a password that meets the policy.
    pub own_password: String,
}

impl Default for Form {
    fn default() -> Self {
        let tomorrow = Utc::now().date_naive().succ_opt().unwrap_or_default();
        Self {
            title: String::new(),
            start: format!("{} 10:00", tomorrow.format("%Y-%m-%d")),
            duration: "60".into(),
            time_zone: iana_time_zone::get_timezone().unwrap_or_else(|_| "UTC".into()),
            days: [false; 7],
            until: String::new(),
            count: String::new(),
            lobby: true,
            require_sign_in: false,
            auto_lock: String::new(),
            join_before_host: false,
            exclude_password_from_invitation: true,
            co_hosts: String::new(),
            own_password: String::new(),
        }
    }
}

fn schedule_error(error: &ScheduleError) -> UiError {
    UiError::Refused(match error {
        ScheduleError::UnknownTimeZone(zone) => {
            fl!("schedule-error-zone", zone = zone.as_str())
        }
        ScheduleError::NonexistentLocalTime { .. } => fl!("schedule-error-nonexistent"),
        ScheduleError::Duration => fl!("schedule-error-duration"),
        ScheduleError::RecurrenceDays => fl!("schedule-error-days"),
        ScheduleError::RecurrenceEnd => fl!("schedule-error-end"),
        ScheduleError::RecurrenceCount => fl!("schedule-error-count"),
        ScheduleError::RecurrenceUntil => fl!("schedule-error-until"),
        ScheduleError::AutoLock => fl!("schedule-error-auto-lock"),
        ScheduleError::Title => fl!("schedule-error-title"),
    })
}

impl Form {
    /// The form for changing `meeting` (its password stays unless a new one is typed).
    pub fn from_meeting(meeting: &ScheduledMeeting) -> Self {
        let when = &meeting.when;
        let (days, until, count) = match &when.recurrence {
            Some(recurrence) => (
                WEEKDAYS.map(|day| recurrence.days.contains(&day)),
                recurrence
                    .until
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                recurrence.count.map(|c| c.to_string()).unwrap_or_default(),
            ),
            None => ([false; 7], String::new(), String::new()),
        };
        let options = &meeting.options;
        Self {
            title: meeting.title.clone(),
            start: when.start.format("%Y-%m-%d %H:%M").to_string(),
            duration: when.duration_minutes.to_string(),
            time_zone: when.time_zone.clone(),
            days,
            until,
            count,
            lobby: options.lobby,
            require_sign_in: options.require_sign_in,
            auto_lock: options
                .auto_lock_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            join_before_host: options.join_before_host,
            exclude_password_from_invitation: options.exclude_password_from_invitation,
            co_hosts: meeting.co_hosts.join(", "),
            own_password: String::new(),
        }
    }

    /// The change to send for a meeting at `sequence`: every field as the form has it; the
    /// server refuses it if someone changed the meeting meanwhile.
    pub fn update(&self, sequence: u32) -> Result<MeetingUpdate, UiError> {
        let request = self.request()?;
        Ok(MeetingUpdate {
            title: Some(request.title),
            when: Some(request.when),
            require_sign_in: Some(request.options.require_sign_in),
            lobby: Some(request.options.lobby),
            auto_lock_minutes: Some(request.options.auto_lock_minutes),
            join_before_host: Some(request.options.join_before_host),
            exclude_password_from_invitation: Some(
                request.options.exclude_password_from_invitation,
            ),
            co_hosts: Some(request.co_hosts),
            password: request.password,
            regenerate_password: false,
            if_sequence: Some(sequence),
        })
    }

    /// The request the form describes, or what is wrong with it.
    pub fn request(&self) -> Result<ScheduleRequest, UiError> {
        let title = self.title.trim().to_owned();
        validate_title(&title).map_err(|e| schedule_error(&e))?;
        let start = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(self.start.trim(), format).ok())
            .ok_or_else(|| UiError::Refused(fl!("schedule-error-start")))?;
        let duration_minutes = self
            .duration
            .trim()
            .parse()
            .map_err(|_| schedule_error(&ScheduleError::Duration))?;
        let days: Vec<Weekday> = WEEKDAYS
            .iter()
            .zip(self.days)
            .filter_map(|(day, on)| on.then_some(*day))
            .collect();
        let recurrence = if days.is_empty() {
            None
        } else {
            let until = match self.until.trim() {
                "" => None,
                date => Some(
                    NaiveDate::parse_from_str(date, "%Y-%m-%d")
                        .map_err(|_| UiError::Refused(fl!("schedule-error-until-format")))?,
                ),
            };
            let count = match self.count.trim() {
                "" => None,
                count => Some(
                    count
                        .parse()
                        .map_err(|_| schedule_error(&ScheduleError::RecurrenceCount))?,
                ),
            };
            Some(WeeklyRecurrence { days, until, count })
        };
        let when = When {
            start,
            time_zone: self.time_zone.trim().to_owned(),
            duration_minutes,
            recurrence,
        };
        when.validate().map_err(|e| schedule_error(&e))?;
        let auto_lock_minutes = match self.auto_lock.trim() {
            "" => None,
            minutes => Some(
                minutes
                    .parse()
                    .map_err(|_| schedule_error(&ScheduleError::AutoLock))?,
            ),
        };
        let options = MeetingOptions {
            require_sign_in: self.require_sign_in,
            lobby: self.lobby,
            auto_lock_minutes,
            join_before_host: self.join_before_host,
            exclude_password_from_invitation: self.exclude_password_from_invitation,
        };
        options.validate().map_err(|e| schedule_error(&e))?;
        Ok(ScheduleRequest {
            title,
            when,
            options,
            co_hosts: self
                .co_hosts
                .split([',', ' ', '、'])
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
            password: (!self.own_password.is_empty()).then(|| self.own_password.clone()),
        })
    }
}

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

fn invite_language() -> InviteLanguage {
    InviteLanguage::from_tag(crate::i18n::current_language().tag())
}

impl State {
    pub fn new(session: Session) -> Self {
        Self {
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

    fn input<'a>(&'a self, saved: &'a Saved) -> InvitationInput<'a> {
        InvitationInput {
            meeting: &saved.meeting,
            password: saved.password.as_deref(),
            language: invite_language(),
            organizer_email: None,
            now: Utc::now(),
        }
    }

    /// The invitation as `.ics` text (core's renderer; the password only if the host allowed it).
    pub fn invitation_ics(&self) -> Option<Result<String, UiError>> {
        let saved = self.saved.as_ref()?;
        Some(render_ics(&self.input(saved)).map_err(|e| UiError::BadAnswer(e.to_string())))
    }

    pub fn invitation_text(&self) -> Option<Result<String, UiError>> {
        let saved = self.saved.as_ref()?;
        Some(render_text(&self.input(saved)).map_err(|e| UiError::BadAnswer(e.to_string())))
    }

    pub fn password_message(&self) -> Option<Result<String, UiError>> {
        let saved = self.saved.as_ref()?;
        let password = saved.password.as_deref()?;
        Some(
            render_password_message(&saved.meeting, password, invite_language())
                .map_err(|e| UiError::BadAnswer(e.to_string())),
        )
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
            Message::Lobby(v) => form.lobby = v,
            Message::RequireSignIn(v) => form.require_sign_in = v,
            Message::AutoLock(v) => form.auto_lock = v,
            Message::JoinBeforeHost(v) => form.join_before_host = v,
            Message::ExcludePassword(v) => form.exclude_password_from_invitation = v,
            Message::CoHosts(v) => form.co_hosts = v,
            Message::OwnPassword(v) => form.own_password = v,
            Message::ShowPassword(shown) => self.password_shown = shown,
            Message::Save if !self.saving => {
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
                return Action::Run(Task::perform(
                    async move {
                        let scheduler = Scheduler::new(&server, &trust, &token)?;
                        let response = match change {
                            Change::Schedule(request) => scheduler.schedule(&request).await?,
                            Change::Update(number, update) => {
                                scheduler.update(&number, &update).await?
                            }
                        };
                        Ok(Box::new(Saved {
                            meeting: response.meeting,
                            password: response.password,
                        }))
                    },
                    Message::Saved,
                ));
            }
            Message::Save => {}
            Message::Saved(result) => {
                self.saving = false;
                match result {
                    Ok(saved) => {
                        let saved = *saved;
                        let keep = saved.password.clone().map(|password| {
                            let account = secrets::meeting_password_account(
                                &self.session.server,
                                &saved.meeting.number,
                            );
                            Task::perform(
                                async move {
                                    secrets::blocking(move || secrets::set(&account, &password))
                                        .await
                                        .map_err(UiError::from)
                                },
                                Message::KeptPassword,
                            )
                        });
                        let edited_without_password =
                            self.editing.is_some() && saved.password.is_none();
                        let account = secrets::meeting_password_account(
                            &self.session.server,
                            &saved.meeting.number,
                        );
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
                    }
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
            Message::ExportIcs => match self.invitation_ics() {
                Some(Ok(ics)) => {
                    let file_name = self
                        .saved
                        .as_ref()
                        .map(|s| format!("conclave-{}.ics", s.meeting.number))
                        .unwrap_or_else(|| "conclave.ics".into());
                    return Action::Run(Task::perform(
                        save_with_dialog(file_name, ics),
                        Message::Exported,
                    ));
                }
                Some(Err(error)) => self.error = Some(error),
                None => {}
            },
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

    fn form_view(&self) -> Element<'_, Message> {
        let form = &self.form;
        let field = |label: String, input: Element<'static, Message>| -> Element<'_, Message> {
            column![text(label).size(14), input].spacing(4).into()
        };
        let days = WEEKDAYS
            .iter()
            .enumerate()
            .fold(row![].spacing(8), |row, (i, day)| {
                row.push(checkbox(form.days[i], weekday_name(*day), move |on| {
                    Message::Day(i, on)
                }))
            });
        column![
            field(
                fl!("schedule-title-label"),
                text_input(&fl!("schedule-title-placeholder"), &form.title)
                    .id(Id::new(TITLE_INPUT))
                    .on_input(Message::Title)
                    .on_submit(Message::Save)
                    .into()
            ),
            text(fl!("schedule-title-hint")).size(12),
            row![
                field(
                    fl!("schedule-start-label"),
                    text_input("2026-12-01 10:00", &form.start)
                        .id(Id::new(START_INPUT))
                        .on_input(Message::Start)
                        .into()
                ),
                field(
                    fl!("schedule-duration-label"),
                    text_input("60", &form.duration)
                        .id(Id::new(DURATION_INPUT))
                        .on_input(Message::Duration)
                        .into()
                ),
                field(
                    fl!("schedule-zone-label"),
                    text_input("Asia/Tokyo", &form.time_zone)
                        .id(Id::new(ZONE_INPUT))
                        .on_input(Message::TimeZone)
                        .into()
                ),
            ]
            .spacing(8),
            text(fl!("schedule-repeat-label")).size(14),
            days,
            row![
                field(
                    fl!("schedule-until-label"),
                    text_input("2027-03-31", &form.until)
                        .on_input(Message::Until)
                        .into()
                ),
                field(
                    fl!("schedule-count-label"),
                    text_input("10", &form.count)
                        .on_input(Message::Count)
                        .into()
                ),
            ]
            .spacing(8),
            rule::horizontal(1),
            checkbox(form.lobby, fl!("schedule-lobby"), Message::Lobby),
            checkbox(
                form.require_sign_in,
                fl!("schedule-require-sign-in"),
                Message::RequireSignIn
            ),
            checkbox(
                form.join_before_host,
                fl!("schedule-join-before-host"),
                Message::JoinBeforeHost
            ),
            field(
                fl!("schedule-auto-lock-label"),
                text_input(&fl!("schedule-auto-lock-placeholder"), &form.auto_lock)
                    .on_input(Message::AutoLock)
                    .into()
            ),
            checkbox(
                form.exclude_password_from_invitation,
                fl!("schedule-exclude-password"),
                Message::ExcludePassword
            ),
            field(
                fl!("schedule-co-hosts-label"),
                text_input("aiko, ben", &form.co_hosts)
                    .on_input(Message::CoHosts)
                    .into()
            ),
            field(
                fl!("schedule-password-label"),
                text_input(&fl!("schedule-password-placeholder"), &form.own_password)
                    .id(Id::new(PASSWORD_INPUT))
                    .secure(true)
                    .on_input(Message::OwnPassword)
                    .on_submit(Message::Save)
                    .into()
            ),
        ]
        .spacing(8)
        .into()
    }

    fn saved_view<'a>(&'a self, saved: &'a Saved) -> Element<'a, Message> {
        let mut content = column![
            text(fl!("schedule-e2ee-confirmation")).size(16),
            e2ee_turns_off(),
            text(fl!(
                "schedule-saved-number",
                number = saved.meeting.number.as_str()
            ))
            .size(20),
        ]
        .spacing(10);
        if let Some(password) = &saved.password {
            let (shown, toggle) = if self.password_shown {
                (
                    fl!("schedule-saved-password", password = password.as_str()),
                    button(text(fl!("schedule-hide-password")))
                        .on_press(Message::ShowPassword(false)),
                )
            } else {
                (
                    fl!("schedule-saved-password-hidden"),
                    button(text(fl!("schedule-show-password")))
                        .on_press(Message::ShowPassword(true)),
                )
            };
            content = content.push(
                row![
                    text(shown).width(Length::Fill),
                    toggle,
                    button(text(fl!("schedule-copy-password"))).on_press(Message::CopyPassword),
                ]
                .align_y(Alignment::Center)
                .spacing(8),
            );
        } else {
            // A changed meeting whose password this device does not keep: say why there is
            // no password message to copy, and how to get one.
            content = content.push(text(fl!("schedule-password-not-on-device")).size(13));
        }
        content = content.push(text(
            if saved.meeting.options.exclude_password_from_invitation {
                fl!("schedule-password-excluded")
            } else {
                fl!("schedule-password-included")
            },
        ));
        let mut actions = row![
            button(text(fl!("schedule-export-ics")))
                .on_press(Message::ExportIcs)
                .style(button::primary),
            button(text(fl!("schedule-copy-invitation"))).on_press(Message::CopyInvitation),
        ]
        .spacing(8);
        if saved.password.is_some() {
            actions = actions.push(
                button(text(fl!("schedule-copy-password-message")))
                    .on_press(Message::CopyPasswordMessage),
            );
        }
        content
            .push(actions)
            .push(button(text(fl!("common-done"))).on_press(Message::Back))
            .into()
    }

    pub fn view(&self) -> Element<'_, Message> {
        let body = match &self.saved {
            Some(saved) => self.saved_view(saved),
            None => self.form_view(),
        };
        let status: Element<'_, Message> = match (&self.error, &self.notice, self.saving) {
            (_, _, true) => text(fl!("common-working")).into(),
            (Some(error), _, _) => error_line(Some(error)),
            (None, Some(notice), _) => text(notice.as_str()).into(),
            (None, None, false) => column![].into(),
        };
        // The buttons and the status stay in view below the scrolling form.
        let buttons: Element<'_, Message> = if self.saved.is_some() {
            column![].into()
        } else {
            row![
                button(text(if self.editing.is_some() {
                    fl!("schedule-save-changes")
                } else {
                    fl!("schedule-save")
                }))
                .on_press_maybe((!self.saving).then_some(Message::Save))
                .style(button::primary),
                button(text(fl!("common-back"))).on_press(Message::Back),
            ]
            .spacing(8)
            .into()
        };
        page(
            column![
                scrollable(
                    column![
                        text(if self.editing.is_some() {
                            fl!("schedule-edit-heading")
                        } else {
                            fl!("schedule-heading")
                        })
                        .size(28),
                        body
                    ]
                    .spacing(16)
                    .padding(iced::Padding::ZERO.right(16)),
                )
                .height(Length::Fill),
                status,
                buttons,
            ]
            .spacing(12),
        )
    }
}

fn weekday_name(day: Weekday) -> String {
    match day {
        Weekday::Mon => fl!("schedule-day-mon"),
        Weekday::Tue => fl!("schedule-day-tue"),
        Weekday::Wed => fl!("schedule-day-wed"),
        Weekday::Thu => fl!("schedule-day-thu"),
        Weekday::Fri => fl!("schedule-day-fri"),
        Weekday::Sat => fl!("schedule-day-sat"),
        Weekday::Sun => fl!("schedule-day-sun"),
    }
}

/// Asks where to save (native dialog) and writes the file; `None` if the user cancelled.
///
/// A dialog that "returns" faster than anyone could press Cancel never opened (on Linux
/// without an xdg portal or zenity, rfd gives up at once): the file then goes to the
/// Downloads folder (else the home folder) under a name not yet taken, and the notice says
/// where, so nothing is lost.
pub async fn save_with_dialog(
    file_name: String,
    content: String,
) -> Result<Option<PathBuf>, UiError> {
    let asked = std::time::Instant::now();
    let Some(handle) = rfd::AsyncFileDialog::new()
        .set_file_name(&file_name)
        .save_file()
        .await
    else {
        if asked.elapsed() >= NO_DIALOG_WITHIN {
            return Ok(None);
        }
        tracing::warn!("no file dialog could open; saving to the downloads folder");
        let folder = dirs::download_dir()
            .or_else(dirs::home_dir)
            .ok_or_else(|| UiError::File(fl!("common-no-save-folder")))?;
        let path = free_path(&folder, &file_name);
        tokio::fs::write(&path, content)
            .await
            .map_err(|e| UiError::File(format!("{}: {e}", path.display())))?;
        return Ok(Some(path));
    };
    let path = handle.path().to_path_buf();
    tokio::fs::write(&path, content)
        .await
        .map_err(|e| UiError::File(format!("{}: {e}", path.display())))?;
    Ok(Some(path))
}

/// Quicker than a person can cancel a dialog.
const NO_DIALOG_WITHIN: std::time::Duration = std::time::Duration::from_millis(300);

/// `folder/name`, or `folder/stem (2).ext` and so on if that is taken: never overwrite.
fn free_path(folder: &std::path::Path, name: &str) -> PathBuf {
    let candidate = folder.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) => (stem, format!(".{extension}")),
        None => (name, String::new()),
    };
    (2..)
        .map(|n| folder.join(format!("{stem} ({n}){extension}")))
        .find(|path| !path.exists())
        .unwrap_or(candidate)
}

/// A scheduled meeting as the server would answer `request` (for tests of the screens that
/// list or show meetings).
/// What end-to-end encryption turns off, in display order (the `e2ee-turns-off-*` Fluent
/// strings, which the meeting's padlock panel shows too).
pub fn e2ee_turns_off_items() -> [String; 4] {
    [
        fl!("e2ee-turns-off-recording"),
        fl!("e2ee-turns-off-dial-in"),
        fl!("e2ee-turns-off-video-systems"),
        fl!("e2ee-turns-off-browser"),
    ]
}

/// "With end-to-end encryption, these are off:" and the list, under the E2EE confirmation.
pub fn e2ee_turns_off<'a, M: 'a>() -> Element<'a, M> {
    let mut list = column![text(fl!("e2ee-turns-off-title")).size(13)].spacing(2);
    for item in e2ee_turns_off_items() {
        list = list.push(text(format!("• {item}")).size(13));
    }
    list.into()
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Language;
    use conclave_core::client::TlsTrust;
    use iced_test::simulator;

    fn session() -> Session {
        Session {
            server: "127.0.0.1:8443".into(),
            trust: TlsTrust::PublicRoots,
            display_name: "Hana".into(),
            account: None,
            hosting_locally: true,
            not_kept: None,
        }
    }

    fn saved(exclude: bool) -> Saved {
        let request = Form {
            title: "Budget review".into(),
            start: "2026-12-01 10:00".into(),
            time_zone: "Asia/Tokyo".into(),
            exclude_password_from_invitation: exclude,
            ..Form::default()
        }
        .request()
        .expect("valid form");
        Saved {
            meeting: sample_meeting(request, "12345678901", false),
            password: Some("Gen3ratedPass".into()),
        }
    }

    #[test]
    fn exclude_password_from_invitation_is_on_by_default() {
        let _language = crate::test_language(Language::English);
        let state = State::new(session());
        assert!(state.form.exclude_password_from_invitation);
        assert!(
            state
                .form
                .request()
                .map(|_| ())
                .is_err_and(|e| e == schedule_error(&ScheduleError::Title))
        );
    }

    #[test]
    fn the_generated_password_is_shown_with_copy_and_stays_out_of_the_invitation() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        let _ = state.update(Message::Saved(Ok(Box::new(saved(true)))));
        let shown = fl!("schedule-saved-password", password = "Gen3ratedPass");
        assert_eq!(shown, "Password: Gen3ratedPass");
        // Hidden until asked for (screenshots and screen shares must not catch it).
        assert!(simulator(state.view()).find(shown.clone()).is_err());
        let _ = state.update(Message::ShowPassword(true));
        let mut ui = simulator(state.view());
        assert!(ui.find(shown).is_ok());
        assert!(ui.click(fl!("schedule-copy-password")).is_ok());
        let messages: Vec<_> = ui.into_messages().collect();
        assert!(matches!(messages.as_slice(), [Message::CopyPassword]));
        assert!(matches!(
            state.update(Message::CopyPassword),
            Action::Run(_)
        ));

        let ics = state.invitation_ics().expect("saved").expect("renders");
        assert!(ics.contains("BEGIN:VCALENDAR"));
        assert!(!ics.contains("Gen3ratedPass"));
        let text = state.invitation_text().expect("saved").expect("renders");
        assert!(!text.contains("Gen3ratedPass"));
        let message = state.password_message().expect("saved").expect("renders");
        assert!(message.contains("Gen3ratedPass"));
    }

    #[test]
    fn export_and_copy_buttons_start_their_tasks() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        let _ = state.update(Message::Saved(Ok(Box::new(saved(true)))));
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(fl!("schedule-export-ics")).expect("export button");
            ui.click(fl!("schedule-copy-invitation"))
                .expect("copy button");
            ui.click(fl!("schedule-copy-password-message"))
                .expect("password message button");
            ui.into_messages().collect::<Vec<_>>()
        };
        assert_eq!(messages.len(), 3);
        for message in messages {
            assert!(matches!(state.update(message), Action::Run(_)));
        }
    }

    #[test]
    fn an_included_password_reaches_the_invitation_when_the_host_allows_it() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        let _ = state.update(Message::Saved(Ok(Box::new(saved(false)))));
        let text = state.invitation_text().expect("saved").expect("renders");
        assert!(text.contains("Gen3ratedPass"));
    }

    #[test]
    fn form_errors_are_shown_in_the_users_words() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        state.form.title = "Review".into();
        state.form.time_zone = "Mars/Olympus".into();
        let _ = state.update(Message::Save);
        {
            let mut ui = simulator(state.view());
            assert!(
                ui.find(fl!("schedule-error-zone", zone = "Mars/Olympus"))
                    .is_ok()
            );
        }
        state.form.time_zone = "Asia/Tokyo".into();
        state.form.days[1] = true;
        state.form.until = "2026-12-31".into();
        state.form.count = "3".into();
        assert_eq!(
            state.form.request().map(|_| ()),
            Err(schedule_error(&ScheduleError::RecurrenceEnd))
        );
    }

    #[test]
    fn a_fallback_save_never_overwrites_an_existing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = free_path(dir.path(), "invitation.ics");
        assert_eq!(first, dir.path().join("invitation.ics"));
        std::fs::write(&first, "kept").expect("write");
        let second = free_path(dir.path(), "invitation.ics");
        assert_eq!(second, dir.path().join("invitation (2).ics"));
        std::fs::write(&second, "kept too").expect("write");
        assert_eq!(
            free_path(dir.path(), "invitation.ics"),
            dir.path().join("invitation (3).ics")
        );
        assert_eq!(
            free_path(dir.path(), "notes"),
            dir.path().join("notes"),
            "no extension"
        );
    }

    #[test]
    fn editing_starts_from_the_meeting_and_saves_the_same_meeting_unless_changed() {
        let _language = crate::test_language(Language::Japanese);
        let original = Form {
            title: "週次定例".into(),
            start: "2030-06-04 10:00".into(),
            duration: "45".into(),
            time_zone: "Asia/Tokyo".into(),
            days: [false, true, false, true, false, false, false],
            count: "8".into(),
            lobby: false,
            require_sign_in: true,
            auto_lock: "10".into(),
            exclude_password_from_invitation: false,
            co_hosts: "kenji, aiko".into(),
            ..Form::default()
        };
        let request = original.request().expect("valid");
        let mut meeting = sample_meeting(request.clone(), "12345678901", false);
        meeting.co_hosts = request.co_hosts.clone();
        meeting.sequence = 3;

        let mut state = State::edit(session(), meeting);
        // Nothing lost: the form gives back the same request (compared as JSON, what the
        // server gets).
        let json = |r: &ScheduleRequest| serde_json::to_value(r).expect("json");
        assert_eq!(json(&state.form.request().expect("valid")), json(&request));
        let update = state.form.update(3).expect("valid");
        assert_eq!(update.if_sequence, Some(3), "refused if changed meanwhile");
        assert_eq!(update.password, None, "the password stays");
        assert_eq!(update.co_hosts.as_deref(), Some(&request.co_hosts[..]));

        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("schedule-edit-heading")).is_ok());
        assert!(ui.find(fl!("schedule-heading")).is_err());
        drop(ui);
        let _ = state.update(Message::Title("週次定例（臨時）".into()));
        let actions: Vec<Action> = {
            let mut ui = simulator(state.view());
            ui.click(fl!("schedule-save-changes").as_str())
                .expect("save changes");
            ui.into_messages().collect::<Vec<_>>()
        }
        .into_iter()
        .map(|m| state.update(m))
        .collect();
        // This session has no sign-in, so nothing is sent; the form was accepted (no error).
        // Sending against a real server: app/tests/home_scheduled.rs.
        assert!(matches!(actions.as_slice(), [Action::None]));
        assert!(state.error.is_none());
        assert_eq!(
            state.form.update(3).expect("valid").title.as_deref(),
            Some("週次定例（臨時）")
        );
    }

    #[test]
    fn every_option_and_button_can_be_set_from_the_keyboard() {
        use iced::keyboard::key::Named;
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        let _ = state.update(Message::Count("3".into()));
        let messages = crate::controls::reachable(|| state.view(), 30, &[Named::Space]);
        crate::controls::assert_reachable(
            &messages,
            &[
                "Day(0, true)",
                "Day(6, true)",
                "Lobby(false)",
                "RequireSignIn(true)",
                "JoinBeforeHost(true)",
                "ExcludePassword(false)",
                "Save",
                "Back",
            ],
        );
    }

    #[test]
    fn the_saved_meeting_can_be_exported_and_copied_from_the_keyboard() {
        use iced::keyboard::key::Named;
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        let _ = state.update(Message::Saved(Ok(Box::new(saved(true)))));
        let messages = crate::controls::reachable(|| state.view(), 12, &[Named::Enter]);
        crate::controls::assert_reachable(
            &messages,
            &[
                "CopyPassword",
                "ExportIcs",
                "CopyInvitation",
                "CopyPasswordMessage",
                "Back",
            ],
        );
    }

    #[test]
    fn a_changed_meeting_without_its_password_here_says_why_there_is_no_password_message() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new(session());
        let mut without = saved(true);
        without.password = None;
        let _ = state.update(Message::Saved(Ok(Box::new(without))));
        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("schedule-password-not-on-device")).is_ok());
        assert!(ui.find(fl!("schedule-copy-password-message")).is_err());
        assert!(
            ui.find(fl!("schedule-export-ics")).is_ok(),
            "the invitation still goes"
        );
    }
}
