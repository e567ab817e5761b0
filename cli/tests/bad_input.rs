//! The real `conclave-cli` binary on bad input: a clear one-line error and a failing exit
//! code, never a panic. (Building this test also builds the binary that `scripts/cli-smoke.sh`
//! drives, with the same features as the rest of the test build.)

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave-cli"))
        .args(args)
        .output()
        .expect("the conclave-cli binary runs")
}

fn assert_clear_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
}

#[test]
fn a_meeting_number_with_letters_is_refused_before_any_connection() {
    // Port 1 on loopback: nothing listens, so reaching it would fail differently.
    let output = cli(&["join", "--server", "127.0.0.1:1", "12ab-34"]);
    assert_clear_failure(&output, "not a meeting number");
}

#[test]
fn listing_without_a_sign_in_says_how_to_sign_in() {
    let dir = std::env::temp_dir().join(format!("conclave-cli-test-{}", std::process::id()));
    let missing = dir.join("no-such-credentials");
    let output = cli(&[
        "list",
        "--server",
        "127.0.0.1:1",
        "--user",
        "hana",
        "--credentials-file",
        missing.to_str().expect("temp paths are UTF-8 here"),
    ]);
    assert_clear_failure(&output, "not signed in");
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let output = cli(&["join", "--server", "127.0.0.1:1", "123456789"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_clear_failure(&output, "error:");
    assert!(stderr.lines().count() <= 3, "short message: {stderr}");
}
