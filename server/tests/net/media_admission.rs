//! Media connections at the SFU only for members: a participant waiting in the lobby, or
//! admitted but not yet added to the MLS group, gets no peer connection (each costs the server
//! sockets, tasks and memory); a member's offer is answered.

use conclave_e2ee::group::{GroupMember, validate_key_package};
use conclave_protocol::{ClientMessage, ErrorCode, MlsBlob, ServerMessage};
use conclave_rtc::transport::MediaLink;
use serde_json::json;

use crate::support::*;

/// A real WebRTC offer, as a client would send.
async fn offer() -> String {
    MediaLink::offer("127.0.0.1:0").await.unwrap().1
}

async fn expect_refused(socket: &mut Socket, sdp: String) {
    send(socket, &ClientMessage::SdpOffer { sdp }).await;
    let refusal = recv_kind(socket, "error").await;
    assert_eq!(error_code(&refusal).0, ErrorCode::NotAllowed, "{refusal:?}");
}

#[tokio::test]
async fn only_members_get_a_media_connection() {
    let (server, token, mut host, number, password) =
        server_with_meeting(json!({"lobby": true})).await;
    let sfu = server.running().hub().sfu().clone();

    // The host creates the group: a member at once, its offer is answered.
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;
    send(
        &mut host_socket,
        &ClientMessage::SdpOffer { sdp: offer().await },
    )
    .await;
    recv_kind(&mut host_socket, "sdp_answer").await;

    // A guest in the lobby: refused, however often it tries, and it has no connection.
    let mut guest = GroupMember::guest("Gil").unwrap();
    let mut guest_socket = server.connect_ok(None).await;
    send(
        &mut guest_socket,
        &join(&number, Some(&password), "Gil", &guest),
    )
    .await;
    let ServerMessage::InLobby {
        participant: guest_id,
    } = recv_kind(&mut guest_socket, "in_lobby").await
    else {
        unreachable!()
    };
    for _ in 0..3 {
        expect_refused(&mut guest_socket, offer().await).await;
    }
    assert!(!sfu.is_connected(guest_id));

    // Admitted, but its Add not committed yet: still refused.
    send(
        &mut host_socket,
        &ClientMessage::Admit {
            participant: guest_id,
            admission: None,
        },
    )
    .await;
    recv_kind(&mut guest_socket, "admitted").await;
    let ServerMessage::AddMembers { epoch, requests } =
        recv_kind(&mut host_socket, "add_members").await
    else {
        unreachable!()
    };
    expect_refused(&mut guest_socket, offer().await).await;
    assert!(!sfu.is_connected(guest_id));

    // Added (the client offers once it has the Welcome): answered.
    host.create_group(b"media admission", Vec::new()).unwrap();
    let key_package =
        validate_key_package(requests[0].key_package.as_bytes(), None, unix_now()).unwrap();
    let commit = host.commit(vec![key_package], &[]).unwrap();
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
    recv_kind(&mut host_socket, "commit_accepted").await;
    host.confirm_commit().unwrap();
    let ServerMessage::MlsWelcome { welcome } = recv_kind(&mut guest_socket, "mls_welcome").await
    else {
        unreachable!()
    };
    guest.join(welcome.as_bytes()).unwrap();
    send(
        &mut guest_socket,
        &ClientMessage::SdpOffer { sdp: offer().await },
    )
    .await;
    recv_kind(&mut guest_socket, "sdp_answer").await;
    assert!(sfu.is_connected(guest_id));
}

#[tokio::test]
async fn a_member_re_offering_media_in_a_loop_is_throttled() {
    let (server, token, host, number, _password) = server_with_meeting(json!({})).await;
    let mut host_socket = server.connect_ok(Some(&token)).await;
    send(&mut host_socket, &join(&number, None, "Hana", &host)).await;
    recv_kind(&mut host_socket, "admitted").await;
    // A reconnect or two is normal: the first five offers are answered.
    for _ in 0..5 {
        send(
            &mut host_socket,
            &ClientMessage::SdpOffer { sdp: offer().await },
        )
        .await;
        recv_kind(&mut host_socket, "sdp_answer").await;
    }
    // A loop is not: each offer costs the SFU a peer connection.
    send(
        &mut host_socket,
        &ClientMessage::SdpOffer { sdp: offer().await },
    )
    .await;
    let refusal = recv_kind(&mut host_socket, "error").await;
    assert_eq!(error_code(&refusal).0, ErrorCode::Throttled, "{refusal:?}");
}
