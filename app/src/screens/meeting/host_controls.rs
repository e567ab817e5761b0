//! Host and co-host controls: lock/unlock, auto-lock minutes, require sign-in, the lobby list
//! (admit, deny, admit all), expel all unverified, and end the meeting for everyone. Each
//! control becomes one `ClientMessage`; the server and the committer enforce them.

use crate::controls::{button, toggler};
use conclave_protocol::{ClientMessage, ParticipantId};
use iced::widget::{column, container, row, text, text_input};
use iced::{Element, Length};

use crate::fl;
use crate::meeting_link::MeetingView;

pub const AUTO_LOCK_INPUT: &str = "meeting-auto-lock-minutes";

#[derive(Debug, Clone, Default)]
pub struct State {
    auto_lock_text: String,
    auto_lock_invalid: bool,
}

#[derive(Debug, Clone)]
pub enum Message {
    SetLocked(bool),
    AutoLockTyped(String),
    SetAutoLock,
    AutoLockOff,
    SetRequireSignIn(bool),
    Admit(ParticipantId),
    Deny(ParticipantId),
    AdmitAll,
    ExpelUnverified,
    EndForAll,
}

impl State {
    /// The request a control stands for (`None`: local only, or invalid input shown on screen).
    pub fn update(&mut self, message: Message) -> Option<ClientMessage> {
        Some(match message {
            Message::SetLocked(true) => ClientMessage::Lock,
            Message::SetLocked(false) => ClientMessage::Unlock,
            Message::AutoLockTyped(text) => {
                self.auto_lock_text = text;
                self.auto_lock_invalid = false;
                return None;
            }
            Message::SetAutoLock => match self.auto_lock_text.trim().parse::<u32>() {
                Ok(minutes @ 1..=1440) => ClientMessage::SetAutoLock {
                    minutes: Some(minutes),
                },
                _ => {
                    self.auto_lock_invalid = true;
                    return None;
                }
            },
            Message::AutoLockOff => ClientMessage::SetAutoLock { minutes: None },
            Message::SetRequireSignIn(required) => ClientMessage::SetRequireSignIn { required },
            // The engine signs the admission (the committer needs the host's signature).
            Message::Admit(participant) => ClientMessage::Admit {
                participant,
                admission: None,
            },
            Message::Deny(participant) => ClientMessage::Deny {
                participant,
                reason: None,
            },
            Message::AdmitAll => ClientMessage::AdmitAll,
            Message::ExpelUnverified => ClientMessage::ExpelUnverified,
            Message::EndForAll => ClientMessage::EndMeeting,
        })
    }

    pub fn view<'a>(&'a self, view: &'a MeetingView) -> Element<'a, Message> {
        let meeting = view.meeting.clone().unwrap_or_default();
        let lock = if meeting.locked {
            row![
                text(fl!("meeting-locked")).width(iced::Fill),
                button(text(fl!("meeting-unlock"))).on_press(Message::SetLocked(false)),
            ]
        } else {
            row![
                text(fl!("meeting-unlocked")).width(iced::Fill),
                button(text(fl!("meeting-lock"))).on_press(Message::SetLocked(true)),
            ]
        }
        .spacing(8);
        let auto_lock_status = match meeting.auto_lock_minutes {
            Some(minutes) => fl!("meeting-auto-lock-on", minutes = minutes.to_string()),
            None => fl!("meeting-auto-lock-off"),
        };
        let auto_lock = row![
            text(fl!("meeting-auto-lock")),
            text_input("10", &self.auto_lock_text)
                .id(AUTO_LOCK_INPUT)
                .width(64)
                .on_input(Message::AutoLockTyped)
                .on_submit(Message::SetAutoLock),
            button(text(fl!("meeting-auto-lock-set"))).on_press(Message::SetAutoLock),
            button(text(fl!("meeting-auto-lock-disable"))).on_press(Message::AutoLockOff),
        ]
        .spacing(8);
        let require = toggler(
            meeting.require_sign_in,
            fl!("meeting-require-sign-in"),
            Message::SetRequireSignIn,
        );

        let mut panel = column![text(fl!("meeting-host-controls")).size(16), lock].spacing(8);
        if meeting.lobby_after_expulsion {
            panel = panel.push(
                text(fl!("meeting-lobby-after-expulsion"))
                    .size(12)
                    .style(text::warning),
            );
        }
        panel = panel.push(column![text(auto_lock_status).size(12), auto_lock].spacing(8));
        if self.auto_lock_invalid {
            panel = panel.push(text(fl!("meeting-auto-lock-bad")).style(text::danger));
        }
        panel = panel.push(require);
        // While nobody waits the (empty) lobby stays down here; otherwise it is shown at the top.
        if view.lobby.is_empty() {
            panel = panel.push(lobby_view(view));
        }
        panel = panel.push(
            row![
                button(text(fl!("meeting-expel-unverified")))
                    .style(button::danger)
                    .on_press(Message::ExpelUnverified),
                button(text(fl!("meeting-end-for-all")))
                    .style(button::danger)
                    .on_press(Message::EndForAll),
            ]
            .spacing(8),
        );
        container(panel)
            .padding(12)
            .style(container::bordered_box)
            .into()
    }
}

/// The lobby list with admit / deny (and admit all); the meeting screen puts it first while
/// someone is waiting, so the host sees it without scrolling.
pub fn lobby_view(view: &MeetingView) -> Element<'_, Message> {
    let mut lobby =
        column![text(fl!("meeting-lobby", count = view.lobby.len().to_string())).size(16)]
            .spacing(6);
    if view.lobby.is_empty() {
        lobby = lobby.push(text(fl!("meeting-lobby-empty")).size(12));
    }
    for entry in &view.lobby {
        let who = if entry.signed_in {
            fl!("meeting-lobby-signed-in")
        } else {
            fl!("meeting-lobby-guest")
        };
        lobby = lobby.push(
            row![
                text(format!("{} ({who})", entry.display_name.as_str())).width(Length::Fill),
                button(text(fl!("meeting-admit")))
                    .style(button::success)
                    .on_press(Message::Admit(entry.participant)),
                button(text(fl!("meeting-deny")))
                    .style(button::secondary)
                    .on_press(Message::Deny(entry.participant)),
            ]
            .spacing(8),
        );
    }
    if view.lobby.len() > 1 {
        lobby = lobby.push(button(text(fl!("meeting-admit-all"))).on_press(Message::AdmitAll));
    }
    lobby.into()
}
