//! Simulator tests of the schedule screen: the form, the saved meeting, export and copy.

use super::*;
use crate::i18n::Language;
use conclave_core::client::TlsTrust;
use iced_test::simulator;

fn session() -> Session {
    Session {
        server: "127.0.0.1:8443".into(),
        trust: TlsTrust::PublicRoots,
        display_name: "Hana".into(),
        account: None,
        hosting_locally: true,
        not_kept: None,
    }
}

fn saved(exclude: bool) -> Saved {
    let request = Form {
        title: "Budget review".into(),
        start: "2026-12-01 10:00".into(),
        time_zone: "Asia/Tokyo".into(),
        exclude_password_from_invitation: exclude,
        ..Form::default()
    }
    .request()
    .expect("valid form");
    Saved {
        meeting: sample_meeting(request, "12345678901", false),
        password: Some("Gen3ratedPass".into()),
    }
}

#[test]
fn exclude_password_from_invitation_is_on_by_default() {
    let _language = crate::test_language(Language::English);
    let state = State::new(session());
    assert!(state.form.exclude_password_from_invitation);
    assert!(
        state
            .form
            .request()
            .map(|_| ())
            .is_err_and(|e| e == schedule_error(&ScheduleError::Title))
    );
}

#[test]
fn the_generated_password_is_shown_with_copy_and_stays_out_of_the_invitation() {
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    let _ = state.update(Message::Saved(Ok(Box::new(saved(true)))));
    let shown = fl!("schedule-saved-password", password = "Gen3ratedPass");
    assert_eq!(shown, "Password: Gen3ratedPass");
    // Hidden until asked for (screenshots and screen shares must not catch it).
    assert!(simulator(state.view()).find(shown.clone()).is_err());
    let _ = state.update(Message::ShowPassword(true));
    let mut ui = simulator(state.view());
    assert!(ui.find(shown).is_ok());
    assert!(ui.click(fl!("schedule-copy-password")).is_ok());
    let messages: Vec<_> = ui.into_messages().collect();
    assert!(matches!(messages.as_slice(), [Message::CopyPassword]));
    assert!(matches!(
        state.update(Message::CopyPassword),
        Action::Run(_)
    ));

    let ics = state.invitation_ics().expect("saved").expect("renders");
    assert!(ics.contains("BEGIN:VCALENDAR"));
    assert!(!ics.contains("Gen3ratedPass"));
    let text = state.invitation_text().expect("saved").expect("renders");
    assert!(!text.contains("Gen3ratedPass"));
    let message = state.password_message().expect("saved").expect("renders");
    assert!(message.contains("Gen3ratedPass"));
}

#[test]
fn export_and_copy_buttons_start_their_tasks() {
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    let _ = state.update(Message::Saved(Ok(Box::new(saved(true)))));
    let messages = {
        let mut ui = simulator(state.view());
        ui.click(fl!("schedule-export-ics")).expect("export button");
        ui.click(fl!("schedule-copy-invitation"))
            .expect("copy button");
        ui.click(fl!("schedule-copy-password-message"))
            .expect("password message button");
        ui.into_messages().collect::<Vec<_>>()
    };
    assert_eq!(messages.len(), 3);
    for message in messages {
        assert!(matches!(state.update(message), Action::Run(_)));
    }
}

#[test]
fn an_included_password_reaches_the_invitation_when_the_host_allows_it() {
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    let _ = state.update(Message::Saved(Ok(Box::new(saved(false)))));
    let text = state.invitation_text().expect("saved").expect("renders");
    assert!(text.contains("Gen3ratedPass"));
}

#[test]
fn form_errors_are_shown_in_the_users_words() {
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    state.form.title = "Review".into();
    state.form.time_zone = "Mars/Olympus".into();
    let _ = state.update(Message::Save);
    {
        let mut ui = simulator(state.view());
        assert!(
            ui.find(fl!("schedule-error-zone", zone = "Mars/Olympus"))
                .is_ok()
        );
    }
    state.form.time_zone = "Asia/Tokyo".into();
    state.form.days[1] = true;
    state.form.until = "2026-12-31".into();
    state.form.count = "3".into();
    assert_eq!(
        state.form.request().map(|_| ()),
        Err(schedule_error(&ScheduleError::RecurrenceEnd))
    );
}

