//! The committer's admission rules and the MLS-derived participant list, against a server that
//! asks it to add people no host let in, or hides people from its roster.

#![allow(clippy::unwrap_used)]

use super::*;
use conclave_e2ee::group::ExternalSenderKey;
use conclave_protocol::Admission;

fn meeting(lobby: bool, require_sign_in: bool) -> MeetingState {
    MeetingState {
        lobby_enabled: lobby,
        require_sign_in,
        host_present: true,
        ..MeetingState::default()
    }
}

fn host(state: MeetingState) -> Engine {
    host_with_server(state).0
}

fn host_with_server(state: MeetingState) -> (Engine, ExternalSenderKey) {
    let server = ExternalSenderKey::generate("test server").unwrap();
    let mut host = Engine::new(GroupMember::guest("Hana").unwrap(), None);
    host.handle(
        ServerMessage::Admitted {
            participant: ParticipantId(1),
            role: Role::Host,
            meeting: state,
            create_group: true,
            external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
            group_id: Some(MlsBlob::new(b"admission-tests".to_vec())),
        },
        0,
    );
    assert!(host.is_end_to_end_encrypted());
    (host, server)
}

fn roster_entry(id: u64, name: &str, role: Role, key: &[u8]) -> RosterEntry {
    RosterEntry {
        participant: ParticipantId(id),
        display_name: DisplayName::new(name).unwrap(),
        role,
        signed_in: false,
        signature_key: MlsBlob::new(key.to_vec()),
    }
}

struct Joiner {
    member_key: Vec<u8>,
    key_package: MlsBlob,
}

fn joiner(name: &str) -> Joiner {
    let member = GroupMember::guest(name).unwrap();
    Joiner {
        member_key: member.signature_key().to_vec(),
        key_package: MlsBlob::new(member.key_package().unwrap()),
    }
}

fn add(engine: &mut Engine, id: u64, who: &Joiner, admission: Option<Admission>) -> Output {
    engine.handle(
        ServerMessage::AddMembers {
            epoch: engine.group().epoch().unwrap(),
            requests: vec![AddRequest {
                participant: ParticipantId(id),
                key_package: who.key_package.clone(),
                role: Role::Guest,
                admission,
            }],
        },
        0,
    )
}

fn commits(out: &Output) -> Vec<Vec<ParticipantId>> {
    out.send
        .iter()
        .filter_map(|m| match m {
            ClientMessage::Commit { added, .. } => Some(added.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn with_the_lobby_on_an_add_without_a_hosts_signature_goes_back_to_the_lobby() {
    let mut hana = host(meeting(true, false));
    let mallory = joiner("Mallory");
    let out = add(&mut hana, 5, &mallory, None);
    assert!(commits(&out).is_empty(), "{:?}", out.send);
    assert!(out.send.contains(&ClientMessage::ReturnToLobby {
        participants: vec![ParticipantId(5)]
    }));
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::SecurityWarning(w) if w.contains("no host admitted them")))
    );
    assert_eq!(hana.group().epoch().unwrap(), 0);
}

#[test]
fn the_hosts_signed_admission_lets_them_in() {
    let mut hana = host(meeting(true, false));
    let aiko = joiner("Aiko");
    // The host admits Aiko from the lobby list, which carries her key: the engine signs it.
    hana.handle(
        ServerMessage::Lobby {
            entries: vec![LobbyEntry {
                participant: ParticipantId(2),
                display_name: DisplayName::new("Aiko").unwrap(),
                signed_in: false,
                signature_key: MlsBlob::new(aiko.member_key.clone()),
            }],
        },
        0,
    );
    let out = hana.request(ClientMessage::Admit {
        participant: ParticipantId(2),
        admission: None,
    });
    let [
        ClientMessage::Admit {
            admission: Some(signature),
            ..
        },
    ] = out.send.as_slice()
    else {
        panic!("expected a signed admit, got {:?}", out.send);
    };
    let admission = Admission {
        admitter_key: MlsBlob::new(hana.group().signature_key().to_vec()),
        signature: signature.clone(),
    };
    let out = add(&mut hana, 2, &aiko, Some(admission.clone()));
    assert_eq!(commits(&out), vec![vec![ParticipantId(2)]]);

    // The same signature does not admit somebody else.
    hana.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
    let mallory = joiner("Mallory");
    let out = add(&mut hana, 5, &mallory, Some(admission));
    assert!(commits(&out).is_empty());
    assert!(out.send.contains(&ClientMessage::ReturnToLobby {
        participants: vec![ParticipantId(5)]
    }));
}

#[test]
fn an_admission_signed_by_a_member_who_is_not_a_host_is_refused() {
    let (mut hana, server) = host_with_server(meeting(false, false));
    // Ben joins the open meeting as a guest.
    let mut ben = Engine::new(GroupMember::guest("Ben").unwrap(), None);
    let ben_key = ben.group().signature_key().to_vec();
    let ClientMessage::Join { key_package, .. } = ben
        .join(
            MeetingNumber::parse("123456789").unwrap(),
            None,
            DisplayName::new("Ben").unwrap(),
        )
        .unwrap()
    else {
        panic!("not a join");
    };
    let ben_joiner = Joiner {
        member_key: ben_key.clone(),
        key_package,
    };
    let out = add(&mut hana, 2, &ben_joiner, None);
    let [
        ClientMessage::Commit {
            welcome: Some(welcome),
            ..
        },
    ] = out.send.as_slice()
    else {
        panic!("expected a commit, got {:?}", out.send);
    };
    hana.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
    ben.handle(
        ServerMessage::Admitted {
            participant: ParticipantId(2),
            role: Role::Guest,
            meeting: meeting(false, false),
            create_group: false,
            external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
            group_id: None,
        },
        0,
    );
    ben.handle(
        ServerMessage::MlsWelcome {
            welcome: welcome.clone(),
        },
        0,
    );
    assert!(ben.is_end_to_end_encrypted());
    hana.handle(
        ServerMessage::Roster {
            participants: vec![
                roster_entry(1, "Hana", Role::Host, hana.group().signature_key()),
                roster_entry(2, "Ben", Role::Guest, &ben_key),
            ],
        },
        0,
    );
    // The lobby goes on, and the server claims Ben admitted Mallory. Ben's signature is real,
    // but Ben is no host: the committer refuses.
    hana.handle(
        ServerMessage::MeetingUpdate {
            meeting: meeting(true, false),
        },
        0,
    );
    let mallory = joiner("Mallory");
    let signature = ben.group().sign_admission(&mallory.member_key).unwrap();
    let out = add(
        &mut hana,
        5,
        &mallory,
        Some(Admission {
            admitter_key: MlsBlob::new(ben_key),
            signature: MlsBlob::new(signature),
        }),
    );
    assert!(commits(&out).is_empty());
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::SecurityWarning(w) if w.contains("not a host")))
    );
}

