//! Home and the schedule screen against the real server in-process: a signed-in host's
//! upcoming meetings are listed through the screen's own task; "Change" opens one in the
//! schedule form, and saving sends the change (same meeting, higher SEQUENCE, so calendars
//! replace the invitation); "Cancel meeting" → "Yes, cancel" sends the cancellation, the
//! refreshed list no longer shows it, and the server keeps it as cancelled (for the calendar's
//! CANCEL update), never deleted. A new meeting typed into the schedule form is saved on the
//! server, and its invitation leaves the generated password out (the password message has it);
//! its confirmation lists what end-to-end encryption turns off and draws the password only
//! after "Show password".
//! The screens' tasks run as iced's runtime would run them.

mod common;

use conclave_app::screens::home::{Action, Message, State};
use conclave_app::screens::schedule;
use conclave_app::screens::{Account, Session};
use conclave_core::client::schedule_api::Scheduler;
use conclave_protocol::schedule::{MeetingOptions, ScheduleRequest, When};
use conclave_tests::TestServer;
use iced::futures::StreamExt as _;

/// Runs a screen task to completion and returns the messages it produced.
async fn run<M: Send + 'static>(task: iced::Task<M>) -> Vec<M> {
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

async fn settle_schedule(state: &mut schedule::State, message: schedule::Message) {
    let mut pending = vec![message];
    while let Some(message) = pending.pop() {
        if let schedule::Action::Run(task) = state.update(message) {
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

async fn signed_in_host(server: &TestServer) -> (Session, Scheduler) {
    let identity = common::signed_in_host(server).await;
    let scheduler =
        Scheduler::new(&server.address(), &server.trust(), &identity.token).expect("scheduler");
    let session = Session {
        server: server.address(),
        trust: server.trust(),
        display_name: "Hana Host".into(),
        account: Some(Account {
            username: "hana".into(),
            identity,
        }),
        hosting_locally: false,
        not_kept: None,
    };
    (session, scheduler)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_cancel_removes_the_meeting_from_home_and_the_server_keeps_it_cancelled() {
    let server = TestServer::start().await;
    let (session, scheduler) = signed_in_host(&server).await;
    let kept = scheduler
        .schedule(&budget_review())
        .await
        .expect("schedule");
    let mut other = budget_review();
    other.title = "Board meeting".into();
    scheduler.schedule(&other).await.expect("schedule");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_opens_the_meeting_in_the_form_and_saving_updates_it_on_the_server() {
    let server = TestServer::start().await;
    let (session, scheduler) = signed_in_host(&server).await;
    let scheduled = scheduler
        .schedule(&budget_review())
        .await
        .expect("schedule");
    let number = scheduled.meeting.number.clone();

    let mut home = State::new(session.clone());
    settle(&mut home, Message::Refresh).await;
    let Action::EditMeeting(meeting) = home.update(Message::EditMeeting(number.clone())) else {
        panic!("Change opens the meeting");
    };
    assert_eq!(meeting.title, "Budget review");

    let mut form = schedule::State::edit(session, *meeting);
    settle_schedule(
        &mut form,
        schedule::Message::Title("Budget review (moved)".into()),
    )
    .await;
    settle_schedule(&mut form, schedule::Message::Duration("90".into())).await;
    settle_schedule(&mut form, schedule::Message::Save).await;
    let saved = form.saved().expect("saved");
    assert_eq!(saved.meeting.number, number, "the same meeting");
    assert_eq!(saved.meeting.title, "Budget review (moved)");
    let ics = form.invitation_ics().expect("invitation").expect("renders");
    assert!(ics.contains(&format!("SEQUENCE:{}", saved.meeting.sequence)));

    let on_server = scheduler.list().await.expect("list");
    let changed = on_server.iter().find(|m| m.number == number).expect("kept");
    assert_eq!(changed.title, "Budget review (moved)");
    assert_eq!(changed.when.duration_minutes, 90);
    assert_eq!(changed.uid, scheduled.meeting.uid, "calendars replace it");
    assert!(changed.sequence > scheduled.meeting.sequence);
    assert!(!changed.cancelled);
    assert_eq!(on_server.len(), 1, "changed, not duplicated");
}

/// Ctrl+A (⌘A on macOS) as a keyboard sends it: the modifier first, then the key.
fn select_all() -> Vec<iced::Event> {
    use iced::keyboard::{self, Key, Modifiers, key};
    let modifiers = |modifiers| iced::Event::Keyboard(keyboard::Event::ModifiersChanged(modifiers));
    vec![
        modifiers(Modifiers::COMMAND),
        iced::Event::Keyboard(keyboard::Event::KeyPressed {
            key: Key::Character("a".into()),
            modified_key: Key::Character("a".into()),
            physical_key: key::Physical::Unidentified(key::NativeCode::Unidentified),
            location: keyboard::Location::Standard,
            modifiers: Modifiers::COMMAND,
            repeat: false,
            text: None,
        }),
        modifiers(Modifiers::empty()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_typed_into_the_schedule_form_is_saved_and_its_invitation_leaves_the_password_out()
 {
    conclave_app::i18n::set_language(conclave_app::i18n::Language::English);
    let server = TestServer::start().await;
    let (session, scheduler) = signed_in_host(&server).await;

    let mut form = schedule::State::new(session);
    // Typed as a user would, field by field.
    let typed: Vec<schedule::Message> = {
        let mut ui = iced_test::simulator(form.view());
        ui.click(iced::widget::Id::new(schedule::TITLE_INPUT))
            .expect("title field");
        ui.typewrite("Design review");
        ui.click(iced::widget::Id::new(schedule::START_INPUT))
            .expect("start field");
        // The field suggests a start; select it all (Ctrl+A) and type over it.
        ui.simulate(select_all());
        ui.typewrite("2030-07-01 09:30");
        ui.into_messages().collect()
    };
    for message in typed {
        settle_schedule(&mut form, message).await;
    }
    settle_schedule(&mut form, schedule::Message::TimeZone("Asia/Tokyo".into())).await;
    settle_schedule(&mut form, schedule::Message::RequireSignIn(true)).await;
    let save: Vec<schedule::Message> = {
        let mut ui = iced_test::simulator(form.view());
        ui.click(conclave_app::fl!("schedule-save").as_str())
            .expect("the Schedule button");
        ui.into_messages().collect()
    };
    for message in save {
        settle_schedule(&mut form, message).await;
    }

    let saved = form.saved().expect("saved").clone();
    let password = saved.password.clone().expect("a generated password");
    assert_eq!(saved.meeting.title, "Design review");

    // The confirmation says what end-to-end encryption turns off.
    let shows_on_form =
        |form: &schedule::State, text: &str| iced_test::simulator(form.view()).find(text).is_ok();
    assert!(shows_on_form(
        &form,
        &conclave_app::fl!("e2ee-turns-off-title")
    ));
    for item in schedule::e2ee_turns_off_items() {
        assert!(shows_on_form(&form, &format!("• {item}")), "{item}");
    }
    // The password is not drawn until the host asks for it, and hides again on request.
    let in_clear = conclave_app::fl!("schedule-saved-password", password = password.as_str());
    assert!(!form.password_shown());
    assert!(
        !shows_on_form(&form, &in_clear),
        "the password is hidden by default"
    );
    assert!(shows_on_form(
        &form,
        &conclave_app::fl!("schedule-saved-password-hidden")
    ));
    for (label, shown) in [
        (conclave_app::fl!("schedule-show-password"), true),
        (conclave_app::fl!("schedule-hide-password"), false),
    ] {
        let clicked: Vec<schedule::Message> = {
            let mut ui = iced_test::simulator(form.view());
            ui.click(label.as_str()).expect("the show/hide button");
            ui.into_messages().collect()
        };
        for message in clicked {
            settle_schedule(&mut form, message).await;
        }
        assert_eq!(form.password_shown(), shown);
        assert_eq!(shows_on_form(&form, &in_clear), shown, "after {label}");
    }
    // "Copy password" is offered while the password stays hidden.
    assert!(shows_on_form(
        &form,
        &conclave_app::fl!("schedule-copy-password")
    ));
    let ics = form.invitation_ics().expect("invitation").expect("renders");
    assert!(ics.contains(&saved.meeting.uid), "the calendar entry's UID");
    assert!(ics.contains("DTSTART;TZID=Asia/Tokyo:20300701T093000"));
    assert!(
        !ics.replace("\r\n ", "").contains(&password),
        "the password stays out of the invitation by default"
    );
    let message = form
        .password_message()
        .expect("password message")
        .expect("renders");
    assert!(message.contains(&password), "sent by another channel");
    // "Export invitation (.ics)" hands the file to the save dialog's task.
    assert!(matches!(
        form.update(schedule::Message::ExportIcs),
        schedule::Action::Run(_)
    ));

    let on_server = scheduler.list().await.expect("list");
    let meeting = on_server
        .iter()
        .find(|m| m.number == saved.meeting.number)
        .expect("on the server");
    assert_eq!(meeting.title, "Design review");
    assert!(meeting.options.require_sign_in);
    assert!(meeting.options.exclude_password_from_invitation);
}
