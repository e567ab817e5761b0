//! The app's screens. Each has `State`, `Message`, `update → Action` and `view` (see the shell).

pub mod home;
pub mod lobby;
pub mod meeting;
pub mod prejoin;
pub mod schedule;
pub mod settings;
pub mod signin;

use iced::widget::{column, container, text};
use iced::{Element, Length};

// Sessions and errors live in the service layer (no iced there); screens name them from here.
pub use crate::service::session::{Account, Session, UiError, parse_server};

/// The red line under a form that failed.
pub fn error_line<'a, M: 'a>(error: Option<&UiError>) -> Element<'a, M> {
    match error {
        Some(error) => text(error.text())
            .style(text::danger)
            .width(Length::Fill)
            .into(),
        None => column![].into(),
    }
}

/// "Managed by your organisation", under a setting the policy fixes.
pub fn managed_note<'a, M: 'a>() -> Element<'a, M> {
    text(crate::fl!("policy-managed"))
        .size(12)
        .style(text::secondary)
        .into()
}

/// A screen's content, centred with a readable width.
pub fn page<'a, M: 'a>(content: impl Into<Element<'a, M>>) -> Element<'a, M> {
    container(container(content).max_width(720).padding(24))
        .center_x(Length::Fill)
        .into()
}
