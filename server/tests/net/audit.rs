//! The audit trail's retention on a running server: entries older than
//! `audit_retention_days` are gone soon after the server starts.

use conclave_server::store::{AuditEvent, Store, unix_now};

use super::support::*;

#[tokio::test]
async fn entries_past_the_retention_are_purged_when_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let store = Store::open(&data_dir).await.unwrap();
    let entry = |action: &str| AuditEvent {
        actor: "admin-cli".into(),
        action: action.into(),
        ..AuditEvent::default()
    };
    let day = 86_400;
    store
        .record_audit_at(&entry("user.add"), unix_now() - 40 * day)
        .await
        .unwrap();
    store
        .record_audit_at(&entry("user.disable"), unix_now() - 2 * day)
        .await
        .unwrap();
    store.close().await;

    let server = TestServer::start_with(|c| {
        c.data_dir = data_dir.clone();
        c.audit_retention_days = 30;
    })
    .await;
    let store = server.running().hub().store();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let actions: Vec<String> = store
            .audit_entries(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        if actions == ["user.disable"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there: {actions:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
