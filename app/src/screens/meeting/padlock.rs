//! The padlock at the top right: always visible while media is end-to-end encrypted, and a
//! clear warning otherwise (before the keys arrive, or if the group is lost).

use std::sync::LazyLock;

use iced::widget::{column, container, image, row, text, tooltip};
use iced::{Alignment, Border, Color, Element, Theme};

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

/// Icon size in pixels; drawn in code because the UI fonts (Noto, DejaVu) have no emoji padlock
/// and a missing glyph would show as an empty box exactly where trust is shown.
const ICON_WIDTH: u32 = 16;
const ICON_HEIGHT: u32 = 20;

static CLOSED_PADLOCK: LazyLock<image::Handle> = LazyLock::new(|| icon(padlock_pixel));
static WARNING: LazyLock<image::Handle> = LazyLock::new(|| icon(warning_pixel));

fn icon(covered: fn(f32, f32) -> bool) -> image::Handle {
    let mut rgba = Vec::with_capacity((ICON_WIDTH * ICON_HEIGHT * 4) as usize);
    for y in 0..ICON_HEIGHT {
        for x in 0..ICON_WIDTH {
            let alpha = if covered(x as f32 + 0.5, y as f32 + 0.5) {
                255
            } else {
                0
            };
            rgba.extend_from_slice(&[255, 255, 255, alpha]);
        }
    }
    image::Handle::from_rgba(ICON_WIDTH, ICON_HEIGHT, rgba)
}

/// A closed padlock: a shackle (upper half ring) over a solid body with a keyhole.
fn padlock_pixel(x: f32, y: f32) -> bool {
    let (cx, cy) = (8.0, 8.0);
    let distance = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
    let shackle = y <= cy + 1.0 && (3.5..=5.5).contains(&distance);
    let body = (1.0..=15.0).contains(&x) && (9.0..=19.0).contains(&y);
    let keyhole = (7.0..=9.0).contains(&x) && (12.0..=16.0).contains(&y);
    shackle || (body && !keyhole)
}

/// A warning triangle with an exclamation mark cut out.
fn warning_pixel(x: f32, y: f32) -> bool {
    let half_width = (y - 1.0) * 8.0 / 18.0;
    let triangle = (1.0..=19.0).contains(&y) && (x - 8.0).abs() <= half_width;
    let bar = (7.0..=9.0).contains(&x) && (7.0..=13.0).contains(&y);
    let dot = (7.0..=9.0).contains(&x) && (15.0..=17.0).contains(&y);
    triangle && !bar && !dot
}

/// The padlock; `unannounced` is how many members of the MLS group the server did not
/// announce: media is still encrypted, but also to them, so the padlock turns into a warning.
pub fn view<'a, M: 'a>(end_to_end_encrypted: bool, unannounced: usize) -> Element<'a, M> {
    let (icon, label, explanation, color) = if end_to_end_encrypted && unannounced > 0 {
        (
            WARNING.clone(),
            fl!(
                "meeting-padlock-unannounced",
                count = unannounced.to_string()
            ),
            fl!("meeting-padlock-unannounced-tooltip"),
            RED,
        )
    } else if end_to_end_encrypted {
        (
            CLOSED_PADLOCK.clone(),
            fl!("meeting-padlock"),
            fl!("meeting-padlock-tooltip"),
            GREEN,
        )
    } else {
        (
            WARNING.clone(),
            fl!("meeting-not-encrypted"),
            fl!("meeting-not-encrypted-tooltip"),
            RED,
        )
    };
    let label = row![image(icon).width(ICON_WIDTH as f32), text(label)]
        .spacing(8)
        .align_y(Alignment::Center);
    let panel = text(explanation).width(320);
    tooltip(
        container(label)
            .padding([6, 12])
            .style(move |_: &Theme| badge(color)),
        container(panel).padding(8).style(container::rounded_box),
        tooltip::Position::Bottom,
    )
    .into()
}

/// The padlock panel, opened by clicking the padlock: what protects the meeting now, and what
/// end-to-end encryption turns off (the guidance asks that users are told).
pub fn panel<'a, M: 'a>(end_to_end_encrypted: bool, unannounced: usize) -> Element<'a, M> {
    let mut panel = column![].spacing(8);
    if unannounced > 0 {
        panel = panel.push(
            text(fl!(
                "meeting-unannounced-warning",
                count = unannounced.to_string()
            ))
            .style(text::danger),
        );
    }
    let explanation = if end_to_end_encrypted {
        fl!("meeting-padlock-tooltip")
    } else {
        fl!("meeting-not-encrypted-tooltip")
    };
    panel = panel
        .push(text(explanation))
        .push(crate::screens::schedule::e2ee_turns_off::<M>());
    container(panel)
        .padding(12)
        .width(iced::Length::Fill)
        .style(container::bordered_box)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(covered: fn(f32, f32) -> bool) -> usize {
        (0..ICON_HEIGHT)
            .flat_map(|y| (0..ICON_WIDTH).map(move |x| (x, y)))
            .filter(|&(x, y)| covered(x as f32 + 0.5, y as f32 + 0.5))
            .count()
    }

    #[test]
    fn the_icons_are_drawn_and_tell_apart() {
        let padlock = coverage(padlock_pixel);
        let warning = coverage(warning_pixel);
        let all = (ICON_WIDTH * ICON_HEIGHT) as usize;
        assert!(
            padlock > all / 3 && padlock < all,
            "padlock covers {padlock}/{all}"
        );
        assert!(
            warning > all / 4 && warning < all,
            "warning covers {warning}/{all}"
        );
        // The keyhole and the exclamation mark are see-through.
        assert!(!padlock_pixel(8.5, 14.5));
        assert!(!warning_pixel(8.5, 10.5));
        assert!(padlock_pixel(2.5, 17.5) && !warning_pixel(2.5, 3.5));
    }
}
