//! End-to-end: the real server on loopback with several headless clients, for membership,
//! keys and every host control.

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::NewMeeting;
use conclave_core::client::{Event, LeftReason, Phase};
use conclave_protocol::identity::TrustState;
use conclave_protocol::{ClientMessage, DenyReason, ParticipantId, Reason};
use conclave_tests::{TestServer, codes_at, in_meeting, wait};

fn all_equal(codes: &[String]) -> bool {
    !codes[0].is_empty() && codes.windows(2).all(|w| w[0] == w[1])
}

async fn hosted(
    server: &TestServer,
    options: NewMeeting,
) -> (
    conclave_core::client::account::CreatedMeeting,
    conclave_core::client::MeetingClient,
) {
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server.create_meeting(&device, options).await;
    let mut host = server.user_joins(device, &meeting).await;
    let snapshot = in_meeting(&mut host).await;
    assert_eq!(snapshot.epoch, Some(0));
    (meeting, host)
}

fn id(client: &conclave_core::client::MeetingClient) -> ParticipantId {
    client.snapshot().participant.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_three_participants_share_a_code_that_changes_on_join_and_leave() {
    let server = TestServer::start().await;
    let (meeting, mut host) = hosted(&server, NewMeeting::default()).await;
    let mut previous = host.snapshot().code.unwrap().to_string();

    let mut guests = Vec::new();
    for name in ["Aiko", "Ben", "Chie"] {
        let mut guest = server.guest_joins(name, &meeting).await;
        in_meeting(&mut guest).await;
        // The newest member's epoch is the one everyone must reach (the host's client may
        // still be waiting for the server to confirm its commit).
        let epoch = guest.snapshot().epoch.unwrap();
        guests.push(guest);
        let mut everyone: Vec<&mut _> = std::iter::once(&mut host)
            .chain(guests.iter_mut())
            .collect();
        let codes = codes_at(&mut everyone, epoch).await;
        assert!(all_equal(&codes), "codes differ: {codes:?}");
        assert_ne!(codes[0], previous, "a join must change the code");
        previous = codes[0].clone();
    }
    assert!(guests.iter().all(|g| g.snapshot().end_to_end_encrypted));

    // Ben leaves: the host commits his removal, everyone else gets a new code.
    let ben = guests.remove(1);
    let epoch = host.snapshot().epoch.unwrap();
    ben.send(ClientMessage::Leave);
    let mut rest: Vec<&mut _> = std::iter::once(&mut host)
        .chain(guests.iter_mut())
        .collect();
    let codes = codes_at(&mut rest, epoch + 1).await;
    assert!(all_equal(&codes));
    assert_ne!(codes[0], previous, "a leave must change the code");
    let roster = wait(&mut host, "roster of 3", |s| s.roster.len() == 3)
        .await
        .roster;
    assert!(roster.iter().all(|r| r.display_name != "Ben"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_meeting_lobby_admit_with_new_keys_and_deny_with_reason() {
    let server = TestServer::start().await;
    let (meeting, mut host) = hosted(&server, NewMeeting::default()).await;
    host.send(ClientMessage::Lock);
    wait(&mut host, "locked", |s| {
        s.meeting.as_ref().is_some_and(|m| m.locked)
    })
    .await;

    let mut newcomer = server.guest_joins("Aiko", &meeting).await;
    wait(&mut newcomer, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    // The host is told, with the knocker's name and unverified state.
    let knock = loop {
        match host.next_event().await.unwrap() {
            Event::Knock(entry) => break entry,
            _ => continue,
        }
    };
    assert_eq!(knock.display_name.as_str(), "Aiko");
    assert!(!knock.signed_in);

    let before = host.snapshot().code.unwrap();
    host.send(ClientMessage::Admit {
        participant: knock.participant,
        admission: None,
    });
    in_meeting(&mut newcomer).await;
    let codes = codes_at(&mut [&mut host, &mut newcomer], before.epoch() + 1).await;
    assert!(all_equal(&codes));
    assert_ne!(codes[0], before.to_string(), "admission rekeys");

    let mut stranger = server.guest_joins("Stranger", &meeting).await;
    wait(&mut stranger, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    let stranger_id = id(&stranger);
    host.send(ClientMessage::Deny {
        participant: stranger_id,
        reason: Some(Reason::new("not on the invite list").unwrap()),
    });
    let left = wait(&mut stranger, "denied", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    match left.phase {
        Some(Phase::Left(LeftReason::Denied(DenyReason::DeniedByHost { reason: Some(r) }))) => {
            assert_eq!(r.as_str(), "not on the invite list");
        }
        other => panic!("expected a denial with reason, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expel_rekeys_keeps_them_out_and_expel_unverified_takes_exactly_the_guests() {
    let server = TestServer::start().await;
    let (meeting, mut host) = hosted(&server, NewMeeting::default()).await;
    server.add_user("yuki", "Yuki User", "another-pass").await;
    let yuki_device = server.sign_in("yuki", "another-pass").await;
    let mut yuki = server.user_joins(yuki_device, &meeting).await;
    in_meeting(&mut yuki).await;
    let mallory_key = conclave_e2ee::group::signature_keys_to_bytes(
        &conclave_e2ee::group::generate_signature_keys().unwrap(),
    )
    .unwrap();
    let mut mallory = server
        .guest_with_key_joins("Mallory", &mallory_key, &meeting)
        .await;
    in_meeting(&mut mallory).await;
    let mut guest = server.guest_joins("Guest", &meeting).await;
    in_meeting(&mut guest).await;
    let epoch = guest.snapshot().epoch.unwrap();
    codes_at(&mut [&mut host, &mut yuki, &mut mallory, &mut guest], epoch).await;

    // Verified and unverified badges come from the MLS credentials.
    let roster = wait(&mut host, "roster with trust", |s| {
        s.roster.len() == 4 && s.roster.iter().all(|r| r.trust.is_some())
    })
    .await
    .roster;
    let yuki_row = roster
        .iter()
        .find(|r| r.display_name == "Yuki User")
        .unwrap();
    assert!(matches!(
        yuki_row.trust,
        Some(TrustState::VerifiedUser { .. })
    ));
    let mallory_row = roster.iter().find(|r| r.display_name == "Mallory").unwrap();
    assert!(matches!(
        mallory_row.trust,
        Some(TrustState::UnverifiedGuest { .. })
    ));

    host.send(ClientMessage::Expel {
        participant: id(&mallory),
    });
    wait(&mut mallory, "expelled", |s| {
        matches!(s.phase, Some(Phase::Left(LeftReason::Expelled(_))))
    })
    .await;
    let codes = codes_at(&mut [&mut host, &mut yuki, &mut guest], epoch + 1).await;
    assert!(all_equal(&codes));
    assert_eq!(
        mallory.snapshot().epoch,
        Some(epoch),
        "the expelled member got no new keys"
    );

    // Mallory's device cannot come back, not even under another name.
    let mut back = server
        .guest_with_key_joins("Not Mallory", &mallory_key, &meeting)
        .await;
    let s = wait(&mut back, "refused", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    assert_eq!(
        s.phase,
        Some(Phase::Left(LeftReason::Denied(DenyReason::Expelled)))
    );

    // After an expulsion the lobby stays on: a newcomer waits until the host admits them.
    let mut again = server.guest_joins("Second guest", &meeting).await;
    wait(&mut again, "in the lobby", |s| {
        s.phase == Some(Phase::InLobby)
    })
    .await;
    let waiting = wait(&mut host, "the newcomer knocks", |s| s.lobby.len() == 1).await;
    assert!(
        waiting
            .meeting
            .as_ref()
            .is_some_and(|m| m.lobby_enabled && m.lobby_after_expulsion)
    );
    host.send(ClientMessage::Admit {
        participant: waiting.lobby[0].participant,
        admission: None,
    });
    in_meeting(&mut again).await;
    let epoch = again.snapshot().epoch.unwrap();
    codes_at(&mut [&mut host, &mut yuki, &mut guest, &mut again], epoch).await;

    host.send(ClientMessage::ExpelUnverified);
    for g in [&mut guest, &mut again] {
        wait(g, "expelled", |s| {
            matches!(s.phase, Some(Phase::Left(LeftReason::Expelled(_))))
        })
        .await;
    }
    let roster = wait(&mut host, "two left", |s| s.roster.len() == 2)
        .await
        .roster;
    assert!(roster.iter().any(|r| r.display_name == "Yuki User"));
    assert_eq!(yuki.snapshot().phase, Some(Phase::InMeeting));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_sign_in_refuses_guests_and_admits_verified_users() {
    let server = TestServer::start().await;
    let (meeting, mut host) = hosted(
        &server,
        NewMeeting {
            require_sign_in: Some(true),
            ..NewMeeting::default()
        },
    )
    .await;
    let mut guest = server.guest_joins("Guest", &meeting).await;
    let s = wait(&mut guest, "refused", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    assert_eq!(
        s.phase,
        Some(Phase::Left(LeftReason::Denied(DenyReason::SignInRequired)))
    );

    server.add_user("yuki", "Yuki User", "another-pass").await;
    let device = server.sign_in("yuki", "another-pass").await;
    let mut yuki = server.user_joins(device, &meeting).await;
    in_meeting(&mut yuki).await;
    let roster = wait(&mut host, "yuki verified", |s| {
        s.roster.iter().any(|r| {
            r.display_name == "Yuki User"
                && matches!(r.trust, Some(TrustState::VerifiedUser { .. }))
        })
    })
    .await;
    assert_eq!(roster.roster.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_then_throttled() {
    let server = TestServer::start().await;
    let (meeting, _host) = hosted(&server, NewMeeting::default()).await;
    let mut throttled = None;
    for attempt in 0..8 {
        let mut guesser = server
            .guest_joins_with("Guesser", &meeting.number, Some("wrong-password"))
            .await;
        let event = loop {
            match guesser.next_event().await {
                Some(Event::Error {
                    code,
                    retry_after_secs,
                    ..
                }) => break (code, retry_after_secs),
                Some(_) => continue,
                None => panic!("connection closed without an answer"),
            }
        };
        assert!(guesser.snapshot().participant.is_none(), "never let in");
        if event.0 == conclave_protocol::ErrorCode::Throttled {
            throttled = Some((attempt, event.1));
            break;
        }
        assert_eq!(event.0, conclave_protocol::ErrorCode::WrongPassword);
    }
    let (attempt, retry) = throttled.expect("guessing must be throttled");
    assert!(attempt >= 5, "a few honest mistakes are allowed");
    assert!(retry.unwrap_or(0) > 0);
}
