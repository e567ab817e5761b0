//! Fuzz target for the server-only decoders of untrusted input: the JSON bodies of
//! `POST /v1/signin` and `POST /v1/meetings`, decoded as axum's `Json` extractor does and
//! checked as the handlers do (`prepare_meeting`). The signalling messages, SDP and the
//! scheduling bodies are core's types and fuzzed in `core/tests/fuzz.rs`; see
//! docs/fuzzing.md. Seeds: `tests/__fuzz__/http_bodies/corpus/`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use bolero::check;
use conclave_protocol::http::{CreateMeetingRequest, MeetingDefaults, SignInRequest};
use conclave_protocol::schedule::PasswordPolicy;
use conclave_server::{MeetingRequestError, prepare_meeting};

fn create_meeting(request: CreateMeetingRequest) -> Result<String, MeetingRequestError> {
    let options = request.options(&MeetingDefaults::default());
    prepare_meeting(
        &PasswordPolicy::default(),
        request.password,
        request.title.as_deref(),
        &options,
    )
}

#[test]
fn http_bodies() {
    check!()
        .with_iterations(1_000)
        .with_max_len(4_096)
        .for_each(|bytes: &[u8]| {
            let _ = serde_json::from_slice::<SignInRequest>(bytes);
            if let Ok(request) = serde_json::from_slice::<CreateMeetingRequest>(bytes) {
                let _ = create_meeting(request);
            }
        });
}

/// The seeds are a valid body of each kind, so the fuzzer starts from the real format.
#[test]
fn http_seeds_are_valid_bodies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/__fuzz__/http_bodies/corpus");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let sign_in: SignInRequest = serde_json::from_slice(&read("signin.json")).unwrap();
    assert_eq!(sign_in.username, "aiko");
    let meeting: CreateMeetingRequest = serde_json::from_slice(&read("meeting.json")).unwrap();
    assert_eq!(
        create_meeting(meeting).unwrap(),
        "Correct-Horse-7-Battery",
        "the given password is kept"
    );
    let generated: CreateMeetingRequest =
        serde_json::from_slice(&read("meeting-generated-password.json")).unwrap();
    assert!(!create_meeting(generated).unwrap().is_empty());
}
