//! The video grid: one tile per participant with their picture (decoded from their
//! end-to-end encrypted video), name, badge and microphone state, and a highlight on whoever is
//! speaking. Without a picture a tile is a name card.

use iced::widget::{column, container, grid, image, text};
use iced::{Border, Element, Length, Theme};

use super::participants::trust_label;
use crate::fl;
use crate::meeting_link::MeetingView;
use crate::video::{Pictures, SELF_VIEW};

/// What the grid shows.
pub struct Tiles<'a> {
    pub view: &'a MeetingView,
    pub muted: bool,
    pub camera_on: bool,
    pub pictures: &'a Pictures,
    /// The media sender (MLS leaf) speaking now.
    pub speaker: Option<u32>,
}

const TILE_HEIGHT: f32 = 180.0;

pub fn view<'a, M: 'a>(tiles: &Tiles<'a>) -> Element<'a, M> {
    let view = tiles.view;
    let cells = view.roster.iter().map(|entry| {
        let me = entry.participant.is_some() && view.me == entry.participant;
        let speaking = entry.leaf.is_some() && entry.leaf == tiles.speaker;
        let mut status = Vec::new();
        if me && tiles.muted {
            status.push(fl!("meeting-tile-muted"));
        }
        if me && tiles.camera_on {
            status.push(fl!("meeting-tile-camera-on"));
        }
        if speaking {
            status.push(fl!("meeting-tile-speaking"));
        }
        let caption = column![
            text(entry.display_name.clone()).size(16),
            text(trust_label(entry.trust.as_ref())).size(12),
            text(status.join(" · ")).size(12),
        ]
        .spacing(2);
        // Others' tiles show what arrived from them; ours shows the self-view while the camera
        // is on (the SFU does not send our own video back).
        let picture = if me {
            tiles
                .camera_on
                .then(|| tiles.pictures.get(&SELF_VIEW))
                .flatten()
        } else {
            entry.leaf.and_then(|leaf| tiles.pictures.get(&leaf))
        };
        let content: Element<'a, M> = match picture {
            Some(handle) => column![
                image(handle.clone())
                    .width(Length::Fill)
                    .height(Length::Fill)
                    .content_fit(iced::ContentFit::Contain),
                caption,
            ]
            .spacing(4)
            .into(),
            None => caption.into(),
        };
        container(content)
            .padding(8)
            .width(Length::Fill)
            .height(TILE_HEIGHT)
            .style(move |theme: &Theme| {
                let style = container::dark(theme);
                if speaking {
                    style.border(Border {
                        color: theme.palette().success,
                        width: 3.0,
                        radius: 4.0.into(),
                    })
                } else {
                    style
                }
            })
            .into()
    });
    grid(cells).columns(3).spacing(8).into()
}
