//! What the schedule screen draws: the form, then the saved meeting with its password,
//! export and copy buttons, and what end-to-end encryption turns off.

use chrono::Weekday;
use iced::widget::{Id, column, row, rule, scrollable, text, text_input};
use iced::{Alignment, Element, Length};

use super::form::WEEKDAYS;
use super::{
    DURATION_INPUT, Message, PASSWORD_INPUT, START_INPUT, Saved, State, TITLE_INPUT, ZONE_INPUT,
};
use crate::controls::{button, checkbox};
use crate::fl;
use crate::screens::{error_line, page};

impl State {
    /// The auto-lock minutes, fixed with "Managed by your organisation" when enforced.
    fn auto_lock_input(&self) -> Element<'_, Message> {
        let input = text_input(&fl!("schedule-auto-lock-placeholder"), &self.form.auto_lock);
        if self.managed.auto_lock_enforced {
            row![input, crate::screens::managed_note()]
                .spacing(12)
                .align_y(Alignment::Center)
                .into()
        } else {
            input.on_input(Message::AutoLock).into()
        }
    }

    fn form_view(&self) -> Element<'_, Message> {
        let form = &self.form;
        fn field<'a>(label: String, input: Element<'a, Message>) -> Element<'a, Message> {
            column![text(label).size(14), input].spacing(4).into()
        }
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
            managed_checkbox(
                form.lobby,
                fl!("schedule-lobby"),
                self.managed.lobby_enforced,
                Message::Lobby
            ),
            managed_checkbox(
                form.require_sign_in,
                fl!("schedule-require-sign-in"),
                self.managed.require_sign_in_enforced,
                Message::RequireSignIn
            ),
            checkbox(
                form.join_before_host,
                fl!("schedule-join-before-host"),
                Message::JoinBeforeHost
            ),
            field(fl!("schedule-auto-lock-label"), self.auto_lock_input()),
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

/// A meeting option's checkbox, shown fixed with "Managed by your organisation" when the
/// organisation enforces it.
fn managed_checkbox<'a>(
    checked: bool,
    label: String,
    enforced: bool,
    on_toggle: fn(bool) -> Message,
) -> Element<'a, Message> {
    if enforced {
        row![
            iced::widget::checkbox(checked).label(label),
            crate::screens::managed_note()
        ]
        .spacing(12)
        .align_y(Alignment::Center)
        .into()
    } else {
        checkbox(checked, label, on_toggle).into()
    }
}
