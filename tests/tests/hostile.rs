//! End-to-end: the promise against a hostile server and hostile participants, each attack run
//! against the real server (with a test-only hook where the attack needs a changed server).

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::NewMeeting;
use conclave_core::client::{Event, LeftReason, MeetingClient, Phase, Presence, Snapshot};
use conclave_protocol::{ClientMessage, DenyReason, ErrorCode, Role};
use conclave_tests::{PATIENCE, TestServer, in_meeting, wait};

/// Has the server (as a hostile operator would) admit whoever joins as `name` at once and
/// leave them out of every roster and lobby list.
async fn hide(server: &TestServer, number: &str, name: &str) {
    let record = server
        .running
        .hub()
        .store()
        .meeting(number)
        .await
        .unwrap()
        .unwrap();
    server.running.hub().hide_participant_named(&record, name);
}

fn unannounced(s: &Snapshot) -> Vec<String> {
    s.roster
        .iter()
        .filter(|r| r.presence == Presence::Unannounced)
        .map(|r| r.display_name.clone())
        .collect()
}

/// Waits for a security warning containing `needle` among the client's events.
async fn warning(client: &mut MeetingClient, needle: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(Event::SecurityWarning(w))) if w.contains(needle) => return,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no security warning containing {needle:?}"),
        }
    }
}

/// Waits for the server's refusal of the client's last request.
async fn refusal(client: &mut MeetingClient) -> ErrorCode {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(Event::Error { code, .. })) => return code,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("the request was not refused"),
        }
    }
}

