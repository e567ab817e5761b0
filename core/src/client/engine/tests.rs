#![allow(clippy::unwrap_used)]

use super::*;
use conclave_protocol::MeetingNumber;

fn state() -> MeetingState {
    MeetingState {
        locked: false,
        auto_lock_minutes: None,
        lobby_enabled: false,
        lobby_after_expulsion: false,
        require_sign_in: false,
        join_before_host: false,
        host_present: true,
        epoch: 0,
    }
}

fn host_engine() -> Engine {
    host_engine_with(&conclave_e2ee::group::ExternalSenderKey::generate("test server").unwrap())
}

fn host_engine_with(server: &conclave_e2ee::group::ExternalSenderKey) -> Engine {
    let mut host = Engine::new(GroupMember::guest("Host").unwrap(), None);
    let out = host.handle(
        ServerMessage::Admitted {
            participant: ParticipantId(1),
            role: Role::Host,
            meeting: state(),
            create_group: true,
            external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
            group_id: Some(MlsBlob::new(b"engine-test-group".to_vec())),
        },
        0,
    );
    assert!(out.events.contains(&Event::Phase(Phase::InMeeting)));
    assert!(host.is_end_to_end_encrypted());
    host
}

fn join_request(engine: &mut Engine) -> MlsBlob {
    match engine
        .join(
            MeetingNumber::parse("123456789").unwrap(),
            None,
            DisplayName::new("Aiko").unwrap(),
        )
        .unwrap()
    {
        ClientMessage::Join { key_package, .. } => key_package,
        other => panic!("unexpected {other:?}"),
    }
}

fn welcome_aiko(announced: Vec<u8>) -> (Engine, Engine, Output) {
    let server = conclave_e2ee::group::ExternalSenderKey::generate("test server").unwrap();
    let mut host = host_engine_with(&server);
    let mut aiko = Engine::new(GroupMember::guest("Aiko").unwrap(), None);
    let key_package = join_request(&mut aiko);
    let out = host.handle(
        ServerMessage::AddMembers {
            epoch: 0,
            requests: vec![AddRequest {
                participant: ParticipantId(2),
                key_package,
                role: Role::Guest,
                admission: None,
            }],
        },
        0,
    );
    let [
        ClientMessage::Commit {
            welcome: Some(welcome),
            ..
        },
    ] = out.send.as_slice()
    else {
        panic!("expected one commit, got {:?}", out.send);
    };
    let welcome = welcome.clone();
    host.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
    let announced = if announced.is_empty() {
        server.external_sender_bytes().unwrap()
    } else {
        announced
    };
    aiko.handle(
        ServerMessage::Admitted {
            participant: ParticipantId(2),
            role: Role::Guest,
            meeting: state(),
            create_group: false,
            external_sender: MlsBlob::new(announced),
            group_id: None,
        },
        0,
    );
    let out = aiko.handle(ServerMessage::MlsWelcome { welcome }, 0);
    (host, aiko, out)
}

#[test]
fn a_joiner_refuses_a_group_whose_external_sender_is_not_the_announced_one() {
    let (_, honest, _) = welcome_aiko(Vec::new());
    assert_eq!(honest.phase(), &Phase::InMeeting);
    // The group lists the server's key; the server announced another one.
    let other = conclave_e2ee::group::ExternalSenderKey::generate("other").unwrap();
    let (_, aiko, out) = welcome_aiko(other.external_sender_bytes().unwrap());
    assert_eq!(aiko.phase(), &Phase::Left(LeftReason::RemovedFromGroup));
    assert!(!aiko.is_end_to_end_encrypted());
    assert!(out.send.contains(&ClientMessage::Leave));
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::SecurityWarning(w) if w.contains("external senders")))
    );
}

