//! Unit tests of the protocol module. This file holds the shared fixtures (one sample of every
//! message), the round-trip and pinned-wire-format tests and the no-panic sweep; rejection
//! rules are tested in `tests/rejects.rs` and the field newtypes in `tests/fields.rs`.

use std::collections::HashSet;

use super::*;

mod fields;
mod rejects;

fn pid(n: u64) -> ParticipantId {
    ParticipantId(n)
}

fn name(s: &str) -> DisplayName {
    DisplayName::new(s).unwrap()
}

fn blob(n: usize) -> MlsBlob {
    MlsBlob::new((0..n).map(|i| (i % 251) as u8).collect())
}

fn reason(s: &str) -> Reason {
    Reason::new(s).unwrap()
}

fn state() -> MeetingState {
    MeetingState {
        locked: false,
        auto_lock_minutes: Some(10),
        lobby_enabled: true,
        lobby_after_expulsion: false,
        require_sign_in: false,
        join_before_host: false,
        host_present: true,
        epoch: 7,
    }
}

fn join() -> ClientMessage {
    ClientMessage::Join {
        meeting: MeetingNumber::parse("123 456 789").unwrap(),
        password: Some(MeetingPassword::new("correct horse").unwrap()),
        display_name: name("Aiko"),
        key_package: MlsBlob::new(vec![1, 2, 3]),
    }
}

fn client_samples() -> Vec<ClientMessage> {
    vec![
        join(),
        ClientMessage::Join {
            meeting: MeetingNumber::parse("123456789012").unwrap(),
            password: None,
            display_name: name("山田 花子"),
            key_package: blob(300),
        },
        ClientMessage::Leave,
        ClientMessage::Admit {
            participant: pid(2),
            admission: None,
        },
        ClientMessage::Admit {
            participant: pid(2),
            admission: Some(blob(64)),
        },
        ClientMessage::ReturnToLobby {
            participants: vec![pid(2), pid(3)],
        },
        ClientMessage::Deny {
            participant: pid(3),
            reason: Some(reason("not on the list")),
        },
        ClientMessage::Deny {
            participant: pid(3),
            reason: None,
        },
        ClientMessage::AdmitAll,
        ClientMessage::Lock,
        ClientMessage::Unlock,
        ClientMessage::SetAutoLock { minutes: Some(15) },
        ClientMessage::SetAutoLock { minutes: None },
        ClientMessage::SetRequireSignIn { required: true },
        ClientMessage::SetLobby { enabled: false },
        ClientMessage::Expel {
            participant: pid(4),
        },
        ClientMessage::ExpelUnverified,
        ClientMessage::AssignCoHost {
            participant: pid(5),
        },
        ClientMessage::EndMeeting,
        ClientMessage::Commit {
            epoch: 41,
            commit: blob(1000),
            welcome: Some(blob(5000)),
            added: vec![pid(6), pid(7)],
            removed: vec![pid(8)],
        },
        ClientMessage::Commit {
            epoch: 0,
            commit: blob(10),
            welcome: None,
            added: vec![],
            removed: vec![pid(9)],
        },
        ClientMessage::Proposal {
            epoch: 42,
            proposal: blob(64),
        },
        ClientMessage::KeyPackageRefresh {
            key_package: blob(400),
        },
        ClientMessage::SdpOffer {
            sdp: "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n".into(),
        },
        ClientMessage::SdpAnswer {
            sdp: "v=0\r\n".into(),
        },
        ClientMessage::IceCandidate {
            candidate: "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        },
        ClientMessage::IceCandidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_mline_index: None,
        },
        ClientMessage::Ping { nonce: u64::MAX },
    ]
}

fn lobby_entry(n: u64) -> LobbyEntry {
    LobbyEntry {
        participant: pid(n),
        display_name: name("Guest"),
        signed_in: false,
        signature_key: MlsBlob::new(vec![7; 32]),
    }
}