async fn host_meeting(
    server: &TestServer,
    options: NewMeeting,
) -> (
    MeetingClient,
    conclave_core::client::account::CreatedMeeting,
) {
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server.create_meeting(&device, options).await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    (host, meeting)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_the_server_hides_is_shown_to_everyone_with_a_warning() {
    let server = TestServer::start().await;
    let (mut host, meeting) = host_meeting(&server, NewMeeting::default()).await;
    let mut aiko = server.guest_joins("Aiko", &meeting).await;
    in_meeting(&mut aiko).await;

    // The server hides Mallory from the roster and hands her KeyPackage to the committer. In
    // an open meeting the committer adds her (the server decides who knew the password)...
    hide(&server, &meeting.number, "Mallory").await;
    let mut mallory = server.guest_joins("Mallory", &meeting).await;
    let inside = in_meeting(&mut mallory).await;
    assert!(inside.end_to_end_encrypted, "she holds the keys");

    // ...but nobody can be in the group without being seen: every member lists her leaf as
    // one the server did not announce, and says so.
    for (client, who) in [(&mut host, "host"), (&mut aiko, "Aiko")] {
        let s = wait(client, "the hidden leaf listed", |s| {
            unannounced(s) == vec!["Mallory".to_string()]
        })
        .await;
        let row = s.roster.iter().find(|r| r.is_unannounced()).unwrap();
        assert_eq!(row.participant, None, "{who}: the server gave her no id");
        assert!(
            row.leaf.is_some() && row.trust.is_some(),
            "{who}: from the MLS leaf"
        );
        warning(client, "did not announce").await;
    }
    // The server's own roster (what the old list showed) still lacks her.
    let host_view = host.snapshot();
    assert!(
        host_view
            .roster
            .iter()
            .filter(|r| r.presence == Presence::Present)
            .all(|r| r.display_name != "Mallory")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_lobby_on_the_committer_adds_no_one_a_host_did_not_admit_by_signature() {
    let server = TestServer::start().await;
    let options = NewMeeting {
        lobby: Some(true),
        ..NewMeeting::default()
    };
    let (mut host, meeting) = host_meeting(&server, options).await;
    let epoch = host.snapshot().epoch;

    // The server skips the lobby for Mallory and asks the committer to add her.
    hide(&server, &meeting.number, "Mallory").await;
    let mut mallory = server.guest_joins("Mallory", &meeting).await;
    warning(&mut host, "no host admitted them").await;
    // She is sent back to the lobby and never gets the keys.
    wait(&mut mallory, "back in the lobby", |s| {
        s.phase == Some(Phase::InLobby)
    })
    .await;
    assert!(!mallory.snapshot().end_to_end_encrypted);
    let s = host.snapshot();
    assert_eq!(s.epoch, epoch, "nobody was added");
    assert!(unannounced(&s).is_empty());

    // A guest the host admits from the lobby (signed) gets in as before.
    let mut aiko = server.guest_joins("Aiko", &meeting).await;
    let waiting = wait(&mut host, "Aiko knocks", |s| {
        s.lobby.iter().any(|e| e.display_name.as_str() == "Aiko")
    })
    .await;
    let aiko_id = waiting
        .lobby
        .iter()
        .find(|e| e.display_name.as_str() == "Aiko")
        .unwrap()
        .participant;
    host.send(ClientMessage::Admit {
        participant: aiko_id,
        admission: None,
    });
    in_meeting(&mut aiko).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_gets_in_past_the_lobby_and_takes_over_from_an_early_guest() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let options = NewMeeting {
        lobby: Some(true),
        join_before_host: Some(true),
        ..NewMeeting::default()
    };
    let meeting = server.create_meeting(&device, options).await;
    // A guest arrives first and starts the group as acting co-host.
    let mut early = server.guest_joins("Early", &meeting).await;
    let s = in_meeting(&mut early).await;
    assert_eq!(s.role, Some(Role::CoHost));

    // The host arrives with the lobby on: it gets in (it used to wait forever) ...
    let mut host = server.user_joins(device, &meeting).await;
    let s = in_meeting(&mut host).await;
    assert_eq!(s.role, Some(Role::Host));
    // ... and the guest goes back to being a guest.
    wait(&mut early, "demoted", |s| s.role == Some(Role::Guest)).await;

    // The host now commits: a newcomer it admits from the lobby gets in.
    let mut aiko = server.guest_joins("Aiko", &meeting).await;
    let s = wait(&mut host, "Aiko knocks", |s| !s.lobby.is_empty()).await;
    host.send(ClientMessage::Admit {
        participant: s.lobby[0].participant,
        admission: None,
    });
    in_meeting(&mut aiko).await;
    // The early guest cannot expel the host.
    let host_id = host.snapshot().participant.unwrap();
    early.send(ClientMessage::Expel {
        participant: host_id,
    });
    assert_eq!(refusal(&mut early).await, ErrorCode::NotAllowed);
    assert_eq!(host.snapshot().phase, Some(Phase::InMeeting));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expelled_guest_coming_back_waits_in_the_lobby_and_a_banned_user_stays_out_after_a_restart()
 {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    let (mut host, meeting) = host_meeting(&server, NewMeeting::default()).await;
    server.add_user("ben", "Ben", "hunter2-long").await;

    let mut guest = server.guest_joins("Gus", &meeting).await;
    let s = in_meeting(&mut guest).await;
    let gus = s.participant.unwrap();
    let ben_device = server.sign_in("ben", "hunter2-long").await;
    let ben_user = ben_device.sign_in.user_id.clone();
    let mut ben = server.user_joins(ben_device, &meeting).await;
    let s = in_meeting(&mut ben).await;
    let ben_id = s.participant.unwrap();

    host.send(ClientMessage::Expel { participant: gus });
    wait(&mut guest, "expelled", |s| {
        matches!(s.phase, Some(Phase::Left(LeftReason::Expelled(_))))
    })
    .await;
    // The host sees that the lobby is now on, and why.
    wait(&mut host, "lobby on after the expulsion", |s| {
        s.meeting
            .as_ref()
            .is_some_and(|m| m.lobby_enabled && m.lobby_after_expulsion)
    })
    .await;
    // The guest comes back at once with the same password and a fresh key: lobby, not in.
    let mut again = server.guest_joins("Gus", &meeting).await;
    wait(&mut again, "in the lobby", |s| {
        s.phase == Some(Phase::InLobby)
    })
    .await;
    wait(&mut host, "Gus knocks", |s| !s.lobby.is_empty()).await;
    assert!(!again.snapshot().end_to_end_encrypted);

    // A signed-in user expelled stays out, even after the server restarts.
    host.send(ClientMessage::Expel {
        participant: ben_id,
    });
    wait(&mut ben, "expelled", |s| {
        matches!(s.phase, Some(Phase::Left(LeftReason::Expelled(_))))
    })
    .await;
    // The ban is written after the expulsion is sent: wait until it is stored.
    let ban = [conclave_server::store::BanKey::Account(ben_user)];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !server
        .running
        .hub()
        .store()
        .is_banned(&meeting.number, &ban)
        .await
        .unwrap()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ban was never stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop((host, again, guest, ben));
    server.running.shutdown().await;
    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    let ben_device = server.sign_in("ben", "hunter2-long").await;
    let mut ben = server.user_joins(ben_device, &meeting).await;
    wait(&mut ben, "refused", |s| {
        s.phase == Some(Phase::Left(LeftReason::Denied(DenyReason::Expelled)))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_host_leaves_a_remaining_member_still_commits_removals() {
    let server = TestServer::start().await;
    let (host, meeting) = host_meeting(&server, NewMeeting::default()).await;
    let mut aiko = server.guest_joins("Aiko", &meeting).await;
    in_meeting(&mut aiko).await;
    let mut ben = server.guest_joins("Ben", &meeting).await;
    in_meeting(&mut ben).await;
    wait(&mut aiko, "three members", |s| s.mls_roster.len() == 3).await;

    host.send(ClientMessage::Leave);
    // Nobody with host rights is left, yet the host's leaf is removed: it loses the keys.
    wait(&mut aiko, "the host's leaf removed", |s| {
        s.mls_roster.len() == 2
    })
    .await;
    ben.send(ClientMessage::Leave);
    let s = wait(&mut aiko, "Ben's leaf removed", |s| s.mls_roster.len() == 1).await;
    assert!(s.end_to_end_encrypted);
}

/// Polls the server's room count until it is `expected` (rooms are freed by another task).
async fn rooms_become(server: &TestServer, expected: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.running.hub().room_count() != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rooms: {} (expected {expected})",
            server.running.hub().room_count()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_room_is_freed_when_its_last_person_leaves() {
    let server = TestServer::start().await;
    let options = NewMeeting {
        lobby: Some(true),
        ..NewMeeting::default()
    };
    let (mut host, meeting) = host_meeting(&server, options).await;
    rooms_become(&server, 1).await;
    let knocker = server.guest_joins("Knocker", &meeting).await;
    wait(&mut host, "a knock", |s| s.lobby.len() == 1).await;
    knocker.close();
    wait(&mut host, "the lobby empties", |s| s.lobby.is_empty()).await;
    host.send(ClientMessage::Leave);
    rooms_become(&server, 0).await;
}

/// The clear framing of an MLS proposal (RFC 9420 §6): `sender_leaf` proposes removing
/// `removed`. The signature is junk: the server's relay rule reads only the framing, and
/// members would refuse it anyway.
fn remove_proposal_framing(epoch: u64, sender_leaf: u32, removed: u32) -> Vec<u8> {
    let mut bytes = vec![0, 1, 0, 1, 16];
    bytes.extend_from_slice(&[0xab; 16]);
    bytes.extend_from_slice(&epoch.to_be_bytes());
    bytes.push(1);
    bytes.extend_from_slice(&sender_leaf.to_be_bytes());
    bytes.extend_from_slice(&[0, 2, 0, 3]);
    bytes.extend_from_slice(&removed.to_be_bytes());
    bytes.extend_from_slice(&[0x40, 64]);
    bytes.extend_from_slice(&[0; 64]);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_have_the_host_removed_by_a_proposal() {
    let server = TestServer::start().await;
    let (mut host, meeting) = host_meeting(&server, NewMeeting::default()).await;
    let mut guest = server.guest_joins("Mallory", &meeting).await;
    let s = in_meeting(&mut guest).await;
    let (epoch, own_leaf) = (s.epoch.unwrap(), s.own_leaf.unwrap());
    // The host has merged the commit that added her (its list alone is not enough: a member
    // the roster announces shows as joining before the commit is merged).
    wait(&mut host, "the host at the guest's epoch", |s| {
        s.epoch == Some(epoch)
    })
    .await;

    // A proposal to remove the host (leaf 0) is not relayed: only a member's own leave is.
    guest.send(ClientMessage::Proposal {
        epoch,
        proposal: conclave_protocol::MlsBlob::new(remove_proposal_framing(epoch, own_leaf, 0)),
    });
    assert_eq!(refusal(&mut guest).await, ErrorCode::InvalidMls);
    // Nor is one that claims to come from the host's leaf.
    guest.send(ClientMessage::Proposal {
        epoch,
        proposal: conclave_protocol::MlsBlob::new(remove_proposal_framing(epoch, 0, 0)),
    });
    assert_eq!(refusal(&mut guest).await, ErrorCode::InvalidMls);
    // The host is still in, at the same epoch, with nothing pending.
    let s = host.snapshot();
    assert_eq!(s.phase, Some(Phase::InMeeting));
    assert_eq!(s.epoch, Some(epoch));
}
