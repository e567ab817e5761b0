//! End states and refusals in the user's words: you left, you were expelled, the host ended
//! the meeting, the host did not let you in, …

use crate::controls::button;
use conclave_core::client::LeftReason;
use conclave_protocol::{DenyReason, EndReason, ErrorCode};
use iced::Element;
use iced::widget::{column, text};

use super::Message;
use crate::fl;
use crate::screens::page;

pub fn left_text(reason: &LeftReason) -> String {
    match reason {
        LeftReason::Left => fl!("meeting-ended-left"),
        LeftReason::Expelled(_) => fl!("meeting-ended-expelled"),
        LeftReason::Ended(EndReason::EndedByHost) => fl!("meeting-ended-by-host"),
        LeftReason::Ended(EndReason::Idle) => fl!("meeting-ended-idle"),
        LeftReason::Ended(EndReason::ServerShutdown) => fl!("meeting-ended-shutdown"),
        LeftReason::RemovedFromGroup => fl!("meeting-ended-removed"),
        LeftReason::Denied(reason) => denied_text(reason),
    }
}

pub fn denied_text(reason: &DenyReason) -> String {
    match reason {
        DenyReason::DeniedByHost { reason: Some(why) } => {
            fl!("meeting-denied-reason", reason = why.as_str())
        }
        DenyReason::DeniedByHost { reason: None } => fl!("meeting-denied-by-host"),
        DenyReason::SignInRequired => fl!("meeting-denied-sign-in"),
        DenyReason::Locked => fl!("meeting-denied-locked"),
        DenyReason::Expelled => fl!("meeting-denied-expelled"),
        DenyReason::MeetingFull => fl!("meeting-denied-full"),
        DenyReason::MeetingEnded => fl!("meeting-denied-ended"),
    }
}

/// A server refusal; the server's own words only where no translation fits.
pub fn error_text(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::WrongPassword => fl!("meeting-error-password"),
        ErrorCode::Throttled => fl!("meeting-error-throttled"),
        ErrorCode::MeetingNotFound => fl!("meeting-error-not-found"),
        ErrorCode::SignInRequired => fl!("meeting-denied-sign-in"),
        ErrorCode::Unauthorized => fl!("meeting-unauthorized"),
        ErrorCode::NotAllowed => fl!("meeting-error-not-allowed"),
        _ => fl!("meeting-error", detail = message),
    }
}

pub fn view<'a>(message: String) -> Element<'a, Message> {
    page(
        column![
            text(message).size(22),
            button(text(fl!("meeting-back"))).on_press(Message::Back),
        ]
        .spacing(16),
    )
}
