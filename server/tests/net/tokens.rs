//! Sign-in sessions over the network: sign-out, refresh-token rotation and reuse, expired
//! access tokens, and revoked sign-ins closing live connections.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use conclave_e2ee::group::{GroupMember, generate_signature_keys};
use conclave_protocol::identity::CredentialPayload;
use conclave_protocol::{ErrorCode, ServerMessage};
use serde_json::{Value, json};

use crate::support::*;

/// Signs in; returns the whole answer (token, refresh token, certificate…) and the member.
async fn sign_in_full(server: &TestServer, username: &str, password: &str) -> (Value, GroupMember) {
    let signer = generate_signature_keys().unwrap();
    let response = server
        .http()
        .post(server.url("/v1/signin"))
        .json(&json!({
            "username": username,
            "password": password,
            "device_signature_key": BASE64.encode(signer.public()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let member = GroupMember::new(signer, &CredentialPayload::user(certificate_of(&body))).unwrap();
    (body, member)
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap()
}

async fn refresh(server: &TestServer, refresh_token: &str) -> reqwest::Response {
    server
        .http()
        .post(server.url("/v1/token/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

async fn sign_out(server: &TestServer, token: &str) -> u16 {
    server
        .http()
        .post(server.url("/v1/sign-out"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The status `POST /v1/meetings` answers this token with.
async fn create_meeting_status(server: &TestServer, token: &str) -> u16 {
    server
        .http()
        .post(server.url("/v1/meetings"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn upgrade_refused(server: &TestServer, token: &str) {
    let error = server.connect(Some(token)).await.unwrap_err();
    assert!(error.contains("401"), "{error}");
}

/// The next `error` message, skipping the rest; it must say the sign-in is gone.
async fn expect_revoked(socket: &mut Socket) {
    loop {
        let message = recv(socket).await;
        if let ServerMessage::Error { code, message, .. } = &message {
            assert_eq!(*code, ErrorCode::Unauthorized, "{message}");
            assert!(message.contains("sign in again"), "{message}");
            return;
        }
    }
}

async fn wait_for_connection_count(server: &TestServer, count: usize) {
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

#[tokio::test]
async fn sign_out_revokes_the_token_everywhere_and_closes_its_connections() {
    let (server, host_token, _host, number, password) = server_with_meeting(json!({})).await;
    server.add_user("ben", "Ben", "ben password 1").await;
    let (body, ben) = sign_in_full(&server, "ben", "ben password 1").await;
    let token = text(&body, "token").to_owned();
    let refresh_token = text(&body, "refresh_token").to_owned();
    assert!(body["refresh_expires_at"].as_i64().unwrap() > body["expires_at"].as_i64().unwrap());
    let mut socket = server.connect_ok(Some(&token)).await;
    send(&mut socket, &join(&number, Some(&password), "Ben", &ben)).await;
    assert_ne!(recv(&mut socket).await.type_name(), "error");

    assert_eq!(sign_out(&server, &token).await, 204);
    // The live connection is told and closed at once, without waiting for a periodic check.
    expect_revoked(&mut socket).await;
    expect_closed(&mut socket).await;
    // The token is refused everywhere, and the session cannot be refreshed back to life.
    upgrade_refused(&server, &token).await;
    assert_eq!(create_meeting_status(&server, &token).await, 401);
    assert_eq!(refresh(&server, &refresh_token).await.status(), 401);
    assert_eq!(sign_out(&server, &token).await, 401);
    // Other sessions are untouched.
    assert_eq!(create_meeting_status(&server, &host_token).await, 200);
}

#[tokio::test]
async fn sign_out_with_the_refresh_token_alone_ends_the_session() {
    let server = TestServer::start().await;
    server.add_user("cy", "Cy", "cy password 1").await;
    let (body, _) = sign_in_full(&server, "cy", "cy password 1").await;
    let response = server
        .http()
        .post(server.url("/v1/sign-out"))
        .json(&json!({ "refresh_token": text(&body, "refresh_token") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        create_meeting_status(&server, text(&body, "token")).await,
        401
    );
}

#[tokio::test]
async fn refresh_rotates_both_tokens_and_recertifies_the_device() {
    let server = TestServer::start().await;
    server.add_user("dee", "Dee", "dee password 1").await;
    let (first, _) = sign_in_full(&server, "dee", "dee password 1").await;
    let response = refresh(&server, text(&first, "refresh_token")).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_ne!(text(&second, "token"), text(&first, "token"));
    assert_ne!(
        text(&second, "refresh_token"),
        text(&first, "refresh_token")
    );
    assert!(second["expires_at"].as_i64().unwrap() > i64::try_from(unix_now()).unwrap());
    // The certificate is for the same device and account.
    let certificate = certificate_of(&second);
    assert_eq!(certificate.user_id(), text(&first, "user_id"));
    assert_eq!(
        certificate.to_bytes().unwrap().len(),
        certificate_of(&first).to_bytes().unwrap().len()
    );
    // The new access token works; the old one was revoked by the rotation.
    assert_eq!(
        create_meeting_status(&server, text(&second, "token")).await,
        200
    );
    assert_eq!(
        create_meeting_status(&server, text(&first, "token")).await,
        401
    );
    server.connect_ok(Some(text(&second, "token"))).await;
    upgrade_refused(&server, text(&first, "token")).await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_session_and_closes_its_connections() {
    let (server, _, _, number, password) = server_with_meeting(json!({})).await;
    server.add_user("eve", "Eve", "eve password 1").await;
    let (first, eve) = sign_in_full(&server, "eve", "eve password 1").await;
    let stolen = text(&first, "refresh_token").to_owned();
    // The rightful client refreshes and joins a meeting with the new token…
    let second: Value = refresh(&server, &stolen).await.json().await.unwrap();
    let mut socket = server.connect_ok(Some(text(&second, "token"))).await;
    send(&mut socket, &join(&number, Some(&password), "Eve", &eve)).await;
    assert_ne!(recv(&mut socket).await.type_name(), "error");
    // …then a thief replays the old refresh token: refused, and the session is over.
    assert_eq!(refresh(&server, &stolen).await.status(), 401);
    expect_revoked(&mut socket).await;
    expect_closed(&mut socket).await;
    assert_eq!(
        create_meeting_status(&server, text(&second, "token")).await,
        401
    );
    upgrade_refused(&server, text(&second, "token")).await;
    assert_eq!(
        refresh(&server, text(&second, "refresh_token"))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn an_expired_access_token_is_refused_until_refreshed() {
    let server = TestServer::start().await;
    server.add_user("fox", "Fox", "fox password 1").await;
    let store = server.running().hub().store();
    let user = store.user_by_username("fox").await.unwrap().unwrap();
    let device = generate_signature_keys().unwrap();
    // An access token that expires at once, with a live refresh token.
    let issued = store
        .create_session(
            &user.id,
            device.public(),
            Duration::ZERO,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    upgrade_refused(&server, &issued.access.token).await;
    assert_eq!(
        create_meeting_status(&server, &issued.access.token).await,
        401
    );
    let response = refresh(&server, &issued.refresh_token).await;
    assert_eq!(response.status(), 200);
    let fresh: Value = response.json().await.unwrap();
    assert_eq!(
        create_meeting_status(&server, text(&fresh, "token")).await,
        200
    );
    assert_eq!(
        refresh(&server, "no such refresh token").await.status(),
        401
    );
}

#[tokio::test]
async fn a_disabled_users_live_connection_is_closed() {
    let server = TestServer::start_with(|config| config.session_check_secs = 1).await;
    server
        .add_user("hana", "Hana Host", "host password 1")
        .await;
    let (host_token, host) = server.sign_in("hana", "host password 1").await;
    let (number, password) = server.create_meeting(&host_token, json!({})).await;
    let mut host_socket = server.connect_ok(Some(&host_token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;

    server.add_user("gus", "Gus", "gus password 1").await;
    let (token, gus) = server.sign_in("gus", "gus password 1").await;
    let mut socket = server.connect_ok(Some(&token)).await;
    send(&mut socket, &join(&number, Some(&password), "Gus", &gus)).await;
    assert_ne!(recv(&mut socket).await.type_name(), "error");
    wait_for_connection_count(&server, 2).await;

    // As `conclaved user disable` does, from outside the connection's reach.
    server
        .running()
        .hub()
        .store()
        .set_user_disabled("gus", true)
        .await
        .unwrap();
    expect_revoked(&mut socket).await;
    expect_closed(&mut socket).await;
    wait_for_connection_count(&server, 1).await;
    // The host stays; the disabled account cannot come back.
    send(
        &mut host_socket,
        &conclave_protocol::ClientMessage::Ping { nonce: 1 },
    )
    .await;
    recv_kind(&mut host_socket, "pong").await;
    upgrade_refused(&server, &token).await;
}

/// A host whose account was disabled elsewhere controls nothing, even before the periodic
/// check notices: every host action re-checks the sign-in first.
#[tokio::test]
async fn a_revoked_host_cannot_end_the_meeting() {
    let (server, token, host, number, _password) = server_with_meeting(json!({})).await;
    let mut socket = server.connect_ok(Some(&token)).await;
    send(&mut socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut socket, "admitted").await;
    server
        .running()
        .hub()
        .store()
        .set_user_disabled("hana", true)
        .await
        .unwrap();
    // The default check period is 30 s: only the per-action check can answer this fast.
    send(&mut socket, &conclave_protocol::ClientMessage::EndMeeting).await;
    expect_revoked(&mut socket).await;
    expect_closed(&mut socket).await;
    let record = server
        .running()
        .hub()
        .store()
        .meeting(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.ended_at, None, "the meeting was not ended");
}
