//! End-to-end: the audit trail of a real server records sign-ins (good and bad), joins and
//! leaves (account, or guest name and device fingerprint, and address), host actions and
//! refusals, and never a password, token or a free-text message: neither in its export nor
//! anywhere in the database files.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use conclave_core::client::account::{AccountError, NewMeeting, sign_in};
use conclave_core::client::{Event, Phase};
use conclave_e2ee::group::{generate_signature_keys, signature_keys_to_bytes};
use conclave_protocol::{ClientMessage, ErrorCode, Reason};
use conclave_server::store::DATABASE_FILE;
use conclave_server::{AuditCommand, ExportFormat, FilterArgs, run_audit_command};
use conclave_tests::{PATIENCE, TestServer, in_meeting, wait};

const SIGN_IN_PASSWORD: &str = "Sign-in-Secret-4417";
const WRONG_PASSWORD: &str = "Wrong-Guess-Secret-9931";
const MEETING_PASSWORD: &str = "Meeting-Secret-7734x";
const PRIVATE_NOTE: &str = "private-note-5521 about the merger";

/// Waits until the server has `count` connections: a leave is recorded before then.
async fn connections_drop_to(server: &TestServer, count: usize) {
    let hub = server.running.hub();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hub.connection_count() != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connections never dropped to {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn export(server: &TestServer, format: ExportFormat) -> String {
    let mut out = Vec::new();
    let command = AuditCommand::Export {
        filter: FilterArgs::default(),
        format,
    };
    run_audit_command(command, server.running.hub().store(), &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn database_bytes(server: &TestServer) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = server.data_dir.join(format!("{DATABASE_FILE}{suffix}"));
        if let Ok(file) = std::fs::read(&path) {
            bytes.extend(file);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// A meeting's life with every kind of entry: a failed and a good sign-in, a meeting with a
/// chosen password, a guest denied with a typed note, a wrong password, an admission, a lock
/// and a leave. Returns the meeting number and the host's tokens.
async fn a_meeting_with_everything(server: &TestServer) -> (String, [String; 2]) {
    server.add_user("hana", "Hana Host", SIGN_IN_PASSWORD).await;
    let signer = generate_signature_keys().unwrap();
    let refused = sign_in(
        &server.address(),
        &server.trust(),
        "hana",
        WRONG_PASSWORD,
        signer.public(),
    )
    .await;
    assert!(matches!(refused, Err(AccountError::BadCredentials)));
    let device = server.sign_in("hana", SIGN_IN_PASSWORD).await;
    let tokens = [
        device.token.clone(),
        device.sign_in.refresh_token.clone().unwrap(),
    ];
    let meeting = server
        .create_meeting(
            &device,
            NewMeeting {
                password: Some(MEETING_PASSWORD.into()),
                lobby: Some(true),
                ..NewMeeting::default()
            },
        )
        .await;
    assert_eq!(meeting.password, MEETING_PASSWORD);
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;

    // A guest the host turns away with a typed note, one who guesses wrong, one let in.
    let mut stranger = server.guest_joins("Stranger, \"S\"", &meeting).await;
    let waiting = wait(&mut stranger, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    host.send(ClientMessage::Deny {
        participant: waiting.participant.unwrap(),
        reason: Some(Reason::new(PRIVATE_NOTE).unwrap()),
    });
    wait(&mut stranger, "denied", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    let mut guesser = server
        .guest_joins_with("Guesser", &meeting.number, Some("not-the-password-1"))
        .await;
    let refusal = loop {
        match tokio::time::timeout(PATIENCE, guesser.next_event()).await {
            Ok(Some(Event::Error { code, .. })) => break code,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no answer to the wrong password"),
        }
    };
    assert_eq!(refusal, ErrorCode::WrongPassword);
    let mut aiko = server.guest_joins("Aiko", &meeting).await;
    let knock = wait(&mut host, "Aiko knocks", |s| {
        s.lobby.iter().any(|e| e.display_name.as_str() == "Aiko")
    })
    .await;
    let aiko_id = knock
        .lobby
        .iter()
        .find(|e| e.display_name.as_str() == "Aiko")
        .map(|e| e.participant)
        .unwrap();
    host.send(ClientMessage::Admit {
        participant: aiko_id,
        admission: None,
    });
    in_meeting(&mut aiko).await;
    host.send(ClientMessage::Lock);
    wait(&mut host, "locked", |s| {
        s.meeting.as_ref().is_some_and(|m| m.locked)
    })
    .await;
    drop(stranger);
    drop(guesser);
    aiko.send(ClientMessage::Leave);
    connections_drop_to(server, 1).await;
    server.running.hub().flush_audit().await;
    (meeting.number, tokens)
}

/// The entries a user would look for are there, with who, from where and on which device.
fn assert_recorded(jsonl: &str, number: &str) {
    let entries: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |action: &str, check: &dyn Fn(&serde_json::Value) -> bool| {
        entries.iter().any(|e| e["action"] == action && check(e))
    };
    let address = |e: &serde_json::Value| e["address"] == "127.0.0.1";
    assert!(has("sign_in.failed", &|e| e["actor"] == "hana" && address(e)));
    assert!(has("sign_in.ok", &|e| e["user_id"].is_string()
        && e["device"].is_string()));
    assert!(has("meeting.create", &|e| e["meeting"] == number));
    assert!(has("participant.join", &|e| e["display_name"]
        == "Hana Host"
        && e["user_id"].is_string()));
    assert!(has("participant.join", &|e| e["display_name"] == "Aiko"
        && e["user_id"].is_null()
        && e["device"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
        && address(e)));
    assert!(has("join_refused.wrong_password", &|e| e["display_name"]
        == "Guesser"));
    assert!(has("deny", &|e| e["target"]
        .as_str()
        .is_some_and(|t| t.contains("Stranger"))));
    assert!(has("admit", &|e| e["target"]
        .as_str()
        .is_some_and(|t| t.contains("Aiko"))));
    assert!(has("lock", &|e| e["display_name"] == "Hana Host"));
    assert!(has("participant.leave", &|e| e["display_name"] == "Aiko"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_records_who_did_what_and_never_a_secret() {
    let server = TestServer::start().await;
    let (number, tokens) = a_meeting_with_everything(&server).await;
    let jsonl = export(&server, ExportFormat::Jsonl).await;
    assert_recorded(&jsonl, &number);
    let csv = export(&server, ExportFormat::Csv).await;
    assert!(
        csv.contains("\"Stranger, \"\"S\"\"\""),
        "names are CSV-quoted: {csv}"
    );
    let database = database_bytes(&server);
    assert!(
        contains(&database, "participant.join"),
        "the database file was read"
    );
    let mut secrets = vec![
        SIGN_IN_PASSWORD,
        WRONG_PASSWORD,
        MEETING_PASSWORD,
        PRIVATE_NOTE,
    ];
    secrets.extend(tokens.iter().map(String::as_str));
    for secret in secrets {
        assert!(!jsonl.contains(secret), "the JSON export holds {secret}");
        assert!(!csv.contains(secret), "the CSV export holds {secret}");
        assert!(!contains(&database, secret), "the database holds {secret}");
    }
    assert!(
        !contains(&database, "private-note"),
        "not even part of the note"
    );
}

/// The entries with `action`, from a JSON-lines export.
fn actions_named(jsonl: &str, action: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_by_ban_and_by_sign_in_requirement_are_recorded_with_the_device() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana Host", SIGN_IN_PASSWORD).await;
    let device = server.sign_in("hana", SIGN_IN_PASSWORD).await;
    let meeting = server
        .create_meeting(
            &device,
            NewMeeting {
                lobby: Some(true),
                ..NewMeeting::default()
            },
        )
        .await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let key = signature_keys_to_bytes(&generate_signature_keys().unwrap()).unwrap();
    let mut mallory = server.guest_with_key_joins("Mallory", &key, &meeting).await;
    let waiting = wait(&mut mallory, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    host.send(ClientMessage::Deny {
        participant: waiting.participant.unwrap(),
        reason: None,
    });
    wait(&mut mallory, "denied", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    // The same device under another name is turned away by its ban.
    let mut back = server
        .guest_with_key_joins("Not Mallory", &key, &meeting)
        .await;
    wait(&mut back, "banned", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;

    let strict = server
        .create_meeting(
            &server.sign_in("hana", SIGN_IN_PASSWORD).await,
            NewMeeting {
                require_sign_in: Some(true),
                ..NewMeeting::default()
            },
        )
        .await;
    let mut guest = server.guest_joins("Aiko", &strict).await;
    wait(&mut guest, "refused", |s| {
        matches!(s.phase, Some(Phase::Left(_)))
    })
    .await;
    server.running.hub().flush_audit().await;

    let jsonl = export(&server, ExportFormat::Jsonl).await;
    let banned = actions_named(&jsonl, "join_refused.banned");
    assert_eq!(banned.len(), 1, "{jsonl}");
    assert_eq!(banned[0]["display_name"], "Not Mallory");
    let mallory_joined = actions_named(&jsonl, "participant.join")
        .into_iter()
        .find(|e| e["display_name"] == "Mallory")
        .unwrap();
    assert_eq!(
        banned[0]["device"], mallory_joined["device"],
        "the ban names the device that came back"
    );
    let refused = actions_named(&jsonl, "join_refused.sign_in_required");
    assert_eq!(refused.len(), 1, "{jsonl}");
    assert_eq!(refused[0]["meeting"], strict.number.as_str());
    assert_eq!(refused[0]["display_name"], "Aiko");
    assert!(refused[0]["user_id"].is_null());
}
