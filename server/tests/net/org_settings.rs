//! The organisation's settings over HTTPS: `[meeting_defaults]` applied to instant and
//! scheduled meetings where the request is silent and announced by `GET /v1/server-info`, and
//! the join page that answers the same for real and made-up meeting numbers.

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

async fn page(server: &TestServer, path: &str, language: &str) -> (u16, String, String) {
    let response = server
        .http()
        .get(server.url(path))
        .header("accept-language", language)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = format!("{:?}", {
        let mut h: Vec<_> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(n, v)| format!("{n}: {v:?}"))
            .collect();
        h.sort();
        h
    });
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_join_page_cannot_tell_real_meetings_from_made_up_ones() {
    let server = strict_server().await;
    server.add_user("hana", "Hana", "host password 1").await;
    let (token, _) = server.sign_in("hana", "host password 1").await;
    let (number, password) = server
        .create_meeting(&token, json!({"title": "Secret merger talk"}))
        .await;
    let made_up = if number == "12345678901" {
        "12345678902"
    } else {
        "12345678901"
    };
    for language in ["en", "ja,en;q=0.5"] {
        let (status, headers, real) = page(&server, &format!("/join/{number}"), language).await;
        let (fake_status, fake_headers, fake) =
            page(&server, &format!("/join/{made_up}"), language).await;
        assert_eq!((status, fake_status), (200, 200));
        assert_eq!(headers, fake_headers);
        assert_eq!(real.replace(&number, "N"), fake.replace(made_up, "N"));
        for secret in [password.as_str(), "Secret merger talk", "Hana"] {
            assert!(!real.contains(secret), "the page shows {secret}");
        }
        let address = server.running().addr;
        assert!(real.contains(&format!("conclave://join/{address}/{number}")));
        assert!(real.contains("https://intranet.example/conclave"));
    }
    let (status, _, missing) = page(&server, "/join/not-a-number", "ja").await;
    assert_eq!(status, 404);
    assert!(missing.contains("lang=\"ja\""));
}
