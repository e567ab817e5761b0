//! The participants panel: everyone in the meeting with a verified / unverified badge from
//! their MLS credential, their role, and (for hosts) expel and make-co-host.

use crate::controls::button;
use conclave_core::client::{Presence, RosterView};
use conclave_protocol::identity::TrustState;
use conclave_protocol::{ParticipantId, Role};
use iced::widget::{column, row, space, text};
use iced::{Element, Length};

use crate::fl;
use crate::meeting_link::MeetingView;

#[derive(Debug, Clone)]
pub enum Message {
    Expel(ParticipantId),
    MakeCoHost(ParticipantId),
}

/// The badge text for a member's credential.
pub fn trust_label(trust: Option<&TrustState>) -> String {
    match trust {
        Some(TrustState::VerifiedUser { .. }) => format!("✔ {}", fl!("meeting-badge-verified")),
        Some(TrustState::UnverifiedGuest { .. }) => {
            format!("? {}", fl!("meeting-badge-unverified"))
        }
        Some(TrustState::Invalid { .. }) => format!("✖ {}", fl!("meeting-badge-invalid")),
        None => fl!("meeting-badge-joining"),
    }
}

pub fn role_label(role: Role) -> String {
    match role {
        Role::Host => fl!("meeting-role-host"),
        Role::CoHost => fl!("meeting-role-cohost"),
        Role::Participant | Role::Guest => String::new(),
    }
}

fn line<'a>(entry: &'a RosterView, view: &MeetingView) -> Element<'a, Message> {
    let me = entry.participant.is_some() && view.me == entry.participant;
    let mut name = entry.display_name.clone();
    if me {
        name = format!("{name} {}", fl!("meeting-you"));
    }
    let mut line = row![
        text(name).width(Length::Fill),
        text(role_label(entry.role)).size(12),
        text(trust_label(entry.trust.as_ref())).size(12),
    ]
    .spacing(8);
    match entry.presence {
        Presence::Unannounced => {
            line = line.push(
                text(fl!("meeting-presence-unannounced"))
                    .size(12)
                    .style(text::danger),
            );
        }
        Presence::Leaving => {
            line = line.push(text(fl!("meeting-presence-leaving")).size(12));
        }
        Presence::Present | Presence::Joining => {}
    }
    let Some(participant) = entry.participant else {
        return line.into();
    };
    if view.is_moderator() && !me && entry.role != Role::Host {
        if entry.role != Role::CoHost {
            line = line.push(
                button(text(fl!("meeting-make-cohost")).size(12))
                    .on_press(Message::MakeCoHost(participant)),
            );
        }
        line = line.push(
            button(text(fl!("meeting-expel")).size(12))
                .style(button::danger)
                .on_press(Message::Expel(participant)),
        );
    }
    line.into()
}

pub fn view(view: &MeetingView) -> Element<'_, Message> {
    let mut panel = column![
        text(fl!(
            "meeting-participants",
            count = view.roster.len().to_string()
        ))
        .size(16)
    ]
    .spacing(6);
    // Leaves the server did not announce come first: they hold the meeting's keys.
    let (hidden, announced): (Vec<_>, Vec<_>) =
        view.roster.iter().partition(|entry| entry.is_unannounced());
    if !hidden.is_empty() {
        panel = panel.push(
            text(fl!(
                "meeting-unannounced-warning",
                count = hidden.len().to_string()
            ))
            .style(text::danger),
        );
    }
    for entry in hidden.into_iter().chain(announced) {
        panel = panel.push(line(entry, view));
    }
    panel.push(space::vertical().height(4)).into()
}
