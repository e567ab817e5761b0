//! Simulator tests of the meeting screen driven by synthetic views (no network): what the user
//! sees, and which request each host control sends through the link.

use std::sync::Arc;

use conclave_core::client::{Presence, RosterView, TlsTrust};
use conclave_protocol::identity::TrustState;
use conclave_protocol::verification::VerificationCode;
use conclave_protocol::{
    DenyReason, DisplayName, EndReason, LobbyEntry, MeetingNumber, MeetingState, MlsBlob,
    ParticipantId, Role,
};
use iced::keyboard::key::Named;
use iced_test::simulator;
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::devices::DeviceChoice;
use crate::i18n::Language;
use crate::service::join::JoinRequest;

fn key() -> LinkKey {
    LinkKey {
        attempt: 1,
        request: Arc::new(JoinRequest {
            server: "127.0.0.1:8443".into(),
            trust: TlsTrust::PublicRoots,
            meeting: MeetingNumber::parse("123456789").expect("number"),
            password: None,
            display_name: DisplayName::new("Aiko").expect("name"),
            identity: None,
        }),
        devices: DeviceChoice::default(),
    }
}

fn member(id: u64, name: &str, role: Role, verified: bool) -> RosterView {
    RosterView {
        participant: Some(ParticipantId(id)),
        presence: Presence::Present,
        display_name: name.into(),
        role,
        trust: Some(if verified {
            TrustState::VerifiedUser {
                user_id: name.to_lowercase(),
                display_name: name.into(),
            }
        } else {
            TrustState::UnverifiedGuest {
                display_name: name.into(),
            }
        }),
        leaf: Some(u32::try_from(id).expect("small id")),
    }
}

fn in_meeting(role: Role, epoch: u64) -> MeetingView {
    MeetingView {
        phase: Some(Phase::InMeeting),
        me: Some(ParticipantId(1)),
        role: Some(role),
        meeting: Some(MeetingState::default()),
        end_to_end_encrypted: true,
        code: Some(VerificationCode::derive(epoch, &[7u8; 32])),
        roster: vec![
            member(1, "Aiko", role, true),
            member(5, "Mallory", Role::Guest, false),
        ],
        lobby: Vec::new(),
        connected: true,
    }
}

/// A meeting screen showing `view`, with the commands it sends readable.
fn screen(view: MeetingView) -> (State, UnboundedReceiver<LinkCommand>) {
    let mut state = State::new(key());
    let (handle, commands) = LinkHandle::for_test();
    state.update(Message::Link(LinkEvent::Ready(handle)));
    state.update(Message::Link(LinkEvent::View(Box::new(view))));
    (state, commands)
}

fn click(state: &mut State, label: &str) {
    let messages = {
        let mut ui = simulator(state.view());
        ui.click(label).expect("the control is on screen");
        ui.into_messages().collect::<Vec<_>>()
    };
    for message in messages {
        state.update(message);
    }
}

fn sent(commands: &mut UnboundedReceiver<LinkCommand>) -> Vec<ClientMessage> {
    let mut out = Vec::new();
    while let Ok(command) = commands.try_recv() {
        if let LinkCommand::Send(message) = command {
            out.push(message);
        }
    }
    out
}

fn shows(state: &State, what: &str) -> bool {
    simulator(state.view()).find(what).is_ok()
}

#[test]
fn the_meeting_shows_the_padlock_and_the_code_with_its_epoch() {
    let _language = crate::test_language(Language::English);
    let (state, _) = screen(in_meeting(Role::Guest, 3));
    assert!(shows(&state, &fl!("meeting-padlock")));
    for group in VerificationCode::derive(3, &[7u8; 32]).groups() {
        assert!(shows(&state, &group), "group {group} shown");
    }
    assert!(shows(&state, &fl!("meeting-code-epoch", epoch = "3")));
    // A guest gets no host controls.
    assert!(!shows(&state, &fl!("meeting-host-controls")));
}

#[test]
fn without_group_keys_the_padlock_turns_into_a_warning() {
    let _language = crate::test_language(Language::Japanese);
    let mut view = in_meeting(Role::Guest, 3);
    view.end_to_end_encrypted = false;
    let (state, _) = screen(view);
    assert!(shows(&state, &fl!("meeting-not-encrypted")));
    assert!(!shows(&state, &fl!("meeting-padlock")));
}

