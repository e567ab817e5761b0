//! End-to-end: bad clients cannot disturb a meeting, and a restart loses nothing.

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::NewMeeting;
use conclave_core::client::tls::client_config;
use conclave_core::client::{LeftReason, Phase};
use conclave_protocol::{ClientMessage, EndReason, MlsBlob, ParticipantId};
use conclave_tests::{TestServer, codes_at, in_meeting, wait};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

async fn raw_socket(
    server: &TestServer,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let connector = tokio_tungstenite::Connector::Rustls(client_config(&server.trust()).unwrap());
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{}/v1/ws", server.address()),
        None,
        false,
        Some(connector),
    )
    .await
    .unwrap();
    socket
}

async fn next_type(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<String> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                return Some(value["type"].as_str().unwrap_or_default().to_string());
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversize_messages_get_errors_and_disturb_nobody() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server.create_meeting(&device, NewMeeting::default()).await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let mut guest = server.guest_joins("Aiko", &meeting).await;
    in_meeting(&mut guest).await;
    let code = codes_at(&mut [&mut host, &mut guest], 1).await;

    let mut socket = raw_socket(&server).await;
    assert_eq!(next_type(&mut socket).await.as_deref(), Some("hello"));
    for bad in [
        "not json".to_string(),
        r#"{"v":9,"type":"ping","nonce":1}"#.to_string(),
        r#"{"v":1,"type":"join","meeting":"12ab","display_name":"x","key_package":"AQ=="}"#
            .to_string(),
        r#"{"v":1,"type":"admit","participant":1}"#.to_string(),
    ] {
        socket.send(Message::text(bad)).await.unwrap();
        assert_eq!(next_type(&mut socket).await.as_deref(), Some("error"));
    }
    // Oversize: either an error answer or the connection is cut, never a crash.
    let huge = format!(
        r#"{{"v":1,"type":"ping","nonce":1,"pad":"{}"}}"#,
        "x".repeat(4 << 20)
    );
    let _ = socket.send(Message::text(huge)).await;
    let _ = next_type(&mut socket).await;

    // The server and the meeting carry on.
    let mut fresh = raw_socket(&server).await;
    assert_eq!(next_type(&mut fresh).await.as_deref(), Some("hello"));
    fresh
        .send(Message::text(r#"{"v":1,"type":"ping","nonce":7}"#))
        .await
        .unwrap();
    assert_eq!(next_type(&mut fresh).await.as_deref(), Some("pong"));
    assert_eq!(codes_at(&mut [&mut host, &mut guest], 1).await, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_forging_an_add_or_a_stale_commit_changes_nothing() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server.create_meeting(&device, NewMeeting::default()).await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let mut guest = server.guest_joins("Aiko", &meeting).await;
    in_meeting(&mut guest).await;
    host.send(ClientMessage::Lock);
    wait(&mut host, "locked", |s| {
        s.meeting.as_ref().is_some_and(|m| m.locked)
    })
    .await;
    let mut waiting = server.guest_joins("Friend", &meeting).await;
    wait(&mut waiting, "lobby", |s| s.phase == Some(Phase::InLobby)).await;
    let friend = waiting.snapshot().participant.unwrap();
    let code = codes_at(&mut [&mut host, &mut guest], 1).await;

    // The guest (not the committer) tries to add the friend waiting in the lobby.
    guest.send(ClientMessage::Commit {
        epoch: 1,
        commit: MlsBlob::new(vec![0; 64]),
        welcome: Some(MlsBlob::new(vec![0; 64])),
        added: vec![friend],
        removed: Vec::new(),
    });
    // And a stale commit for an epoch long gone.
    guest.send(ClientMessage::Commit {
        epoch: 0,
        commit: MlsBlob::new(vec![0; 64]),
        welcome: None,
        added: Vec::new(),
        removed: vec![ParticipantId(1)],
    });
    // A request the server refuses: one connection's messages are handled in order, so once
    // its refusal arrives both commits above were handled too.
    guest.send(ClientMessage::Lock);
    let deadline = tokio::time::Instant::now() + conclave_tests::PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, guest.next_event()).await {
            Ok(Some(conclave_core::client::Event::Error {
                code: conclave_protocol::ErrorCode::NotAllowed,
                ..
            })) => break,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("the guest's lock was not refused"),
        }
    }
    assert_eq!(
        waiting.snapshot().phase,
        Some(Phase::InLobby),
        "still waiting"
    );
    assert_eq!(codes_at(&mut [&mut host, &mut guest], 1).await, code);
    assert_eq!(host.snapshot().roster.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_accounts_and_meetings_and_clients_can_rejoin() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server.create_meeting(&device, NewMeeting::default()).await;
    let fingerprint = server.running.tls_fingerprint.clone();
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;

    server.running.shutdown().await;
    let s = wait(&mut host, "told the server stopped", |s| {
        matches!(s.phase, Some(Phase::Left(_))) || !s.connected
    })
    .await;
    if let Some(Phase::Left(reason)) = &s.phase {
        assert_eq!(reason, &LeftReason::Ended(EndReason::ServerShutdown));
    }

    let server = TestServer::start_in(dir.path().to_path_buf()).await;
    assert_eq!(
        server.running.tls_fingerprint, fingerprint,
        "same certificate"
    );
    let device = server.sign_in("hana", "hunter2-long").await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let mut guest = server.guest_joins("Aiko", &meeting).await;
    in_meeting(&mut guest).await;
    let epoch = guest.snapshot().epoch.unwrap();
    let codes = codes_at(&mut [&mut host, &mut guest], epoch).await;
    assert_eq!(codes[0], codes[1]);
}
