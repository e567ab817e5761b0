//! A sign-in kept in the desktop's Secret Service survives a restart of the app.
//!
//! Needs a Secret Service on the session bus: `scripts/test-secret-service.sh` runs this test
//! inside `dbus-run-session` with Debian's GNOME Keyring. Without `CONCLAVE_TEST_SECRET_SERVICE`
//! (a plain `cargo test`) it says it was skipped, since it would otherwise write to the
//! developer's own keyring.

use std::process::Command;

use conclave_app::service::account;
use conclave_app::service::secrets::{SecretStore, choose_store};
use conclave_tests::TestServer;

const TEST_NAME: &str = "a_sign_in_kept_in_the_secret_service_survives_a_restart";

#[tokio::test]
async fn a_sign_in_kept_in_the_secret_service_survives_a_restart() {
    if std::env::var_os("CONCLAVE_TEST_SECRET_SERVICE").is_none() {
        eprintln!("skipped: run scripts/test-secret-service.sh (needs a Secret Service)");
        return;
    }
    if std::env::var("CONCLAVE_RESTART_PHASE").as_deref() == Ok("restore") {
        // The second process: what the app does at start.
        let session = account::restore()
            .await
            .expect("the kept sign-in reads back")
            .expect("still signed in after the restart");
        let username = session.account.as_ref().map(|a| a.username.clone());
        println!("RESTORED {} {username:?}", session.display_name);
        return;
    }

    assert_eq!(
        choose_store(),
        SecretStore::SecretService,
        "a Secret Service answers on this session bus, so it must be chosen"
    );
    let server = TestServer::start().await;
    server
        .add_user("hana", "Hana Keyring", "correct horse battery")
        .await;
    let session = account::sign_in(
        server.address(),
        server.trust(),
        "hana".into(),
        "correct horse battery".into(),
    )
    .await
    .expect("sign in");
    assert_eq!(session.not_kept, None, "the sign-in must be kept");

    // "Restart the app": a new process (this test binary again) restores the sign-in.
    let exe = std::env::current_exe().expect("test binary");
    let output = Command::new(exe)
        .args([TEST_NAME, "--exact", "--nocapture"])
        .env("CONCLAVE_RESTART_PHASE", "restore")
        .output()
        .expect("the second process runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("RESTORED Hana Keyring Some(\"hana\")"),
        "after a restart the app must still be signed in as hana:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Sign-out removes it from the keyring too.
    account::forget(Some(session)).await.expect("sign out");
    assert!(
        account::restore().await.expect("reads").is_none(),
        "signed out: nothing is kept any more"
    );
}