#[test]
fn where_sign_in_is_required_the_committer_adds_no_guest() {
    let mut hana = host(meeting(false, true));
    let guest = joiner("Gus");
    let out = add(&mut hana, 3, &guest, None);
    assert!(commits(&out).is_empty());
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::SecurityWarning(w) if w.contains("requires sign-in")))
    );
}

#[test]
fn the_participant_list_is_the_mls_groups_and_shows_leaves_the_server_hides() {
    let mut hana = host(meeting(false, false));
    let aiko = joiner("Aiko");
    let hana_key = hana.group().signature_key().to_vec();
    add(&mut hana, 2, &aiko, None);
    // The server accepts the commit but never lists Aiko.
    let out = hana.handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::SecurityWarning(w) if w.contains("did not announce")))
    );
    let rows = hana.roster();
    let aiko_row = rows.iter().find(|r| r.display_name == "Aiko").unwrap();
    assert_eq!(aiko_row.presence, Presence::Unannounced);
    assert_eq!(aiko_row.participant, None);
    assert_eq!(hana.unannounced(), 1);

    // Listed under another name: the list shows the credential's name, not the server's.
    let out = hana.handle(
        ServerMessage::Roster {
            participants: vec![
                roster_entry(1, "Hana", Role::Host, &hana_key),
                roster_entry(2, "Someone Trusted", Role::Guest, &aiko.member_key),
            ],
        },
        0,
    );
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, Event::SecurityWarning(_)))
    );
    let rows = hana.roster();
    assert_eq!(rows.len(), 2);
    let aiko_row = rows.iter().find(|r| r.leaf == Some(1)).unwrap();
    assert_eq!(aiko_row.display_name, "Aiko");
    assert_eq!(aiko_row.presence, Presence::Present);
    assert_eq!(aiko_row.participant, Some(ParticipantId(2)));
    assert_eq!(hana.unannounced(), 0);

    // The server says she left; until the removal is committed she is shown leaving.
    hana.handle(
        ServerMessage::Roster {
            participants: vec![roster_entry(1, "Hana", Role::Host, &hana_key)],
        },
        0,
    );
    let rows = hana.roster();
    assert_eq!(
        rows.iter().find(|r| r.leaf == Some(1)).unwrap().presence,
        Presence::Leaving
    );
}
