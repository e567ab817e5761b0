//! Rejection tests: malformed JSON, unknown types and fields, versions, size limits, list
//! limits, cross-field rules and invalid base64.

use super::*;

#[test]
fn malformed_json_is_rejected() {
    assert_malformed(decode_client("{"), "EOF");
    assert_malformed(decode_client(""), "EOF");
    assert_malformed(decode_client("not json"), "expected");
    assert_malformed(
        decode_client(r#"{"v":1,"type":"leave"} trailing"#),
        "trailing",
    );
    assert_malformed(decode_client("[1]"), "");
    assert_malformed(decode_client("null"), "");
}

#[test]
fn unknown_type_is_rejected() {
    assert_malformed(
        decode_client(r#"{"v":1,"type":"audio_level","level":3}"#),
        "unknown variant `audio_level`",
    );
    assert_malformed(decode_client(r#"{"v":1}"#), "type");
    // A server message is not a client message.
    assert_malformed(decode_client(r#"{"v":1,"type":"pong","nonce":1}"#), "pong");
}

#[test]
fn missing_and_unknown_fields_are_rejected() {
    assert_malformed(
        decode_client(r#"{"v":1,"type":"join","meeting":"123456789","key_package":"AQID"}"#),
        "missing field `display_name`",
    );
    assert_malformed(
        decode_client(r#"{"v":1,"type":"admit","participant":1,"extra":true}"#),
        "unknown field `extra`",
    );
    assert_malformed(
        decode_client(r#"{"v":1,"type":"admit","participant":"1"}"#),
        "invalid type",
    );
    assert_malformed(
        decode_client(r#"{"v":1,"type":"admit","participant":1,"participant":2}"#),
        "duplicate field",
    );
    let nested = r#"{"v":1,"type":"admitted","participant":1,"role":"guest","meeting":{"locked":false,"auto_lock_minutes":null,"lobby_enabled":true,"require_sign_in":false,"join_before_host":false,"host_present":true,"epoch":1,"x":1}}"#;
    assert!(matches!(
        decode_server(nested),
        Err(ProtocolError::Malformed(m)) if m.contains("unknown field `x`")
    ));
}

#[test]
fn version_is_checked() {
    assert_eq!(
        decode_client(r#"{"v":2,"type":"leave"}"#),
        Err(ProtocolError::UnsupportedVersion { got: 2 })
    );
    // Reported even when the newer version's message type is unknown here.
    assert_eq!(
        decode_server(r#"{"type":"from_the_future","v":0}"#),
        Err(ProtocolError::UnsupportedVersion { got: 0 })
    );
    assert_malformed(decode_client(r#"{"type":"leave"}"#), "missing field `v`");
    assert_malformed(decode_client(r#"{"v":"1","type":"leave"}"#), "invalid type");
    assert_malformed(decode_client(r#"{"v":65536,"type":"leave"}"#), "");
}

#[test]
fn oversize_raw_text_is_rejected_before_parsing() {
    let text = "x".repeat(MAX_MESSAGE_BYTES + 1);
    assert_eq!(
        decode_client(&text),
        Err(ProtocolError::TooLarge {
            len: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
    assert!(matches!(
        decode_server(&text),
        Err(ProtocolError::TooLarge { .. })
    ));
}

#[test]
fn oversize_fields_are_rejected_by_name() {
    let big_kp = ClientMessage::KeyPackageRefresh {
        key_package: blob(MAX_KEY_PACKAGE_BYTES + 1),
    };
    let expected = Err(ProtocolError::FieldTooLong {
        field: "key_package",
        len: MAX_KEY_PACKAGE_BYTES + 1,
        max: MAX_KEY_PACKAGE_BYTES,
    });
    assert_eq!(
        encode_client(&big_kp),
        expected.clone().map(|()| String::new())
    );
    let text = serde_json::to_string(&Envelope::new(&big_kp)).unwrap();
    assert_eq!(decode_client(&text), expected.map(|()| big_kp.clone()));
    assert!(
        encode_client(&ClientMessage::KeyPackageRefresh {
            key_package: blob(MAX_KEY_PACKAGE_BYTES)
        })
        .is_ok()
    );

    let big_welcome = ServerMessage::MlsWelcome {
        welcome: blob(MAX_WELCOME_BYTES + 1),
    };
    let text = serde_json::to_string(&Envelope::new(&big_welcome)).unwrap();
    assert!(text.len() <= MAX_MESSAGE_BYTES);
    assert_eq!(
        decode_server(&text),
        Err(ProtocolError::FieldTooLong {
            field: "welcome",
            len: MAX_WELCOME_BYTES + 1,
            max: MAX_WELCOME_BYTES
        })
    );
    assert!(
        encode_server(&ServerMessage::MlsWelcome {
            welcome: blob(MAX_WELCOME_BYTES)
        })
        .is_ok()
    );

    let big_sdp = ClientMessage::SdpOffer {
        sdp: "a".repeat(MAX_SDP_BYTES + 1),
    };
    let text = serde_json::to_string(&Envelope::new(&big_sdp)).unwrap();
    assert_eq!(
        decode_client(&text),
        Err(ProtocolError::FieldTooLong {
            field: "sdp",
            len: MAX_SDP_BYTES + 1,
            max: MAX_SDP_BYTES
        })
    );

    let big_candidate = ServerMessage::IceCandidate {
        candidate: "c".repeat(MAX_ICE_CANDIDATE_BYTES + 1),
        sdp_mid: None,
        sdp_mline_index: None,
    };
    assert!(matches!(
        encode_server(&big_candidate),
        Err(ProtocolError::FieldTooLong {
            field: "candidate",
            ..
        })
    ));
    let big_mid = ClientMessage::IceCandidate {
        candidate: String::new(),
        sdp_mid: Some("m".repeat(MAX_SDP_MID_BYTES + 1)),
        sdp_mline_index: None,
    };
    assert!(matches!(
        encode_client(&big_mid),
        Err(ProtocolError::FieldTooLong {
            field: "sdp_mid",
            ..
        })
    ));

    let big_commit = ClientMessage::Commit {
        epoch: 1,
        commit: blob(MAX_COMMIT_BYTES + 1),
        welcome: None,
        added: vec![],
        removed: vec![],
    };
    assert!(matches!(
        encode_client(&big_commit),
        Err(ProtocolError::FieldTooLong {
            field: "commit",
            ..
        })
    ));
    let big_proposal = ServerMessage::MlsProposal {
        epoch: 1,
        proposal: blob(MAX_PROPOSAL_BYTES + 1),
    };
    assert!(matches!(
        encode_server(&big_proposal),
        Err(ProtocolError::FieldTooLong {
            field: "proposal",
            ..
        })
    ));
    let hello = ServerMessage::Hello {
        server_version: "v".repeat(MAX_SERVER_VERSION_BYTES + 1),
        org_key_fingerprint: None,
    };
    assert!(matches!(
        encode_server(&hello),
        Err(ProtocolError::FieldTooLong {
            field: "server_version",
            ..
        })
    ));
    let hello = ServerMessage::Hello {
        server_version: String::new(),
        org_key_fingerprint: Some("f".repeat(MAX_FINGERPRINT_BYTES + 1)),
    };
    assert!(matches!(
        encode_server(&hello),
        Err(ProtocolError::FieldTooLong {
            field: "org_key_fingerprint",
            ..
        })
    ));
    let error = ServerMessage::Error {
        code: ErrorCode::Internal,
        message: "e".repeat(MAX_ERROR_MESSAGE_BYTES + 1),
        retry_after_secs: None,
    };
    assert!(matches!(
        encode_server(&error),
        Err(ProtocolError::FieldTooLong {
            field: "message",
            ..
        })
    ));
    let add = ServerMessage::AddMembers {
        epoch: 1,
        requests: vec![AddRequest {
            participant: pid(1),
            key_package: blob(MAX_KEY_PACKAGE_BYTES + 1),
            role: Role::Guest,
            admission: None,
        }],
    };
    assert!(matches!(
        encode_server(&add),
        Err(ProtocolError::FieldTooLong {
            field: "requests[].key_package",
            ..
        })
    ));
}

#[test]
fn empty_blobs_and_sdp_are_rejected() {
    let empty_kp = ClientMessage::KeyPackageRefresh {
        key_package: MlsBlob::default(),
    };
    assert!(matches!(
        encode_client(&empty_kp),
        Err(ProtocolError::InvalidField {
            field: "key_package",
            ..
        })
    ));
    assert!(matches!(
        decode_client(r#"{"v":1,"type":"sdp_offer","sdp":""}"#),
        Err(ProtocolError::InvalidField { field: "sdp", .. })
    ));
}

#[test]
fn list_lengths_are_limited() {
    let many: Vec<ParticipantId> = (0..=MAX_LIST_ENTRIES as u64).map(pid).collect();
    let commit = ClientMessage::Commit {
        epoch: 1,
        commit: blob(10),
        welcome: None,
        added: vec![],
        removed: many.clone(),
    };
    assert_eq!(
        encode_client(&commit),
        Err(ProtocolError::FieldTooLong {
            field: "removed",
            len: MAX_LIST_ENTRIES + 1,
            max: MAX_LIST_ENTRIES
        })
    );
    let commit = ClientMessage::Commit {
        epoch: 1,
        commit: blob(10),
        welcome: Some(blob(10)),
        added: many.clone(),
        removed: vec![],
    };
    assert!(matches!(
        encode_client(&commit),
        Err(ProtocolError::FieldTooLong { field: "added", .. })
    ));
    let exactly_max = ClientMessage::Commit {
        epoch: 1,
        commit: blob(10),
        welcome: Some(blob(10)),
        added: many[..MAX_LIST_ENTRIES].to_vec(),
        removed: vec![],
    };
    assert!(decode_client(&encode_client(&exactly_max).unwrap()).is_ok());
    let lobby = ServerMessage::Lobby {
        entries: (0..=MAX_LIST_ENTRIES as u64).map(lobby_entry).collect(),
    };
    assert!(matches!(
        encode_server(&lobby),
        Err(ProtocolError::FieldTooLong {
            field: "entries",
            ..
        })
    ));
    let remove = ServerMessage::RemoveMembers {
        epoch: 1,
        participants: many.clone(),
    };
    assert!(matches!(
        encode_server(&remove),
        Err(ProtocolError::FieldTooLong {
            field: "participants",
            ..
        })
    ));
    let roster = ServerMessage::Roster {
        participants: many
            .iter()
            .map(|p| RosterEntry {
                participant: *p,
                display_name: name("x"),
                role: Role::Guest,
                signed_in: false,
                signature_key: MlsBlob::new(vec![2; 32]),
            })
            .collect(),
    };
    assert!(matches!(
        encode_server(&roster),
        Err(ProtocolError::FieldTooLong {
            field: "participants",
            ..
        })
    ));
    let add = ServerMessage::AddMembers {
        epoch: 1,
        requests: many
            .iter()
            .map(|p| AddRequest {
                participant: *p,
                key_package: blob(1),
                role: Role::Guest,
                admission: None,
            })
            .collect(),
    };
    assert!(matches!(
        encode_server(&add),
        Err(ProtocolError::FieldTooLong {
            field: "requests",
            ..
        })
    ));
}

#[test]
fn commit_cross_field_rules() {
    let commit =
        |welcome: Option<MlsBlob>, added: Vec<u64>, removed: Vec<u64>| ClientMessage::Commit {
            epoch: 3,
            commit: blob(10),
            welcome,
            added: added.into_iter().map(pid).collect(),
            removed: removed.into_iter().map(pid).collect(),
        };
    let welcome_rule = |m: ClientMessage| {
        matches!(
            encode_client(&m),
            Err(ProtocolError::InvalidField {
                field: "welcome",
                ..
            })
        )
    };
    assert!(welcome_rule(commit(None, vec![1], vec![])));
    assert!(welcome_rule(commit(Some(blob(5)), vec![], vec![2])));
    assert!(matches!(
        encode_client(&commit(Some(blob(5)), vec![1, 1], vec![])),
        Err(ProtocolError::InvalidField { field: "added", .. })
    ));
    assert!(matches!(
        encode_client(&commit(Some(blob(5)), vec![1], vec![1])),
        Err(ProtocolError::InvalidField {
            field: "removed",
            ..
        })
    ));
    let duplicate_add = ServerMessage::AddMembers {
        epoch: 1,
        requests: vec![
            AddRequest {
                participant: pid(1),
                key_package: blob(1),
                role: Role::Guest,
                admission: None,
            },
            AddRequest {
                participant: pid(1),
                key_package: blob(2),
                role: Role::Guest,
                admission: None,
            },
        ],
    };
    assert!(matches!(
        encode_server(&duplicate_add),
        Err(ProtocolError::InvalidField {
            field: "requests",
            ..
        })
    ));
}

#[test]
fn admitted_carries_a_bounded_external_sender_and_a_group_id_only_for_the_creator() {
    let admitted = |create_group: bool, external_sender: MlsBlob, group_id: Option<MlsBlob>| {
        ServerMessage::Admitted {
            participant: pid(1),
            role: Role::Host,
            meeting: state(),
            create_group,
            external_sender,
            group_id,
        }
    };
    assert!(encode_server(&admitted(true, blob(90), Some(blob(16)))).is_ok());
    assert!(encode_server(&admitted(false, blob(90), None)).is_ok());
    assert!(matches!(
        encode_server(&admitted(false, blob(MAX_EXTERNAL_SENDER_BYTES + 1), None)),
        Err(ProtocolError::FieldTooLong {
            field: "external_sender",
            ..
        })
    ));
    assert!(matches!(
        encode_server(&admitted(false, MlsBlob::new(Vec::new()), None)),
        Err(ProtocolError::InvalidField {
            field: "external_sender",
            ..
        })
    ));
    assert!(matches!(
        encode_server(&admitted(
            true,
            blob(90),
            Some(blob(MAX_GROUP_ID_BYTES + 1))
        )),
        Err(ProtocolError::FieldTooLong {
            field: "group_id",
            ..
        })
    ));
    for (create_group, group_id) in [(true, None), (false, Some(blob(16)))] {
        assert!(matches!(
            encode_server(&admitted(create_group, blob(90), group_id)),
            Err(ProtocolError::InvalidField {
                field: "group_id",
                ..
            })
        ));
    }
}

#[test]
fn encoding_enforces_the_overall_message_limit() {
    // Per-field maxima cannot all be used at once: 2 MiB + 256 KiB of base64 > 3 MiB.
    let commit = ClientMessage::Commit {
        epoch: 1,
        commit: blob(MAX_COMMIT_BYTES),
        welcome: Some(blob(MAX_WELCOME_BYTES)),
        added: vec![pid(1)],
        removed: vec![],
    };
    assert!(commit.validate().is_ok());
    assert!(matches!(
        encode_client(&commit),
        Err(ProtocolError::TooLarge {
            max: MAX_MESSAGE_BYTES,
            ..
        })
    ));
}

#[test]
fn auto_lock_minutes_range() {
    for ok in [None, Some(1), Some(MAX_AUTO_LOCK_MINUTES)] {
        assert!(encode_client(&ClientMessage::SetAutoLock { minutes: ok }).is_ok());
    }
    for bad in [Some(0), Some(MAX_AUTO_LOCK_MINUTES + 1), Some(u32::MAX)] {
        assert!(matches!(
            encode_client(&ClientMessage::SetAutoLock { minutes: bad }),
            Err(ProtocolError::InvalidField {
                field: "minutes",
                ..
            })
        ));
    }
    let update = ServerMessage::MeetingUpdate {
        meeting: MeetingState {
            auto_lock_minutes: Some(0),
            ..state()
        },
    };
    assert!(matches!(
        encode_server(&update),
        Err(ProtocolError::InvalidField {
            field: "auto_lock_minutes",
            ..
        })
    ));
}

#[test]
fn invalid_base64_is_rejected() {
    for bad in ["AQI", "AQ==x", "A Q I D", "AQID!!!!", "AQJ=", "-_8="] {
        let text = format!(r#"{{"v":1,"type":"key_package_refresh","key_package":"{bad}"}}"#);
        assert!(
            matches!(
                decode_client(&text),
                Err(ProtocolError::InvalidField {
                    field: "mls_blob",
                    ..
                })
            ),
            "{bad}: {:?}",
            decode_client(&text)
        );
    }
    assert_malformed(
        decode_client(r#"{"v":1,"type":"key_package_refresh","key_package":[1,2,3]}"#),
        "base64",
    );
    assert_eq!(MlsBlob::from_base64("AQID").unwrap().as_bytes(), &[1, 2, 3]);
    assert_eq!(format!("{:?}", blob(5000)), "MlsBlob(5000 bytes)");
}