#[test]
fn editing_starts_from_the_meeting_and_saves_the_same_meeting_unless_changed() {
    let _language = crate::test_language(Language::Japanese);
    let original = Form {
        title: "週次定例".into(),
        start: "2030-06-04 10:00".into(),
        duration: "45".into(),
        time_zone: "Asia/Tokyo".into(),
        days: [false, true, false, true, false, false, false],
        count: "8".into(),
        lobby: false,
        require_sign_in: true,
        auto_lock: "10".into(),
        exclude_password_from_invitation: false,
        co_hosts: "kenji, aiko".into(),
        ..Form::default()
    };
    let request = original.request().expect("valid");
    let mut meeting = sample_meeting(request.clone(), "12345678901", false);
    meeting.co_hosts = request.co_hosts.clone();
    meeting.sequence = 3;

    let mut state = State::edit(session(), meeting);
    // Nothing lost: the form gives back the same request (compared as JSON, what the
    // server gets).
    let json = |r: &ScheduleRequest| serde_json::to_value(r).expect("json");
    assert_eq!(json(&state.form.request().expect("valid")), json(&request));
    let update = state.form.update(3).expect("valid");
    assert_eq!(update.if_sequence, Some(3), "refused if changed meanwhile");
    assert_eq!(update.password, None, "the password stays");
    assert_eq!(update.co_hosts.as_deref(), Some(&request.co_hosts[..]));

    let mut ui = simulator(state.view());
    assert!(ui.find(fl!("schedule-edit-heading")).is_ok());
    assert!(ui.find(fl!("schedule-heading")).is_err());
    drop(ui);
    let _ = state.update(Message::Title("週次定例（臨時）".into()));
    let actions: Vec<Action> = {
        let mut ui = simulator(state.view());
        ui.click(fl!("schedule-save-changes").as_str())
            .expect("save changes");
        ui.into_messages().collect::<Vec<_>>()
    }
    .into_iter()
    .map(|m| state.update(m))
    .collect();
    // This session has no sign-in, so nothing is sent; the form was accepted (no error).
    // Sending against a real server: app/tests/home_scheduled.rs.
    assert!(matches!(actions.as_slice(), [Action::None]));
    assert!(state.error.is_none());
    assert_eq!(
        state.form.update(3).expect("valid").title.as_deref(),
        Some("週次定例（臨時）")
    );
}

#[test]
fn every_option_and_button_can_be_set_from_the_keyboard() {
    use iced::keyboard::key::Named;
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    let _ = state.update(Message::Count("3".into()));
    let messages = crate::controls::reachable(|| state.view(), 30, &[Named::Space]);
    crate::controls::assert_reachable(
        &messages,
        &[
            "Day(0, true)",
            "Day(6, true)",
            "Lobby(false)",
            "RequireSignIn(true)",
            "JoinBeforeHost(true)",
            "ExcludePassword(false)",
            "Save",
            "Back",
        ],
    );
}

#[test]
fn the_saved_meeting_can_be_exported_and_copied_from_the_keyboard() {
    use iced::keyboard::key::Named;
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    let _ = state.update(Message::Saved(Ok(Box::new(saved(true)))));
    let messages = crate::controls::reachable(|| state.view(), 12, &[Named::Enter]);
    crate::controls::assert_reachable(
        &messages,
        &[
            "CopyPassword",
            "ExportIcs",
            "CopyInvitation",
            "CopyPasswordMessage",
            "Back",
        ],
    );
}

#[test]
fn a_changed_meeting_without_its_password_here_says_why_there_is_no_password_message() {
    let _language = crate::test_language(Language::English);
    let mut state = State::new(session());
    let mut without = saved(true);
    without.password = None;
    let _ = state.update(Message::Saved(Ok(Box::new(without))));
    let mut ui = simulator(state.view());
    assert!(ui.find(fl!("schedule-password-not-on-device")).is_ok());
    assert!(ui.find(fl!("schedule-copy-password-message")).is_err());
    assert!(
        ui.find(fl!("schedule-export-ics")).is_ok(),
        "the invitation still goes"
    );
}

#[test]
fn the_organisations_meeting_defaults_start_the_form_and_enforced_ones_stay() {
    use conclave_policy::{Level, Policy, RawValue};
    let _language = crate::test_language(Language::English);
    let mut policy = Policy::none();
    policy.add(
        Level::Enforced,
        "t",
        "DefaultRequireSignIn",
        &RawValue::Bool(true),
    );
    policy.add(
        Level::Recommended,
        "t",
        "DefaultLobby",
        &RawValue::Bool(false),
    );
    policy.add(
        Level::Recommended,
        "t",
        "DefaultAutoLockMinutes",
        &RawValue::Integer(15),
    );
    let defaults = crate::service::policy::AppPolicy::new(policy).meeting_defaults();
    let mut state = State::new(session()).with_policy(defaults);
    assert!(state.form.require_sign_in && !state.form.lobby);
    assert_eq!(state.form.auto_lock, "15");
    assert!(
        simulator(state.view())
            .find(fl!("policy-managed").as_str())
            .is_ok()
    );
    // Recommended values can be changed; the enforced one cannot.
    let _ = state.update(Message::Lobby(true));
    let _ = state.update(Message::AutoLock("5".into()));
    let _ = state.update(Message::RequireSignIn(false));
    assert!(state.form.lobby && state.form.require_sign_in);
    assert_eq!(state.form.auto_lock, "5");
}
