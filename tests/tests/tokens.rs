//! Sign-in sessions with the real client engine: a member whose sign-in is revoked (signed
//! out elsewhere, or the account disabled) is disconnected from the meeting and the others
//! see them go; a refreshed sign-in joins with its renewed certificate.

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::{NewMeeting, refresh, sign_in, sign_out};
use conclave_core::client::{ConnectOptions, MeetingClient, Phase};
use conclave_e2ee::group::{GroupMember, generate_signature_keys};
use conclave_protocol::identity::CredentialPayload;
use conclave_protocol::{DisplayName, MeetingNumber, MeetingPassword};
use conclave_tests::{TestServer, in_meeting, wait};

/// Whether the member's client is out of the meeting (left, or its connection gone).
fn out(s: &conclave_core::client::Snapshot) -> bool {
    matches!(s.phase, Some(Phase::Left(_))) || !s.connected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_elsewhere_disconnects_the_members_meeting() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    server.add_user("ken", "Ken", "ken password 1").await;
    let host_device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server
        .create_meeting(&host_device, NewMeeting::default())
        .await;
    let mut host = server.user_joins(host_device, &meeting).await;
    in_meeting(&mut host).await;
    let ken_device = server.sign_in("ken", "ken password 1").await;
    let token = ken_device.token.clone();
    let refresh_token = ken_device.sign_in.refresh_token.clone();
    let mut ken = server.user_joins(ken_device, &meeting).await;
    in_meeting(&mut ken).await;
    wait(&mut host, "Ken in the roster", |s| s.roster.len() == 2).await;

    // Ken signs out from another program (the CLI, say): this meeting ends for him at once.
    sign_out(
        &server.address(),
        &server.trust(),
        &token,
        refresh_token.as_deref(),
    )
    .await
    .unwrap();
    wait(&mut ken, "Ken disconnected", out).await;
    wait(&mut host, "Ken gone from the roster", |s| {
        s.roster.len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_account_disconnects_its_member_within_the_check_period() {
    let server = TestServer::start_with(|config| config.session_check_secs = 1).await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    server.add_user("lee", "Lee", "lee password 1").await;
    let host_device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server
        .create_meeting(&host_device, NewMeeting::default())
        .await;
    let mut host = server.user_joins(host_device, &meeting).await;
    in_meeting(&mut host).await;
    let lee_device = server.sign_in("lee", "lee password 1").await;
    let mut lee = server.user_joins(lee_device, &meeting).await;
    in_meeting(&mut lee).await;
    wait(&mut host, "Lee in the roster", |s| s.roster.len() == 2).await;

    // What `conclaved user disable lee` does, in another process, on the same database.
    server
        .running
        .hub()
        .store()
        .set_user_disabled("lee", true)
        .await
        .unwrap();
    wait(&mut lee, "Lee disconnected", out).await;
    wait(&mut host, "Lee gone from the roster", |s| {
        s.roster.len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_sign_in_joins_with_its_renewed_certificate() {
    let server = TestServer::start().await;
    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    let meeting = server.create_meeting(&device, NewMeeting::default()).await;
    // A second device of Hana's, whose key this test keeps.
    let signer = generate_signature_keys().unwrap();
    let signed_in = sign_in(
        &server.address(),
        &server.trust(),
        "hana",
        "hunter2-long",
        signer.public(),
    )
    .await
    .unwrap();
    let refreshed = refresh(
        &server.address(),
        &server.trust(),
        signed_in.refresh_token.as_deref().unwrap(),
    )
    .await
    .unwrap();
    let member = GroupMember::new(
        signer,
        &CredentialPayload::user(refreshed.certificate.clone()),
    )
    .unwrap();
    let options = ConnectOptions {
        server: server.address(),
        trust: server.trust(),
        token: Some(refreshed.token.clone()),
    };
    let mut host = MeetingClient::connect(options, member, Some(server.running.org_public_key))
        .await
        .unwrap();
    host.join(
        MeetingNumber::parse(&meeting.number).unwrap(),
        Some(MeetingPassword::new(&meeting.password).unwrap()),
        DisplayName::new("Hana Host").unwrap(),
    );
    in_meeting(&mut host).await;
    // The token the refresh replaced no longer connects.
    let stale = ConnectOptions {
        server: server.address(),
        trust: server.trust(),
        token: Some(signed_in.token.clone()),
    };
    let guest = GroupMember::guest("x").unwrap();
    assert!(MeetingClient::connect(stale, guest, None).await.is_err());
}