#[test]
fn a_new_epoch_raises_the_verify_again_banner_until_dismissed() {
    let _language = crate::test_language(Language::English);
    let (mut state, _) = screen(in_meeting(Role::Guest, 1));
    assert!(!shows(&state, &fl!("meeting-code-changed")));
    state.update(Message::Link(LinkEvent::View(Box::new(in_meeting(
        Role::Guest,
        2,
    )))));
    assert!(shows(&state, &fl!("meeting-code-changed")));
    assert!(shows(&state, &fl!("meeting-code-epoch", epoch = "2")));
    click(&mut state, &fl!("meeting-dismiss"));
    assert!(!shows(&state, &fl!("meeting-code-changed")));
}

#[test]
fn admit_from_the_lobby_list_sends_admit() {
    let _language = crate::test_language(Language::English);
    let mut view = in_meeting(Role::Host, 1);
    view.lobby = vec![LobbyEntry {
        participant: ParticipantId(7),
        display_name: DisplayName::new("Kenji").expect("name"),
        signed_in: false,
        signature_key: MlsBlob::new(vec![7; 32]),
    }];
    let (mut state, mut commands) = screen(view);
    assert!(shows(&state, &fl!("meeting-lobby", count = "1")));
    click(&mut state, &fl!("meeting-admit"));
    assert_eq!(
        sent(&mut commands),
        vec![ClientMessage::Admit {
            participant: ParticipantId(7),
            admission: None,
        }]
    );
    click(&mut state, &fl!("meeting-deny"));
    assert_eq!(
        sent(&mut commands),
        vec![ClientMessage::Deny {
            participant: ParticipantId(7),
            reason: None
        }]
    );
}

#[test]
fn the_lock_toggle_sends_lock_and_unlock() {
    let _language = crate::test_language(Language::English);
    let (mut state, mut commands) = screen(in_meeting(Role::Host, 1));
    click(&mut state, &fl!("meeting-lock"));
    assert_eq!(sent(&mut commands), vec![ClientMessage::Lock]);
    let mut locked = in_meeting(Role::Host, 1);
    locked.meeting = Some(MeetingState {
        locked: true,
        ..MeetingState::default()
    });
    state.update(Message::Link(LinkEvent::View(Box::new(locked))));
    assert!(shows(&state, &fl!("meeting-locked")));
    click(&mut state, &fl!("meeting-unlock"));
    assert_eq!(sent(&mut commands), vec![ClientMessage::Unlock]);
}

#[test]
fn expel_sends_expel_for_that_participant() {
    let _language = crate::test_language(Language::English);
    let (mut state, mut commands) = screen(in_meeting(Role::Host, 1));
    // Only Mallory (not the host themself) has an Expel button.
    click(&mut state, &fl!("meeting-expel"));
    assert_eq!(
        sent(&mut commands),
        vec![ClientMessage::Expel {
            participant: ParticipantId(5)
        }]
    );
}

#[test]
fn expel_all_unverified_and_end_for_all_send_their_requests() {
    let _language = crate::test_language(Language::English);
    let (mut state, mut commands) = screen(in_meeting(Role::CoHost, 1));
    click(&mut state, &fl!("meeting-expel-unverified"));
    click(&mut state, &fl!("meeting-end-for-all"));
    assert_eq!(
        sent(&mut commands),
        vec![ClientMessage::ExpelUnverified, ClientMessage::EndMeeting]
    );
}

#[test]
fn a_bad_auto_lock_value_is_explained_and_not_sent() {
    let _language = crate::test_language(Language::English);
    let (mut state, mut commands) = screen(in_meeting(Role::Host, 1));
    state.update(Message::Host(host_controls::Message::AutoLockTyped(
        "0".into(),
    )));
    click(&mut state, &fl!("meeting-auto-lock-set"));
    assert!(sent(&mut commands).is_empty());
    assert!(shows(&state, &fl!("meeting-auto-lock-bad")));
    state.update(Message::Host(host_controls::Message::AutoLockTyped(
        "15".into(),
    )));
    click(&mut state, &fl!("meeting-auto-lock-set"));
    assert_eq!(
        sent(&mut commands),
        vec![ClientMessage::SetAutoLock { minutes: Some(15) }]
    );
}

