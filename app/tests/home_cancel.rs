//! Home against the real server in-process: a signed-in host's upcoming meetings are listed
//! through the screen's own task, "Cancel meeting" → "Yes, cancel" sends the cancellation, and
//! the refreshed list no longer shows it; the server keeps it as cancelled (for the calendar's
//! CANCEL update), never deleted. The screen's tasks run as iced's runtime would run them.

use conclave_app::join::SignedInIdentity;
use conclave_app::screens::home::{Action, Message, State};
use conclave_app::screens::{Account, Session};
use conclave_core::client::account::sign_in;
use conclave_core::client::schedule_api::Scheduler;
use conclave_core::group::{generate_signature_keys, signature_keys_to_bytes};
use conclave_core::schedule::{MeetingOptions, ScheduleRequest, When};
use conclave_tests::TestServer;
use iced::futures::StreamExt as _;

/// Runs a screen task to completion and returns the messages it produced.
async fn run(task: iced::Task<Message>) -> Vec<Message> {
    let Some(stream) = iced_runtime::task::into_stream(task) else {
        return Vec::new();
    };
    stream
        .filter_map(|action| async move {
            match action {
                iced_runtime::Action::Output(message) => Some(message),
                _ => None,
            }
        })
        .collect()
        .await
}

/// Feeds `message` to the screen and keeps running whatever it starts until it settles.
async fn settle(state: &mut State, message: Message) {
    let mut pending = vec![message];
    while let Some(message) = pending.pop() {
        if let Action::Run(task) = state.update(message) {
            pending.extend(run(task).await);
        }
    }
}

fn shows(state: &State, text: &str) -> bool {
    iced_test::simulator(state.view()).find(text).is_ok()
}

fn budget_review() -> ScheduleRequest {
    ScheduleRequest {
        title: "Budget review".into(),
        when: When {
            start: "2030-06-04T10:00:00".parse().expect("start"),
            time_zone: "Asia/Tokyo".into(),
            duration_minutes: 45,
            recurrence: None,
        },
        options: MeetingOptions::default(),
        co_hosts: Vec::new(),
        password: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_cancel_removes_the_meeting_from_home_and_the_server_keeps_it_cancelled() {
    let server = TestServer::start().await;
    server
        .add_user("hana", "Hana Host", "correct horse battery")
        .await;
    let keys = generate_signature_keys().expect("keys");
    let account = sign_in(
        &server.address(),
        &server.trust(),
        "hana",
        "correct horse battery",
        keys.public(),
    )
    .await
    .expect("sign in");
    let scheduler =
        Scheduler::new(&server.address(), &server.trust(), &account.token).expect("scheduler");
    let kept = scheduler
        .schedule(&budget_review())
        .await
        .expect("schedule");
    let mut other = budget_review();
    other.title = "Board meeting".into();
    scheduler.schedule(&other).await.expect("schedule");

    let session = Session {
        server: server.address(),
        trust: server.trust(),
        display_name: "Hana Host".into(),
        account: Some(Account {
            username: "hana".into(),
            identity: SignedInIdentity {
                token: account.token.clone(),
                signature_keys: signature_keys_to_bytes(&keys).expect("key bytes"),
                certificate: account.certificate.clone(),
                org: account.org_key,
            },
        }),
        hosting_locally: false,
        not_kept: None,
    };
    let mut home = State::new(session);
    settle(&mut home, Message::Refresh).await;
    assert!(shows(&home, "Budget review"), "listed from the server");
    assert!(shows(&home, "Board meeting"));

    let number = kept.meeting.number.clone();
    settle(&mut home, Message::CancelMeeting(number.clone())).await;
    assert!(shows(&home, "Budget review"), "nothing sent before Yes");
    settle(&mut home, Message::ConfirmCancel).await;
    assert!(!shows(&home, "Budget review"), "gone from home");
    assert!(shows(&home, "Board meeting"), "the other one stays");

    let on_server = scheduler.list().await.expect("list");
    let cancelled = on_server
        .iter()
        .find(|m| m.number == number)
        .expect("kept on the server");
    assert!(cancelled.cancelled);
    assert!(
        cancelled.sequence > kept.meeting.sequence,
        "a CANCEL update"
    );
}
