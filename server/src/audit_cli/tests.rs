#![allow(clippy::unwrap_used)]

use super::*;
use crate::store::{AuditEvent, StoreOptions};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), StoreOptions::insecure_fast_hashing_for_tests())
        .await
        .unwrap();
    (dir, store)
}

fn event(meeting: &str, action: &str, name: &str) -> AuditEvent {
    AuditEvent {
        meeting_number: Some(meeting.into()),
        actor: format!("{name} (#1)"),
        action: action.into(),
        display_name: Some(name.into()),
        device: Some("sha256:00112233445566778899aabbccddeeff".into()),
        address: Some("192.0.2.7".into()),
        ..AuditEvent::default()
    }
}

async fn run(store: &Store, command: AuditCommand) -> String {
    let mut out = Vec::new();
    run_audit_command(command, store, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

fn export(format: ExportFormat, filter: FilterArgs) -> AuditCommand {
    AuditCommand::Export { filter, format }
}

const T0: i64 = 1_796_000_000; // 2026-11-29T…Z

#[tokio::test]
async fn csv_quotes_names_and_defuses_formulas() {
    let (_dir, store) = store().await;
    let names = [
        "Tanaka, Aiko",
        "Ben \"the boss\"",
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1 555",
        "-2+3",
        "@SUM(A1)",
        "line\nbreak",
        "田中",
    ];
    for name in names {
        store
            .record_audit(&event("12345678901", "participant.join", name))
            .await
            .unwrap();
    }
    let csv_text = run(&store, export(ExportFormat::Csv, FilterArgs::default())).await;
    assert!(csv_text.contains("\"Tanaka, Aiko\""), "{csv_text}");
    assert!(csv_text.contains("\"Ben \"\"the boss\"\"\""), "{csv_text}");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), CSV_HEADER);
    let column = headers.iter().position(|h| h == "display_name").unwrap();
    let read: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[column].to_owned())
        .collect();
    let expected: Vec<String> = names.iter().map(|n| spreadsheet_safe(n)).collect();
    assert_eq!(read, expected);
    assert_eq!(read[2], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(read[3], "'+1 555");
    assert_eq!(read[5], "'@SUM(A1)");
    assert_eq!(read[7], "田中");
    // The actor column is defused too: every cell goes through the same guard.
    assert!(!csv_text.contains(",=HYPERLINK"));
}

#[tokio::test]
async fn jsonl_has_one_object_per_entry_with_rfc3339_times() {
    let (_dir, store) = store().await;
    store
        .record_audit_at(&event("12345678901", "lock", "Hana"), T0)
        .await
        .unwrap();
    store
        .record_audit_at(&event("12345678901", "participant.leave", "Aiko"), T0 + 60)
        .await
        .unwrap();
    let jsonl = run(&store, export(ExportFormat::Jsonl, FilterArgs::default())).await;
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["action"], "lock");
    assert_eq!(rows[0]["at"], rfc3339(T0));
    assert!(rows[0]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rows[1]["display_name"], "Aiko");
    assert_eq!(rows[1]["address"], "192.0.2.7");
    assert_eq!(rows[1]["user_id"], serde_json::Value::Null);
}

#[tokio::test]
async fn filters_by_meeting_user_and_time() {
    let (_dir, store) = store().await;
    let hana = store.add_user("hana", "Hana", "pw-Hana-1").await.unwrap();
    let mut signed_in = event("11111111111", "lock", "Hana");
    signed_in.user_id = Some(hana.id.clone());
    store.record_audit_at(&signed_in, T0).await.unwrap();
    store
        .record_audit_at(&event("11111111111", "participant.join", "Aiko"), T0 + 100)
        .await
        .unwrap();
    store
        .record_audit_at(&event("22222222222", "participant.join", "Ben"), T0 + 200)
        .await
        .unwrap();
    let actions = |text: String| -> Vec<String> {
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {}",
                    v["meeting"].as_str().unwrap(),
                    v["action"].as_str().unwrap()
                )
            })
            .collect()
    };
    let by_meeting = FilterArgs {
        meeting: Some("11111111111".into()),
        ..FilterArgs::default()
    };
    let got = actions(run(&store, export(ExportFormat::Jsonl, by_meeting)).await);
    assert_eq!(got, ["11111111111 lock", "11111111111 participant.join"]);
    for user in ["hana", hana.id.as_str()] {
        let by_user = FilterArgs {
            user: Some(user.into()),
            ..FilterArgs::default()
        };
        let got = actions(run(&store, export(ExportFormat::Jsonl, by_user)).await);
        assert_eq!(got, ["11111111111 lock"], "{user}");
    }
    let window = FilterArgs {
        since: Some(rfc3339(T0 + 100)),
        // The same instant written in another zone.
        until: Some(
            DateTime::<Utc>::from_timestamp(T0 + 150, 0)
                .unwrap()
                .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
                .to_rfc3339(),
        ),
        ..FilterArgs::default()
    };
    let got = actions(run(&store, export(ExportFormat::Jsonl, window)).await);
    assert_eq!(got, ["11111111111 participant.join"]);

    let bad = FilterArgs {
        since: Some("yesterday".into()),
        ..FilterArgs::default()
    };
    let mut out = Vec::new();
    let error = run_audit_command(AuditCommand::List { filter: bad }, &store, &mut out)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("--since is not an RFC 3339 time"),
        "{error}"
    );
}

#[tokio::test]
async fn the_list_escapes_control_characters_and_says_when_empty() {
    let (_dir, store) = store().await;
    let list = run(
        &store,
        AuditCommand::List {
            filter: FilterArgs::default(),
        },
    )
    .await;
    assert_eq!(list.trim(), "no audit entries");
    let mut tried = event("12345678901", "sign_in.failed", "x");
    tried.actor = "evil\u{1b}[2Jname".into();
    store.record_audit_at(&tried, T0).await.unwrap();
    let list = run(
        &store,
        AuditCommand::List {
            filter: FilterArgs::default(),
        },
    )
    .await;
    assert!(!list.contains('\u{1b}'), "{list:?}");
    assert!(
        list.contains("evil\\u{1b}[2Jname") && list.contains("from=192.0.2.7"),
        "{list}"
    );
}

#[tokio::test]
async fn entries_past_the_retention_are_purged() {
    let (_dir, store) = store().await;
    store
        .record_audit_at(&event("12345678901", "lock", "old"), T0)
        .await
        .unwrap();
    store
        .record_audit_at(&event("12345678901", "unlock", "new"), T0 + 86_400)
        .await
        .unwrap();
    assert_eq!(store.purge_audit_before(T0 + 1).await.unwrap(), 1);
    let left = store.audit_entries(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].action, "unlock");
}