#[test]
fn end_states_say_what_happened() {
    let _language = crate::test_language(Language::English);
    for (reason, message) in [
        (LeftReason::Left, fl!("meeting-ended-left")),
        (LeftReason::Expelled(None), fl!("meeting-ended-expelled")),
        (
            LeftReason::Ended(EndReason::EndedByHost),
            fl!("meeting-ended-by-host"),
        ),
    ] {
        let mut view = in_meeting(Role::Guest, 2);
        view.phase = Some(Phase::Left(reason));
        let (mut state, _) = screen(view);
        assert!(shows(&state, &message), "{message}");
        let messages = {
            let mut ui = simulator(state.view());
            ui.click(fl!("meeting-back").as_str()).expect("back");
            ui.into_messages().collect::<Vec<_>>()
        };
        let closed = messages
            .into_iter()
            .any(|m| matches!(state.update(m), Action::Closed));
        assert!(closed, "Back leaves the meeting screen");
    }
}

#[test]
fn a_denied_knock_is_explained_in_the_waiting_room() {
    let _language = crate::test_language(Language::Japanese);
    let mut view = MeetingView {
        phase: Some(Phase::InLobby),
        connected: true,
        ..MeetingView::default()
    };
    let (mut state, _) = screen(view.clone());
    assert!(shows(&state, &fl!("lobby-title")));
    view.phase = Some(Phase::Left(LeftReason::Denied(DenyReason::DeniedByHost {
        reason: None,
    })));
    state.update(Message::Link(LinkEvent::View(Box::new(view))));
    assert!(shows(&state, &fl!("meeting-denied-by-host")));
}

#[test]
fn cancelling_the_wait_leaves_and_closes() {
    let _language = crate::test_language(Language::English);
    let (mut state, mut commands) = screen(MeetingView {
        phase: Some(Phase::InLobby),
        connected: true,
        ..MeetingView::default()
    });
    let messages = {
        let mut ui = simulator(state.view());
        ui.click(fl!("lobby-cancel").as_str()).expect("cancel");
        ui.into_messages().collect::<Vec<_>>()
    };
    let closed = messages
        .into_iter()
        .any(|m| matches!(state.update(m), Action::Closed));
    assert!(closed);
    assert_eq!(sent(&mut commands), vec![ClientMessage::Leave]);
}

#[test]
fn a_knock_shows_who_is_waiting() {
    let _language = crate::test_language(Language::English);
    let mut view = in_meeting(Role::Host, 1);
    let entry = LobbyEntry {
        participant: ParticipantId(9),
        display_name: DisplayName::new("Yuki").expect("name"),
        signed_in: true,
        signature_key: MlsBlob::new(vec![7; 32]),
    };
    view.lobby = vec![entry.clone()];
    let (mut state, _) = screen(view);
    state.update(Message::Link(LinkEvent::Engine(Event::Knock(entry))));
    assert!(shows(&state, &fl!("meeting-knock", name = "Yuki")));
}

fn kenji_waiting(role: Role) -> MeetingView {
    let mut view = in_meeting(role, 1);
    view.lobby = vec![LobbyEntry {
        participant: ParticipantId(7),
        display_name: DisplayName::new("Kenji").expect("name"),
        signed_in: false,
        signature_key: MlsBlob::new(vec![7; 32]),
    }];
    view
}

#[test]
fn host_keyboard_shortcuts_admit_everyone_waiting_and_lock() {
    let (mut state, mut commands) = screen(kenji_waiting(Role::Host));
    state.update(Message::Shortcut(shortcuts::Shortcut::AdmitAll));
    state.update(Message::Shortcut(shortcuts::Shortcut::ToggleLock));
    assert_eq!(
        sent(&mut commands),
        vec![ClientMessage::AdmitAll, ClientMessage::Lock]
    );
    state.update(Message::Shortcut(shortcuts::Shortcut::ToggleMute));
    assert!(state.muted, "the mute shortcut mutes");
    state.update(Message::Shortcut(shortcuts::Shortcut::ToggleCamera));
    assert!(state.camera_on, "the video shortcut starts video");
}

#[test]
fn a_guest_pressing_host_shortcuts_sends_nothing() {
    let (mut state, mut commands) = screen(kenji_waiting(Role::Guest));
    state.update(Message::Shortcut(shortcuts::Shortcut::AdmitAll));
    state.update(Message::Shortcut(shortcuts::Shortcut::ToggleLock));
    assert!(sent(&mut commands).is_empty());
}

