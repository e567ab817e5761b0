//! The organisation's settings over HTTPS: `[meeting_defaults]` applied to instant and
//! scheduled meetings where the request is silent and announced by `GET /v1/server-info`.

use conclave_server::config::{ClientVersionsTable, MeetingDefaultsTable};
use conclave_server::{MeetingOptions, StoredOptions as _};
use serde_json::json;

use super::support::*;

async fn strict_server() -> TestServer {
    TestServer::start_with(|c| {
        c.meeting_defaults = MeetingDefaultsTable {
            lobby: true,
            require_sign_in: true,
            auto_lock_minutes: Some(25),
            join_before_host: false,
        };
        c.client_versions = ClientVersionsTable {
            minimum: Some("0.1.0".into()),
            latest: Some("0.2.0".into()),
            download_url: Some("https://intranet.example/conclave".into()),
        };
    })
    .await
}

async fn stored_options(server: &TestServer, number: &str) -> MeetingOptions {
    let record = server
        .running()
        .hub()
        .store()
        .meeting(number)
        .await
        .unwrap()
        .expect("the meeting is stored");
    MeetingOptions::from_json(&record.options_json)
}

#[tokio::test]
async fn server_info_is_public_and_announces_versions_and_defaults() {
    let server = strict_server().await;
    let response = server
        .http()
        .get(server.url("/v1/server-info"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let info: conclave_protocol::http::ServerInfo = response.json().await.unwrap();
    assert!(info.server_version.starts_with("conclaved "));
    assert_eq!(info.client_versions.minimum.as_deref(), Some("0.1.0"));
    assert_eq!(info.client_versions.latest.as_deref(), Some("0.2.0"));
    assert_eq!(
        info.client_versions.download_url.as_deref(),
        Some("https://intranet.example/conclave")
    );
    assert!(info.meeting_defaults.lobby && info.meeting_defaults.require_sign_in);
    assert_eq!(info.meeting_defaults.auto_lock_minutes, Some(25));
}

#[tokio::test]
async fn instant_and_scheduled_meetings_take_the_defaults_where_the_request_is_silent() {
    let server = strict_server().await;
    server.add_user("hana", "Hana", "host password 1").await;
    let (token, _) = server.sign_in("hana", "host password 1").await;

    let (silent, _) = server.create_meeting(&token, json!({})).await;
    let options = stored_options(&server, &silent).await;
    assert!(options.lobby && options.require_sign_in && !options.join_before_host);
    assert_eq!(options.auto_lock_minutes, Some(25));

    let (explicit, _) = server
        .create_meeting(&token, json!({"lobby": false, "require_sign_in": false}))
        .await;
    let options = stored_options(&server, &explicit).await;
    assert!(!options.lobby && !options.require_sign_in);
    assert_eq!(options.auto_lock_minutes, Some(25));

    let response = server
        .http()
        .post(server.url("/v1/schedule"))
        .bearer_auth(&token)
        .json(&json!({
            "title": "Weekly",
            "when": {"start": "2026-12-01T10:00:00", "time_zone": "Asia/Tokyo",
                     "duration_minutes": 30},
            "options": {"lobby": false}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let options = &body["meeting"]["options"];
    assert_eq!(options["lobby"], false, "what the request says wins");
    assert_eq!(options["require_sign_in"], true);
    assert_eq!(options["auto_lock_minutes"], 25);
}
