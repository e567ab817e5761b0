//! The security verification code: 4 groups of 5 digits with the epoch they belong to, and a
//! "code changed — verify again" banner after every membership change, until dismissed.

use crate::controls::button;
use conclave_protocol::verification::VerificationCode;
use iced::widget::{column, container, row, text};
use iced::{Element, Font, Length, font};

use crate::fl;

#[derive(Debug, Clone, Default)]
pub struct State {
    code: Option<VerificationCode>,
    /// The code changed after the user first saw one, and they haven't dismissed the banner.
    changed: bool,
}

#[derive(Debug, Clone)]
pub enum Message {
    Dismiss,
}

impl State {
    /// Takes the current code; a new epoch after an earlier one raises the banner.
    pub fn observe(&mut self, code: Option<VerificationCode>) {
        if let (Some(old), Some(new)) = (self.code, code)
            && old.epoch() != new.epoch()
        {
            self.changed = true;
        }
        if code.is_some() {
            self.code = code;
        }
    }

    pub fn update(&mut self, message: Message) {
        match message {
            Message::Dismiss => self.changed = false,
        }
    }

    pub fn banner_shown(&self) -> bool {
        self.changed
    }

    /// The code panel; with members the server did not announce it says that a matching code
    /// proves nothing about who else holds it.
    pub fn view(&self, unannounced: usize) -> Element<'_, Message> {
        let Some(code) = self.code else {
            return column![].into();
        };
        let bold = Font {
            weight: font::Weight::Bold,
            family: font::Family::Monospace,
            ..Font::default()
        };
        let digits = row(code
            .groups()
            .into_iter()
            .map(|group| text(group).size(22).font(bold).into()))
        .spacing(12);
        let mut panel = column![
            text(fl!("meeting-code-title")).size(14),
            digits,
            text(fl!("meeting-code-epoch", epoch = code.epoch().to_string())).size(12),
            text(fl!("meeting-code-hint")).size(12),
        ]
        .spacing(6);
        if unannounced > 0 {
            panel = panel.push(
                text(fl!(
                    "meeting-code-unannounced",
                    count = unannounced.to_string()
                ))
                .style(text::danger),
            );
        }
        if self.changed {
            panel = panel.push(
                container(
                    column![
                        text(fl!("meeting-code-changed")),
                        button(text(fl!("meeting-dismiss"))).on_press(Message::Dismiss),
                    ]
                    .spacing(8),
                )
                .padding(8)
                .style(container::rounded_box),
            );
        }
        container(panel)
            .padding(12)
            .width(Length::Fill)
            .style(container::bordered_box)
            .into()
    }
}