fn server_samples() -> Vec<ServerMessage> {
    vec![
        ServerMessage::Hello {
            server_version: "conclaved 0.1.0".into(),
            org_key_fingerprint: Some("sha256:ab12".into()),
        },
        ServerMessage::Hello {
            server_version: "conclaved 0.1.0".into(),
            org_key_fingerprint: None,
        },
        ServerMessage::InLobby {
            participant: pid(1),
        },
        ServerMessage::Admitted {
            participant: pid(1),
            role: Role::Guest,
            meeting: state(),
            create_group: false,
            external_sender: blob(90),
            group_id: None,
        },
        ServerMessage::Admitted {
            participant: pid(1),
            role: Role::Host,
            meeting: state(),
            create_group: true,
            external_sender: blob(90),
            group_id: Some(blob(16)),
        },
        ServerMessage::Denied {
            reason: DenyReason::DeniedByHost {
                reason: Some(reason("sorry")),
            },
        },
        ServerMessage::Denied {
            reason: DenyReason::DeniedByHost { reason: None },
        },
        ServerMessage::Denied {
            reason: DenyReason::SignInRequired,
        },
        ServerMessage::Denied {
            reason: DenyReason::Locked,
        },
        ServerMessage::Denied {
            reason: DenyReason::Expelled,
        },
        ServerMessage::Denied {
            reason: DenyReason::MeetingFull,
        },
        ServerMessage::Denied {
            reason: DenyReason::MeetingEnded,
        },
        ServerMessage::Knock {
            entry: lobby_entry(2),
        },
        ServerMessage::Lobby {
            entries: vec![lobby_entry(2), lobby_entry(3)],
        },
        ServerMessage::AddMembers {
            epoch: 7,
            requests: vec![
                AddRequest {
                    participant: pid(2),
                    key_package: blob(300),
                    role: Role::Guest,
                    admission: None,
                },
                AddRequest {
                    participant: pid(3),
                    key_package: blob(301),
                    role: Role::Guest,
                    admission: None,
                },
            ],
        },
        ServerMessage::RemoveMembers {
            epoch: 7,
            participants: vec![pid(4)],
        },
        ServerMessage::MlsWelcome {
            welcome: blob(4000),
        },
        ServerMessage::MlsCommit {
            epoch: 7,
            commit: blob(900),
            from: pid(1),
        },
        ServerMessage::MlsProposal {
            epoch: 8,
            proposal: blob(100),
        },
        ServerMessage::CommitAccepted { epoch: 7 },
        ServerMessage::CommitRejected {
            epoch: 7,
            current_epoch: 8,
            reason: reason("another commit for epoch 7 came first"),
        },
        ServerMessage::MeetingUpdate {
            meeting: MeetingState {
                auto_lock_minutes: None,
                ..state()
            },
        },
        ServerMessage::Roster {
            participants: vec![
                RosterEntry {
                    participant: pid(1),
                    display_name: name("Host"),
                    role: Role::Host,
                    signed_in: true,
                    signature_key: MlsBlob::new(vec![1; 32]),
                },
                RosterEntry {
                    participant: pid(2),
                    display_name: name("Co"),
                    role: Role::CoHost,
                    signed_in: true,
                    signature_key: MlsBlob::new(vec![2; 32]),
                },
                RosterEntry {
                    participant: pid(3),
                    display_name: name("P"),
                    role: Role::Participant,
                    signed_in: true,
                    signature_key: MlsBlob::new(vec![3; 32]),
                },
            ],
        },
        ServerMessage::RoleChanged {
            participant: pid(2),
            role: Role::CoHost,
        },
        ServerMessage::Expelled {
            reason: Some(reason("disruptive")),
        },
        ServerMessage::Expelled { reason: None },
        ServerMessage::MeetingEnded {
            reason: EndReason::EndedByHost,
        },
        ServerMessage::MeetingEnded {
            reason: EndReason::Idle,
        },
        ServerMessage::MeetingEnded {
            reason: EndReason::ServerShutdown,
        },
        ServerMessage::SdpOffer { sdp: "v=0".into() },
        ServerMessage::SdpAnswer { sdp: "v=0".into() },
        ServerMessage::IceCandidate {
            candidate: "candidate:2 1 udp 1 198.51.100.1 3478 typ host".into(),
            sdp_mid: Some("audio".into()),
            sdp_mline_index: Some(1),
        },
        ServerMessage::Error {
            code: ErrorCode::Throttled,
            message: "too many attempts".into(),
            retry_after_secs: Some(30),
        },
        ServerMessage::Pong { nonce: 99 },
    ]
}

const ALL_CLIENT_TYPES: [&str; 22] = [
    "join",
    "leave",
    "admit",
    "deny",
    "admit_all",
    "return_to_lobby",
    "lock",
    "unlock",
    "set_auto_lock",
    "set_require_sign_in",
    "set_lobby",
    "expel",
    "expel_unverified",
    "assign_co_host",
    "end_meeting",
    "commit",
    "proposal",
    "key_package_refresh",
    "sdp_offer",
    "sdp_answer",
    "ice_candidate",
    "ping",
];

const ALL_SERVER_TYPES: [&str; 23] = [
    "hello",
    "in_lobby",
    "admitted",
    "denied",
    "knock",
    "lobby",
    "add_members",
    "remove_members",
    "mls_welcome",
    "mls_commit",
    "mls_proposal",
    "commit_accepted",
    "commit_rejected",
    "meeting_update",
    "roster",
    "role_changed",
    "expelled",
    "meeting_ended",
    "sdp_offer",
    "sdp_answer",
    "ice_candidate",
    "error",
    "pong",
];

fn wire_type(text: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(value["v"], 1, "{text}");
    value["type"].as_str().unwrap().to_owned()
}

