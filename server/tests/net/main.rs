//! The network layer end to end: a real server on 127.0.0.1:0 with a fresh data directory,
//! HTTPS through reqwest and WebSockets through tokio-tungstenite, both pinning the server's
//! self-signed certificate by its SHA-256 fingerprint (the core client's `PinnedSha256`
//! verifier: exactly the certificate whose SHA-256 equals `RunningServer::tls_fingerprint`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod media_admission;
mod org_settings;
mod support;
mod tokens;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use conclave_core::client::tls::{TlsTrust, owned_client_config};
use conclave_e2ee::group::{GroupMember, generate_signature_keys, validate_key_package};
use conclave_protocol::identity::OrgPublicKey;
use conclave_protocol::{
    ClientMessage, DisplayName, EndReason, ErrorCode, MAX_MESSAGE_BYTES, MeetingNumber,
    MeetingPassword, MlsBlob, Role, ServerMessage,
};
use futures_util::SinkExt;
use serde_json::json;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn health_and_pinning() {
    let server = TestServer::start().await;
    let response = server
        .http()
        .get(server.url("/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");

    // Any other pin is refused by the client.
    let wrong = TlsTrust::PinnedSha256(["AB"; 32].join(":"));
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(owned_client_config(&wrong).unwrap())
        .build()
        .unwrap();
    assert!(client.get(server.url("/v1/health")).send().await.is_err());
}

#[tokio::test]
async fn sign_in_certifies_the_device_key() {
    let server = TestServer::start().await;
    server
        .add_user("aiko", "Aiko Tanaka", "correct horse battery")
        .await;
    let device = generate_signature_keys().unwrap();
    let response = server
        .http()
        .post(server.url("/v1/signin"))
        .json(&json!({
            "username": "aiko",
            "password": "correct horse battery",
            "device_signature_key": BASE64.encode(device.public()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(!body["token"].as_str().unwrap().is_empty());
    assert!(body["expires_at"].as_i64().unwrap() > i64::try_from(unix_now()).unwrap());
    assert_eq!(body["display_name"], "Aiko Tanaka");
    let org = OrgPublicKey::from_bytes(&BASE64.decode(body["org_key"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(org, server.running().org_public_key);
    assert_eq!(body["org_key_fingerprint"], org.fingerprint());
    let certificate = certificate_of(&body);
    certificate
        .verify(&org, device.public(), unix_now())
        .unwrap();
    assert_eq!(certificate.user_id(), body["user_id"].as_str().unwrap());
    let other_device = generate_signature_keys().unwrap();
    assert!(
        certificate
            .verify(&org, other_device.public(), unix_now())
            .is_err()
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let server = TestServer::start().await;
    server
        .add_user("aiko", "Aiko", "correct horse battery")
        .await;
    let key = BASE64.encode([7u8; 32]);
    let mut answers = Vec::new();
    for username in ["aiko", "nobody"] {
        let response = server
            .http()
            .post(server.url("/v1/signin"))
            .json(&json!({"username": username, "password": "guess", "device_signature_key": key}))
            .send()
            .await
            .unwrap();
        answers.push((response.status(), response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 401);
    assert_eq!(answers[0], answers[1]);
    let body: serde_json::Value = serde_json::from_str(&answers[0].1).unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn meetings_are_created_over_https_by_signed_in_users() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana", "host password 1").await;
    let (token, _) = server.sign_in("hana", "host password 1").await;
    let (number, password) = server
        .create_meeting(&token, json!({"title": "Weekly", "lobby": true}))
        .await;
    assert_eq!(number.len(), 11);
    assert!(number.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(password.chars().count(), 12);
    let (_, given) = server
        .create_meeting(&token, json!({"password": "Chosen one 42"}))
        .await;
    assert_eq!(given, "Chosen one 42");

    let response = server
        .http()
        .post(server.url("/v1/meetings"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = server
        .http()
        .post(server.url("/v1/meetings"))
        .bearer_auth(&token)
        .json(&json!({"auto_lock_minutes": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn wrong_meeting_passwords_are_throttled() {
    let (server, _, _, number, _) = server_with_meeting(json!({})).await;
    let guest = GroupMember::guest("Guess").unwrap();
    let mut socket = server.connect_ok(None).await;
    for _ in 0..6 {
        send(&mut socket, &join(&number, Some("wrong"), "Guess", &guest)).await;
        assert_eq!(
            error_code(&recv(&mut socket).await).0,
            ErrorCode::WrongPassword
        );
    }
    send(&mut socket, &join(&number, Some("wrong"), "Guess", &guest)).await;
    let (code, retry) = error_code(&recv(&mut socket).await);
    assert_eq!(code, ErrorCode::Throttled);
    assert!(retry.unwrap() >= 1);
    // This address is throttled on unknown numbers too (and the connection stays usable).
    let mut fresh = server.connect_ok(None).await;
    send(&mut fresh, &join("123456789", Some("x"), "Guess", &guest)).await;
    let (code, _) = error_code(&recv(&mut fresh).await);
    assert_eq!(code, ErrorCode::Throttled);
    ping(&mut fresh, 1).await;
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_server_lives_on() {
    let server = TestServer::start().await;
    let mut socket = server.connect_ok(None).await;

    let oversize = "x".repeat(MAX_MESSAGE_BYTES + 1);
    socket.send(Message::Text(oversize.into())).await.unwrap();
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::MessageTooLarge
    );
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::BadRequest
    );
    socket
        .send(Message::Text(r#"{"v":2,"type":"ping","nonce":1}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::BadRequest
    );
    ping(&mut socket, 42).await;
    // Room messages before a join are refused.
    send(&mut socket, &ClientMessage::Lock).await;
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::BadRequest
    );

    // The fifth bad message closes the connection.
    for _ in 0..2 {
        socket.send(Message::Text("[]".into())).await.unwrap();
        assert_eq!(
            error_code(&recv(&mut socket).await).0,
            ErrorCode::BadRequest
        );
    }
    expect_closed(&mut socket).await;

    // A frame far over the limit is cut off by the WebSocket layer: that connection ends.
    let mut socket = server.connect_ok(None).await;
    let huge = "x".repeat(MAX_MESSAGE_BYTES + 1024 * 1024);
    let _ = socket.send(Message::Text(huge.into())).await;
    expect_closed(&mut socket).await;

    let mut socket = server.connect_ok(None).await;
    ping(&mut socket, 7).await;
}

#[tokio::test]
async fn invalid_tokens_are_refused_at_the_upgrade() {
    let server = TestServer::start().await;
    let error = server.connect(Some("not-a-token")).await.unwrap_err();
    assert!(error.contains("401"), "{error}");
}

#[tokio::test]
async fn host_creates_the_group_and_admits_a_guest_from_the_lobby() {
    let (server, token, mut host, number, password) = server_with_meeting(json!({})).await;

    // A guest who comes before the host waits in the lobby.
    let mut guest = GroupMember::guest("Gil").unwrap();
    let mut guest_socket = server.connect_ok(None).await;
    send(
        &mut guest_socket,
        &join(&number, Some(&password), "Gil", &guest),
    )
    .await;
    let ServerMessage::InLobby {
        participant: guest_id,
    } = recv(&mut guest_socket).await
    else {
        panic!("expected in_lobby");
    };
    // The guest's KeyPackage credential must be a guest's; a bad KeyPackage is refused.
    let mut bad = server.connect_ok(None).await;
    send(
        &mut bad,
        &ClientMessage::Join {
            meeting: MeetingNumber::parse(&number).unwrap(),
            password: Some(MeetingPassword::new(password.clone()).unwrap()),
            display_name: DisplayName::new("Bad").unwrap(),
            key_package: MlsBlob::new(vec![1, 2, 3]),
        },
    )
    .await;
    assert_eq!(error_code(&recv(&mut bad).await).0, ErrorCode::InvalidMls);

    // The host account joins without the password and creates the group.
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "ignored", &host)).await;
    match recv(&mut host_socket).await {
        ServerMessage::Admitted {
            role, create_group, ..
        } => {
            assert_eq!(role, Role::Host);
            assert!(create_group);
        }
        other => panic!("expected admitted, got {other:?}"),
    }
    send(&mut host_socket, &join(&number, None, "again", &host)).await;
    let ServerMessage::Lobby { entries } = recv_kind(&mut host_socket, "lobby").await else {
        unreachable!()
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].participant, guest_id);
    assert!(!entries[0].signed_in);
    assert_eq!(
        error_code(&recv_kind(&mut host_socket, "error").await).0,
        ErrorCode::AlreadyJoined
    );

    // A guest may not use host controls.
    send(&mut guest_socket, &ClientMessage::Lock).await;
    assert_eq!(
        error_code(&recv(&mut guest_socket).await).0,
        ErrorCode::NotAllowed
    );

    send(
        &mut host_socket,
        &ClientMessage::Admit {
            participant: guest_id,
            admission: None,
        },
    )
    .await;
    match recv_kind(&mut guest_socket, "admitted").await {
        ServerMessage::Admitted {
            role, create_group, ..
        } => {
            assert_eq!(role, Role::Guest);
            assert!(!create_group);
        }
        _ => unreachable!(),
    }
    let ServerMessage::AddMembers { epoch, requests } =
        recv_kind(&mut host_socket, "add_members").await
    else {
        unreachable!()
    };
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].participant, guest_id);

    // The host's client commits the Add; the server orders it and routes the Welcome.
    host.create_group(b"net test group", Vec::new()).unwrap();
    let key_package =
        validate_key_package(requests[0].key_package.as_bytes(), None, unix_now()).unwrap();
    let commit = host.commit(vec![key_package], &[]).unwrap();
    assert_eq!(commit.from_epoch, epoch);
    send(
        &mut host_socket,
        &ClientMessage::Commit {
            epoch,
            commit: MlsBlob::new(commit.commit),
            welcome: commit.welcome.map(MlsBlob::new),
            added: vec![guest_id],
            removed: Vec::new(),
        },
    )
    .await;
    assert_eq!(
        recv_kind(&mut host_socket, "commit_accepted").await,
        ServerMessage::CommitAccepted { epoch }
    );
    host.confirm_commit().unwrap();
    let ServerMessage::MlsWelcome { welcome } = recv_kind(&mut guest_socket, "mls_welcome").await
    else {
        unreachable!()
    };
    guest.join(welcome.as_bytes()).unwrap();
    assert_eq!(guest.epoch().unwrap(), host.epoch().unwrap());
    assert_eq!(
        guest.verification_code().unwrap(),
        host.verification_code().unwrap()
    );

    // Ending the meeting reaches everyone and the number is gone for good.
    send(&mut host_socket, &ClientMessage::EndMeeting).await;
    for socket in [&mut host_socket, &mut guest_socket] {
        assert_eq!(
            recv_kind(socket, "meeting_ended").await,
            ServerMessage::MeetingEnded {
                reason: EndReason::EndedByHost
            }
        );
        expect_closed(socket).await;
    }
    let mut late = server.connect_ok(None).await;
    let latecomer = GroupMember::guest("Late").unwrap();
    send(
        &mut late,
        &join(&number, Some(&password), "Late", &latecomer),
    )
    .await;
    assert_eq!(
        error_code(&recv(&mut late).await).0,
        ErrorCode::MeetingNotFound
    );

    // The admit is in the audit log, without secrets (once the writer has caught up).
    server.running().hub().flush_audit().await;
    let entries = server
        .running()
        .hub()
        .store()
        .audit_entries(Some(&number))
        .await
        .unwrap();
    let admit = entries.iter().find(|e| e.action == "admit").unwrap();
    assert!(admit.actor.contains("Hana Host"));
    assert!(admit.target.as_deref().unwrap().contains("Gil"));
    assert!(entries.iter().any(|e| e.action == "end_meeting"));
    assert!(!entries.iter().any(|e| format!("{e:?}").contains(&password)));
}

#[tokio::test]
async fn graceful_shutdown_ends_every_meeting() {
    let (mut server, token, host, number, _) = server_with_meeting(json!({})).await;
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;

    let running = server.server.take().unwrap();
    let addr = running.addr;
    let stopping = tokio::spawn(running.shutdown());
    assert_eq!(
        recv_kind(&mut host_socket, "meeting_ended").await,
        ServerMessage::MeetingEnded {
            reason: EndReason::ServerShutdown
        }
    );
    expect_closed(&mut host_socket).await;
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn sign_in_guesses_are_throttled() {
    let server = TestServer::start().await;
    server
        .add_user("aiko", "Aiko", "correct horse battery")
        .await;
    let key = BASE64.encode([7u8; 32]);
    let attempt = || async {
        server
            .http()
            .post(server.url("/v1/signin"))
            .json(&json!({"username": "aiko", "password": "guess", "device_signature_key": key}))
            .send()
            .await
            .unwrap()
    };
    for _ in 0..6 {
        assert_eq!(attempt().await.status(), 401);
    }
    let response = attempt().await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
}

#[tokio::test]
async fn credentials_must_match_how_the_connection_signed_in() {
    let (server, token, _, number, password) = server_with_meeting(json!({})).await;
    // A signed-in connection with a guest credential.
    let mut socket = server.connect_ok(Some(&token)).await;
    let guest = GroupMember::guest("Hana").unwrap();
    send(&mut socket, &join(&number, Some(&password), "Hana", &guest)).await;
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::InvalidMls
    );
    // A guest connection with someone's certified credential.
    let (_, certified) = server.sign_in("hana", "host password 1").await;
    let mut socket = server.connect_ok(None).await;
    send(
        &mut socket,
        &join(&number, Some(&password), "Hana", &certified),
    )
    .await;
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::Unauthorized
    );
}

// Multi-threaded with a 3 s timeout and pings every 250 ms: on a loaded CI machine a
// single-threaded runtime shared with the server stalled the host's pings past a 1 s timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_dropped_while_pinging_ones_stay() {
    let server = TestServer::start_with(|c| c.idle_timeout_secs = 3).await;
    server
        .add_user("hana", "Hana Host", "host password 1")
        .await;
    let (token, host) = server.sign_in("hana", "host password 1").await;
    let (number, password) = server
        .create_meeting(&token, json!({"join_before_host": true}))
        .await;
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;

    let guest = GroupMember::guest("Quiet").unwrap();
    let mut quiet = server.connect_ok(None).await;
    send(&mut quiet, &join(&number, Some(&password), "Quiet", &guest)).await;
    recv_kind(&mut quiet, "admitted").await;
    // The host keeps pinging; the guest says nothing and is dropped.
    let started = std::time::Instant::now();
    let mut nonce = 0;
    while started.elapsed() < Duration::from_millis(4500) {
        nonce += 1;
        send(&mut host_socket, &ClientMessage::Ping { nonce }).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    expect_closed(&mut quiet).await;
    send(&mut host_socket, &ClientMessage::Ping { nonce: 1_000 }).await;
    while recv_kind(&mut host_socket, "pong").await != (ServerMessage::Pong { nonce: 1_000 }) {}
}

/// Holds every password-hashing slot until dropped.
async fn occupy_hashing(server: &TestServer) -> tokio::sync::OwnedSemaphorePermit {
    let slots = server.running().hub().store().hash_slots().clone();
    let all = u32::try_from(slots.available_permits()).unwrap();
    slots.acquire_many_owned(all).await.unwrap()
}

/// Before the fix every sign-in ran its own Argon2 at once (400 at a time took 4 GB); now
/// a check that finds no free hashing slot in time is answered "busy", and not counted.
#[tokio::test]
async fn password_checks_beyond_the_hashing_slots_are_answered_busy() {
    let (server, _, _, number, password) = server_with_meeting(json!({})).await;
    server
        .add_user("aiko", "Aiko", "correct horse battery")
        .await;
    let key = BASE64.encode([7u8; 32]);
    let held = occupy_hashing(&server).await;
    for _ in 0..8 {
        let response = server
            .http()
            .post(server.url("/v1/signin"))
            .json(&json!({"username": "aiko", "password": "correct horse battery", "device_signature_key": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "2");
    }
    let guest = GroupMember::guest("Gil").unwrap();
    let mut socket = server.connect_ok(None).await;
    send(&mut socket, &join(&number, Some(&password), "Gil", &guest)).await;
    assert_eq!(
        error_code(&recv(&mut socket).await),
        (ErrorCode::Throttled, Some(2))
    );
    // Unknown numbers are checked against a dummy hash through the same slots.
    send(&mut socket, &join("98765432109", Some("x"), "Gil", &guest)).await;
    assert_eq!(
        error_code(&recv(&mut socket).await),
        (ErrorCode::Throttled, Some(2))
    );
    drop(held);
    // The busy answers did not count as guesses.
    server.sign_in("aiko", "correct horse battery").await;
    send(&mut socket, &join(&number, Some(&password), "Gil", &guest)).await;
    assert_ne!(recv(&mut socket).await.type_name(), "error");
}

/// Before the fix a made-up number answered "no such meeting" and a real one "wrong meeting
/// password".
#[tokio::test]
async fn unknown_and_ended_meetings_answer_like_a_wrong_password() {
    let (server, token, host, number, password) = server_with_meeting(json!({})).await;
    let guest = GroupMember::guest("Probe").unwrap();
    let mut answers = Vec::new();
    for (number, password) in [(number.as_str(), "wrong"), ("98765432109", "wrong")] {
        let mut socket = server.connect_ok(None).await;
        send(&mut socket, &join(number, Some(password), "Probe", &guest)).await;
        answers.push(recv(&mut socket).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(error_code(&answers[0]).0, ErrorCode::WrongPassword);

    // The host ends the meeting: a wrong password still gets the same answer; only the right
    // one learns that it ended.
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;
    send(&mut host_socket, &ClientMessage::EndMeeting).await;
    recv_kind(&mut host_socket, "meeting_ended").await;
    let ended = server
        .running()
        .hub()
        .store()
        .meeting(&number)
        .await
        .unwrap();
    assert!(ended.unwrap().ended_at.is_some());
    let mut socket = server.connect_ok(None).await;
    send(&mut socket, &join(&number, Some("wrong"), "Probe", &guest)).await;
    assert_eq!(recv(&mut socket).await, answers[0]);
    send(
        &mut socket,
        &join(&number, Some(&password), "Probe", &guest),
    )
    .await;
    assert_eq!(
        error_code(&recv(&mut socket).await).0,
        ErrorCode::MeetingNotFound
    );
}

/// Before the fix 21 wrong guesses from strangers locked the meeting for everyone, its host
/// included.
#[tokio::test]
async fn strangers_cannot_lock_the_host_or_signed_in_users_out() {
    let (server, token, host, number, password) = server_with_meeting(json!({})).await;
    server.add_user("ben", "Ben", "ben password 1").await;
    let (ben_token, ben) = server.sign_in("ben", "ben password 1").await;
    let hub = server.running().hub();
    // 30 strangers (other addresses) guess wrong.
    for n in 0..30u8 {
        let stranger = std::net::IpAddr::from([192, 0, 2, n]);
        let guess = conclave_server::Guess::join_guest(stranger, &number);
        let _ = hub.throttle().reserve(&guess, unix_now() as i64).await;
    }
    // Guests are throttled on this meeting now…
    let guest = GroupMember::guest("Gil").unwrap();
    let mut socket = server.connect_ok(None).await;
    send(&mut socket, &join(&number, Some(&password), "Gil", &guest)).await;
    assert_eq!(error_code(&recv(&mut socket).await).0, ErrorCode::Throttled);
    // …but the host and signed-in users get in.
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;
    let mut ben_socket = server.connect_ok(Some(&ben_token)).await;
    send(
        &mut ben_socket,
        &join(&number, Some(&password), "Ben", &ben),
    )
    .await;
    assert_ne!(recv(&mut ben_socket).await.type_name(), "error");
}

/// Before the fix an instant meeting accepted the password "1".
#[tokio::test]
async fn instant_meetings_obey_the_password_policy() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana", "host password 1").await;
    let (token, _) = server.sign_in("hana", "host password 1").await;
    let response = server
        .http()
        .post(server.url("/v1/meetings"))
        .bearer_auth(&token)
        .json(&json!({"password": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["rule"], "too_short");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("policy") && message.contains("at least 10"),
        "{message}"
    );
    // A policy with a symbol rule applies to generated passwords too.
    let strict = TestServer::start_with(|c| c.password_policy.require_symbol = true).await;
    strict.add_user("hana", "Hana", "host password 1").await;
    let (token, _) = strict.sign_in("hana", "host password 1").await;
    let (_, generated) = strict.create_meeting(&token, json!({})).await;
    assert!(
        generated.chars().any(|c| !c.is_ascii_alphanumeric()),
        "{generated}"
    );
}

/// Waits (up to [`WAIT`]) until the server has `count` connections.
async fn wait_for_connections(server: &TestServer, count: usize) {
    let hub = server.running().hub();
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.connection_count() != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} connections, expected {count}",
            hub.connection_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Before the fix outboxes were unbounded and socket writes had no timeout: a client that
/// never reads kept its connection (and its growing queue) forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_while_others_are_served() {
    let server = TestServer::start_with(|c| c.send_timeout_secs = 1).await;
    let mut reader = server.connect_ok(None).await;
    let deaf = server.connect_ok(None).await;
    wait_for_connections(&server, 2).await;
    // The deaf client floods pings and never reads a pong.
    let (mut deaf_sink, deaf_stream) = futures_util::StreamExt::split(deaf);
    let flood = tokio::spawn(async move {
        for nonce in 0u64.. {
            let text = conclave_protocol::encode_client(&ClientMessage::Ping { nonce }).unwrap();
            if deaf_sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    let mut nonce = 0;
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    while server.running().hub().connection_count() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deaf client stayed"
        );
        nonce += 1;
        ping(&mut reader, nonce).await;
    }
    // The other client is still served.
    ping(&mut reader, u64::MAX).await;
    flood.abort();
    drop(deaf_stream);
}

/// Before the fix a panic in a connection's task skipped `disconnect`, leaving a ghost in
/// the room and in the connection table.
#[tokio::test]
async fn a_panicking_connection_task_leaves_no_ghost() {
    let (server, token, host, number, password) = server_with_meeting(json!({"lobby": true})).await;
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;
    let hub = server.running().hub().clone();
    let before = hub.connection_count();
    let record = hub.store().meeting(&number).await.unwrap().unwrap();
    assert!(!password.is_empty());

    let ghost = GroupMember::guest("Ghost").unwrap();
    let key_package = ghost.key_package().unwrap();
    let validated =
        validate_key_package(&key_package, Some(&hub.org_public_key()), unix_now()).unwrap();
    let task = tokio::spawn({
        let hub = hub.clone();
        async move {
            let (outbox, _inbox) = tokio::sync::mpsc::channel(256);
            let guard = hub.connect(outbox).unwrap();
            let joined = hub.join(
                guard.id(),
                &record,
                &[],
                conclave_server::JoinRequest {
                    display_name: DisplayName::new("Ghost").unwrap(),
                    user_id: None,
                    signature_key: validated.signature_key,
                    key_package: MlsBlob::new(key_package),
                },
            );
            assert!(joined);
            assert_eq!(hub.meeting_of(guard.id()), Some(record.number.clone()));
            panic!("a bug in the connection task");
        }
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(hub.connection_count(), before);
    // The host saw the ghost knock, and then leave the lobby.
    let ServerMessage::Knock { entry } = recv_kind(&mut host_socket, "knock").await else {
        unreachable!()
    };
    assert_eq!(entry.display_name.as_str(), "Ghost");
    let ServerMessage::Lobby { entries } = recv_kind(&mut host_socket, "lobby").await else {
        unreachable!()
    };
    assert!(entries.is_empty(), "{entries:?}");
}

/// Before the fix `conclaved` created its data directory 0755 (then the database 0644).
#[cfg(unix)]
#[tokio::test]
async fn the_server_creates_its_data_directory_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = TestServer::start_with(|c| c.data_dir = c.data_dir.join("fresh")).await;
    let database = server.running().hub().store().path().to_path_buf();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(database.parent().unwrap()), 0o700);
    assert_eq!(mode(&database), 0o600);
}
