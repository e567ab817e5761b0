//! The video grid: one tile per participant with their name, badge and microphone state.
//! Real video arrives with the H.264 work; until then a tile is a name card.

use iced::widget::{column, container, grid, text};
use iced::{Element, Length};

use super::participants::trust_label;
use crate::fl;
use crate::meeting_link::MeetingView;

pub fn view<'a, M: 'a>(view: &'a MeetingView, muted: bool) -> Element<'a, M> {
    let tiles = view.roster.iter().map(|entry| {
        let me = view.me == Some(entry.participant);
        let mic = if me && muted {
            fl!("meeting-tile-muted")
        } else {
            String::new()
        };
        container(
            column![
                text(entry.display_name.clone()).size(18),
                text(trust_label(entry.trust.as_ref())).size(12),
                text(mic).size(12),
            ]
            .spacing(4),
        )
        .padding(12)
        .width(Length::Fill)
        .height(140)
        .style(container::dark)
        .into()
    });
    grid(tiles).columns(3).spacing(8).into()
}