#[test]
fn every_client_message_round_trips() {
    let mut seen = HashSet::new();
    for message in client_samples() {
        let text = encode_client(&message).unwrap();
        assert_eq!(decode_client(&text).unwrap(), message, "{text}");
        assert_eq!(wire_type(&text), message.type_name());
        seen.insert(message.type_name());
    }
    let all: HashSet<&str> = ALL_CLIENT_TYPES.into_iter().collect();
    assert_eq!(
        seen, all,
        "a ClientMessage variant lacks a round-trip sample"
    );
}

#[test]
fn every_server_message_round_trips() {
    let mut seen = HashSet::new();
    for message in server_samples() {
        let text = encode_server(&message).unwrap();
        assert_eq!(decode_server(&text).unwrap(), message, "{text}");
        assert_eq!(wire_type(&text), message.type_name());
        seen.insert(message.type_name());
    }
    let all: HashSet<&str> = ALL_SERVER_TYPES.into_iter().collect();
    assert_eq!(
        seen, all,
        "a ServerMessage variant lacks a round-trip sample"
    );
}

const JOIN_JSON: &str = r#"{"v":1,"type":"join","meeting":"123456789","password":"correct horse","display_name":"Aiko","key_package":"AQID"}"#;

#[test]
fn join_wire_format_is_pinned() {
    assert_eq!(encode_client(&join()).unwrap(), JOIN_JSON);
    assert_eq!(decode_client(JOIN_JSON).unwrap(), join());
}

#[test]
fn other_wire_shapes_are_pinned() {
    let text = encode_server(&ServerMessage::Denied {
        reason: DenyReason::DeniedByHost {
            reason: Some(reason("no")),
        },
    })
    .unwrap();
    assert_eq!(
        text,
        r#"{"v":1,"type":"denied","reason":{"kind":"denied_by_host","reason":"no"}}"#
    );
    assert_eq!(
        encode_client(&ClientMessage::Leave).unwrap(),
        r#"{"v":1,"type":"leave"}"#
    );
    assert_eq!(
        encode_server(&ServerMessage::RoleChanged {
            participant: pid(12),
            role: Role::CoHost
        })
        .unwrap(),
        r#"{"v":1,"type":"role_changed","participant":12,"role":"co_host"}"#
    );
    assert_eq!(
        encode_client(&ClientMessage::SetAutoLock { minutes: None }).unwrap(),
        r#"{"v":1,"type":"set_auto_lock","minutes":null}"#
    );
}

#[test]
fn missing_optional_fields_read_as_none() {
    let text =
        r#"{"v":1,"type":"join","meeting":"123456789","display_name":"Aiko","key_package":"AQID"}"#;
    match decode_client(text).unwrap() {
        ClientMessage::Join { password, .. } => assert_eq!(password, None),
        other => panic!("unexpected {other:?}"),
    }
}

fn assert_malformed(result: Result<ClientMessage, ProtocolError>, needle: &str) {
    match result {
        Err(ProtocolError::Malformed(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}")
        }
        other => panic!("expected Malformed containing {needle:?}, got {other:?}"),
    }
}

/// Deterministic xorshift, so the no-panic sweep needs no extra crates.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn hostile_input_never_panics() {
    const ALPHABET: &[u8] = b"{}[]\":,0123456789aZ-\\ \xff";
    let mut corpus: Vec<String> = client_samples()
        .iter()
        .map(|m| encode_client(m).unwrap())
        .collect();
    corpus.extend(server_samples().iter().map(|m| encode_server(m).unwrap()));
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for text in &corpus {
        let bytes = text.as_bytes();
        // Every truncation.
        for cut in 0..bytes.len() {
            if let Ok(prefix) = std::str::from_utf8(&bytes[..cut]) {
                let _ = decode_client(prefix);
                let _ = decode_server(prefix);
            }
        }
        // Random byte substitutions.
        for _ in 0..200 {
            let mut mutated = bytes.to_vec();
            for _ in 0..1 + next(&mut rng) % 4 {
                let at = (next(&mut rng) % mutated.len() as u64) as usize;
                mutated[at] = ALPHABET[(next(&mut rng) % ALPHABET.len() as u64) as usize];
            }
            let lossy = String::from_utf8_lossy(&mutated);
            let _ = decode_client(&lossy);
            let _ = decode_server(&lossy);
        }
    }
    // Deep nesting is refused by serde_json's recursion limit, not by a stack overflow.
    let deep = format!(r#"{{"v":1,"type":"leave","x":{}}}"#, "[".repeat(100_000));
    assert!(matches!(
        decode_client(&deep),
        Err(ProtocolError::Malformed(_))
    ));
    let deep = format!(
        r#"{{"v":1,"type":"admit","participant":{}}}"#,
        "[".repeat(100_000)
    );
    assert!(matches!(
        decode_client(&deep),
        Err(ProtocolError::Malformed(_))
    ));
}