#[test]
fn the_password_for_guests_is_offered_as_a_copy_never_shown() {
    let _language = crate::test_language(Language::English);
    let mut key = key();
    let mut request = (*key.request).clone();
    request.password =
        Some(conclave_protocol::MeetingPassword::new("Kiwi-Tango-42").expect("password"));
    key.request = Arc::new(request);
    let mut state = State::new(key);
    state.update(Message::Link(LinkEvent::View(Box::new(in_meeting(
        Role::Host,
        1,
    )))));
    assert!(shows(
        &state,
        &fl!("meeting-invite-number", number = "123 456 789")
    ));
    assert!(shows(&state, &fl!("meeting-invite-copy-password")));
    assert!(!shows(&state, "Kiwi-Tango-42"));
    // Without a password there is nothing to copy.
    let (state, _) = screen(in_meeting(Role::Host, 1));
    assert!(!shows(&state, &fl!("meeting-invite-copy-password")));
}

#[test]
fn the_speaker_is_highlighted_and_the_camera_toggle_reaches_the_link() {
    let _language = crate::test_language(Language::English);
    let (mut state, mut commands) = screen(in_meeting(Role::Guest, 1));
    assert!(!shows(&state, &fl!("meeting-tile-speaking")));
    // Mallory (participant 5, leaf 5) speaks.
    state.update(Message::Link(LinkEvent::Speaker(Some(5))));
    assert!(shows(&state, &fl!("meeting-tile-speaking")));
    state.update(Message::Link(LinkEvent::Speaker(None)));
    assert!(!shows(&state, &fl!("meeting-tile-speaking")));

    click(&mut state, &fl!("meeting-camera-start"));
    assert!(shows(&state, &fl!("meeting-tile-camera-on")));
    click(&mut state, &fl!("meeting-camera-stop"));
    let cameras: Vec<bool> = std::iter::from_fn(|| commands.try_recv().ok())
        .filter_map(|command| match command {
            LinkCommand::SetCamera(on) => Some(on),
            _ => None,
        })
        .collect();
    assert_eq!(cameras, vec![true, false]);
}

#[test]
fn a_camera_that_fails_in_the_meeting_is_reported() {
    let _language = crate::test_language(Language::Japanese);
    let (mut state, _commands) = screen(in_meeting(Role::Guest, 1));
    let problem = fl!("meeting-camera-failed", detail = "device busy");
    assert!(!shows(&state, &problem));
    state.update(Message::Link(LinkEvent::CameraFailed("device busy".into())));
    assert!(shows(&state, &problem));
}

#[test]
fn a_congested_uplink_is_told_to_the_member_and_the_notice_goes_when_it_recovers() {
    for language in [Language::English, Language::Japanese] {
        let _language = crate::test_language(language);
        let (mut state, _commands) = screen(in_meeting(Role::Guest, 1));
        let (video, audio) = (
            fl!("meeting-network-video-reduced"),
            fl!("meeting-network-audio-lossy"),
        );
        assert!(!shows(&state, &video) && !shows(&state, &audio));
        state.update(Message::Link(LinkEvent::Network(
            NetworkNotice::VideoReduced,
        )));
        assert!(shows(&state, &video) && !shows(&state, &audio));
        state.update(Message::Link(LinkEvent::Network(NetworkNotice::AudioLossy)));
        assert!(shows(&state, &audio) && !shows(&state, &video));
        state.update(Message::Link(LinkEvent::Network(NetworkNotice::Fine)));
        assert!(!shows(&state, &video) && !shows(&state, &audio));
    }
}

