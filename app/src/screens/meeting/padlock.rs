//! The padlock at the top right: always visible while media is end-to-end encrypted, and a
//! clear warning otherwise (before the keys arrive, or if the group is lost).

use iced::widget::{container, text, tooltip};
use iced::{Border, Color, Element, Theme};

use crate::fl;

const GREEN: Color = Color::from_rgb(0.1, 0.55, 0.25);
const RED: Color = Color::from_rgb(0.75, 0.15, 0.1);

fn badge(color: Color) -> container::Style {
    container::Style {
        text_color: Some(Color::WHITE),
        background: Some(color.into()),
        border: Border {
            radius: 12.0.into(),
            ..Border::default()
        },
        ..container::Style::default()
    }
}

pub fn view<'a, M: 'a>(end_to_end_encrypted: bool) -> Element<'a, M> {
    let (label, explanation, color) = if end_to_end_encrypted {
        (
            format!("🔒 {}", fl!("meeting-padlock")),
            fl!("meeting-padlock-tooltip"),
            GREEN,
        )
    } else {
        (
            format!("⚠ {}", fl!("meeting-not-encrypted")),
            fl!("meeting-not-encrypted-tooltip"),
            RED,
        )
    };
    tooltip(
        container(text(label))
            .padding([6, 12])
            .style(move |_: &Theme| badge(color)),
        container(text(explanation).width(320))
            .padding(8)
            .style(container::rounded_box),
        tooltip::Position::Bottom,
    )
    .into()
}
