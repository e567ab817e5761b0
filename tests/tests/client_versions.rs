//! End-to-end: a server's `[client_versions]` and `[meeting_defaults]` as the client engine
//! sees them. Below the minimum, joining is refused before any WebSocket with an error naming
//! the minimum and the download address; with only a newer `latest`, the join succeeds and the
//! version check says an update is available.

#![allow(clippy::unwrap_used)]

use conclave_core::client::account::NewMeeting;
use conclave_core::client::{
    CLIENT_VERSION, ConnectError, ConnectOptions, MeetingClient, VersionCheck, check_version,
    fetch_server_info,
};
use conclave_e2ee::group::GroupMember;
use conclave_server::config::{ClientVersionsTable, MeetingDefaultsTable};
use conclave_tests::{TestServer, in_meeting};

const DOWNLOAD: &str = "https://intranet.example/conclave";

async fn server_asking_for(minimum: &str, latest: &str) -> TestServer {
    TestServer::start_with(|config| {
        config.client_versions = ClientVersionsTable {
            minimum: Some(minimum.to_owned()),
            latest: Some(latest.to_owned()),
            download_url: Some(DOWNLOAD.to_owned()),
        };
        config.meeting_defaults = MeetingDefaultsTable {
            lobby: true,
            auto_lock_minutes: Some(30),
            ..MeetingDefaultsTable::default()
        };
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_below_the_minimum_cannot_join_and_is_told_where_to_update() {
    let server = server_asking_for("999.0.0", "999.1.0").await;
    let options = ConnectOptions {
        server: server.address(),
        trust: server.trust(),
        token: None,
    };
    let refused = MeetingClient::connect(options, GroupMember::guest("Aiko").unwrap(), None).await;
    match refused {
        Err(ConnectError::UpdateRequired {
            current,
            minimum,
            download_url,
        }) => {
            assert_eq!(current, CLIENT_VERSION);
            assert_eq!(minimum, "999.0.0");
            assert_eq!(download_url.as_deref(), Some(DOWNLOAD));
        }
        Err(other) => panic!("expected UpdateRequired, got {other}"),
        Ok(_) => panic!("joined a server that requires a newer client"),
    }
    assert_eq!(server.running.hub().connection_count(), 0, "no WebSocket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_newer_latest_the_join_succeeds_and_an_update_is_announced() {
    let server = server_asking_for("0.0.1", "999.0.0").await;
    let info = fetch_server_info(&server.address(), &server.trust())
        .await
        .unwrap()
        .expect("this server has /v1/server-info");
    assert_eq!(
        check_version(CLIENT_VERSION, &info),
        VersionCheck::UpdateAvailable {
            latest: "999.0.0".into(),
            url: Some(DOWNLOAD.into())
        }
    );
    assert!(info.server_version.starts_with("conclaved "));
    // The organisation's defaults are announced, for clients' forms.
    assert!(info.meeting_defaults.lobby);
    assert_eq!(info.meeting_defaults.auto_lock_minutes, Some(30));

    server.add_user("hana", "Hana Host", "hunter2-long").await;
    let device = server.sign_in("hana", "hunter2-long").await;
    // The request leaves the lobby out, so the organisation's default (on) would apply; the
    // host turns it off to let the guest straight in.
    let meeting = server
        .create_meeting(
            &device,
            NewMeeting {
                lobby: Some(false),
                ..NewMeeting::default()
            },
        )
        .await;
    let mut host = server.user_joins(device, &meeting).await;
    in_meeting(&mut host).await;
    let mut guest = server.guest_joins("Aiko", &meeting).await;
    let snapshot = in_meeting(&mut guest).await;
    assert!(snapshot.end_to_end_encrypted);
    assert_eq!(
        snapshot.meeting.and_then(|m| m.auto_lock_minutes),
        Some(30),
        "the organisation's auto-lock default applies"
    );
}