#[test]
fn committer_batches_adds_and_the_joiner_gets_the_same_code() {
    let server = conclave_e2ee::group::ExternalSenderKey::generate("test server").unwrap();
    let mut host = host_engine_with(&server);
    let mut aiko = Engine::new(GroupMember::guest("Aiko").unwrap(), None);
    let key_package = join_request(&mut aiko);
    let out = host.handle(
        ServerMessage::AddMembers {
            epoch: 0,
            requests: vec![AddRequest {
                participant: ParticipantId(2),
                key_package,
                role: Role::Guest,
                admission: None,
            }],
        },
        0,
    );
    let [
        ClientMessage::Commit {
            epoch: 0,
            welcome: Some(welcome),
            added,
            ..
        },
    ] = out.send.as_slice()
    else {
        panic!("expected one commit, got {:?}", out.send);
    };
    assert_eq!(added, &vec![ParticipantId(2)]);
    // Nothing changes until the server accepts.
    assert_eq!(host.group().epoch().unwrap(), 0);
    let out = host.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::KeysChanged(code) if code.epoch() == 1))
    );

    aiko.handle(
        ServerMessage::Admitted {
            participant: ParticipantId(2),
            role: Role::Guest,
            meeting: state(),
            create_group: false,
            external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
            group_id: None,
        },
        0,
    );
    assert_eq!(aiko.phase(), &Phase::Admitted);
    aiko.handle(
        ServerMessage::MlsWelcome {
            welcome: welcome.clone(),
        },
        0,
    );
    assert_eq!(aiko.phase(), &Phase::InMeeting);
    assert_eq!(aiko.verification_code(), host.verification_code());
}

#[test]
fn invalid_or_barred_key_packages_are_not_added_but_expelled() {
    let mut host = host_engine();
    let out = host.handle(
        ServerMessage::AddMembers {
            epoch: 0,
            requests: vec![AddRequest {
                participant: ParticipantId(5),
                key_package: MlsBlob::new(vec![1, 2, 3]),
                role: Role::Guest,
                admission: None,
            }],
        },
        0,
    );
    assert_eq!(
        out.send,
        vec![ClientMessage::Expel {
            participant: ParticipantId(5)
        }]
    );
    assert!(matches!(out.events.as_slice(), [Event::SecurityWarning(_)]));
    assert_eq!(host.group().epoch().unwrap(), 0);
}

#[test]
fn rejected_commit_is_retried_after_the_winner() {
    let mut host = host_engine();
    let mut aiko = Engine::new(GroupMember::guest("Aiko").unwrap(), None);
    let key_package = join_request(&mut aiko);
    let request = AddRequest {
        participant: ParticipantId(2),
        key_package,
        role: Role::Guest,
        admission: None,
    };
    let out = host.handle(
        ServerMessage::AddMembers {
            epoch: 0,
            requests: vec![request],
        },
        0,
    );
    assert_eq!(out.send.len(), 1);
    let out = host.handle(
        ServerMessage::CommitRejected {
            epoch: 0,
            current_epoch: 0,
            reason: Reason::truncated("try again"),
        },
        0,
    );
    assert!(out.send.is_empty());
    // The queued work goes out again with the next trigger (here: a removal request).
    let out = host.handle(
        ServerMessage::RemoveMembers {
            epoch: 0,
            participants: Vec::new(),
        },
        0,
    );
    assert!(matches!(
        out.send.as_slice(),
        [ClientMessage::Commit { added, .. }] if added == &vec![ParticipantId(2)]
    ));
}

#[test]
fn a_knock_puts_the_knocker_on_the_lobby_list() {
    let mut host = host_engine();
    let entry = LobbyEntry {
        participant: ParticipantId(4),
        display_name: DisplayName::new("Kenji").unwrap(),
        signed_in: false,
        signature_key: MlsBlob::new(vec![7; 32]),
    };
    let out = host.handle(
        ServerMessage::Knock {
            entry: entry.clone(),
        },
        0,
    );
    assert_eq!(out.events, vec![Event::Knock(entry.clone())]);
    assert_eq!(host.lobby(), std::slice::from_ref(&entry));
    // A repeated knock does not list them twice; the server's list replaces ours.
    host.handle(ServerMessage::Knock { entry }, 0);
    assert_eq!(host.lobby().len(), 1);
    host.handle(ServerMessage::Lobby { entries: vec![] }, 0);
    assert!(host.lobby().is_empty());
}

#[test]
fn leaving_and_being_expelled_are_reported() {
    let mut host = host_engine();
    let out = host.request(ClientMessage::Leave);
    assert_eq!(out.send, vec![ClientMessage::Leave]);
    assert_eq!(host.phase(), &Phase::Left(LeftReason::Left));

    let mut guest = Engine::new(GroupMember::guest("G").unwrap(), None);
    let out = guest.handle(ServerMessage::Expelled { reason: None }, 0);
    assert_eq!(
        out.events,
        vec![Event::Phase(Phase::Left(LeftReason::Expelled(None)))]
    );
    assert!(!guest.is_end_to_end_encrypted());
}