#[test]
fn a_host_with_only_a_keyboard_reaches_every_control() {
    // Tab k times then Enter, for every k: every request a host control sends shows up.
    let mut requests = Vec::new();
    let mut muted = false;
    let mut camera_on = false;
    let mut two_waiting = kenji_waiting(Role::Host);
    two_waiting.lobby.push(LobbyEntry {
        participant: ParticipantId(8),
        display_name: DisplayName::new("Yui").expect("name"),
        signed_in: true,
        signature_key: MlsBlob::new(vec![7; 32]),
    });
    for tabs in 1..=40 {
        let (mut state, mut commands) = screen(two_waiting.clone());
        let messages = crate::controls::after_tabs(state.view(), tabs, Named::Enter);
        for message in messages {
            state.update(message);
        }
        requests.extend(sent(&mut commands));
        muted |= state.muted;
        camera_on |= state.camera_on;
    }
    for expected in [
        ClientMessage::Lock,
        ClientMessage::Admit {
            participant: ParticipantId(7),
            admission: None,
        },
        ClientMessage::Deny {
            participant: ParticipantId(7),
            reason: None,
        },
        ClientMessage::AdmitAll,
        ClientMessage::Expel {
            participant: ParticipantId(5),
        },
        ClientMessage::ExpelUnverified,
        ClientMessage::EndMeeting,
        ClientMessage::SetRequireSignIn { required: true },
        ClientMessage::AssignCoHost {
            participant: ParticipantId(5),
        },
        ClientMessage::Leave,
    ] {
        assert!(
            requests.contains(&expected),
            "{expected:?} not reachable by keyboard; got {requests:?}"
        );
    }
    assert!(muted && camera_on, "mute and camera by keyboard");
}

#[test]
fn a_connection_lost_while_waiting_in_the_lobby_says_so() {
    let _language = crate::test_language(Language::English);
    for phase in [Phase::InLobby, Phase::Admitted] {
        let (state, _commands) = screen(MeetingView {
            phase: Some(phase),
            connected: false,
            ..MeetingView::default()
        });
        assert!(shows(&state, &fl!("meeting-disconnected")));
        assert!(!shows(&state, &fl!("lobby-title")));
    }
}

/// A member of the MLS group the server did not announce (a hidden listener).
fn hidden_listener() -> RosterView {
    RosterView {
        participant: None,
        presence: Presence::Unannounced,
        ..member(9, "Eve", Role::Guest, false)
    }
}

#[test]
fn a_leaf_the_server_did_not_announce_is_listed_first_and_every_panel_warns() {
    for language in [Language::English, Language::Japanese] {
        let _language = crate::test_language(language);
        let mut view = in_meeting(Role::Host, 2);
        view.roster.push(hidden_listener());
        let (state, _) = screen(view);
        assert!(shows(&state, "Eve"));
        assert!(shows(&state, &fl!("meeting-presence-unannounced")));
        assert!(shows(
            &state,
            &fl!("meeting-unannounced-warning", count = "1")
        ));
        assert!(shows(&state, &fl!("meeting-code-unannounced", count = "1")));
        // The padlock no longer reads as a plain "end-to-end encrypted".
        assert!(shows(
            &state,
            &fl!("meeting-padlock-unannounced", count = "1")
        ));
        assert!(!shows(&state, &fl!("meeting-padlock")));
    }
    // Without one, none of it shows.
    let _language = crate::test_language(Language::English);
    let (state, _) = screen(in_meeting(Role::Host, 2));
    assert!(!shows(&state, &fl!("meeting-presence-unannounced")));
    assert!(shows(&state, &fl!("meeting-padlock")));
}

#[test]
fn hosts_see_that_an_expulsion_turned_the_lobby_on() {
    let _language = crate::test_language(Language::English);
    let mut view = in_meeting(Role::Host, 2);
    view.meeting = Some(MeetingState {
        lobby_enabled: true,
        lobby_after_expulsion: true,
        ..MeetingState::default()
    });
    let (state, _) = screen(view);
    assert!(shows(&state, &fl!("meeting-lobby-after-expulsion")));
}

#[test]
fn the_padlock_panel_says_what_end_to_end_encryption_turns_off() {
    for language in [Language::English, Language::Japanese] {
        let _language = crate::test_language(language);
        let (mut state, _) = screen(in_meeting(Role::Guest, 1));
        let first = format!("• {}", crate::screens::schedule::e2ee_turns_off_items()[0]);
        assert!(
            !shows(&state, &first),
            "closed until the padlock is clicked"
        );
        click(&mut state, &fl!("meeting-padlock"));
        assert!(shows(&state, &fl!("e2ee-turns-off-title")));
        for item in crate::screens::schedule::e2ee_turns_off_items() {
            assert!(shows(&state, &format!("• {item}")), "{item}");
        }
        click(&mut state, &fl!("meeting-padlock"));
        assert!(!shows(&state, &first));
    }
}
