//! The shell driven through its screens with the iced simulator.

use super::*;
use iced_test::simulator;

fn shell(dir: &std::path::Path) -> Shell {
    let args = Args {
        lang: Some("en".into()),
        server: Some("127.0.0.1:8443".into()),
        data_dir: Some(dir.to_path_buf()),
        ..Args::default()
    };
    let (shell, _restore) = Shell::boot(args, Settings::default(), LogBuffer::default());
    shell
}

fn click(shell: &mut Shell, label: &str) {
    let messages: Vec<Message> = {
        let mut ui = simulator(shell.view());
        ui.click(label).expect("button on screen");
        ui.into_messages().collect()
    };
    for message in messages {
        let _ = shell.update(message);
    }
}

#[test]
fn guest_reaches_home_settings_and_signs_out_back_to_sign_in() {
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shell = shell(dir.path());
    assert!(matches!(shell.screen(), Screen::SignIn(_)));
    click(&mut shell, &fl!("signin-continue-as-guest"));
    assert!(matches!(shell.screen(), Screen::Home(_)));
    click(&mut shell, &fl!("home-settings"));
    assert!(matches!(shell.screen(), Screen::Settings(_)));
    click(&mut shell, &fl!("common-back"));
    assert!(matches!(shell.screen(), Screen::Home(_)));
    click(&mut shell, &fl!("home-sign-out"));
    assert!(matches!(shell.screen(), Screen::SignIn(_)));
}

#[test]
fn joining_goes_through_pre_join_to_the_meeting_and_cancel_returns_home() {
    use conclave_core::client::TlsTrust;
    use conclave_protocol::{DisplayName, MeetingNumber};
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shell = shell(dir.path());
    click(&mut shell, &fl!("signin-continue-as-guest"));
    let request = JoinRequest {
        server: "127.0.0.1:8443".into(),
        trust: TlsTrust::PublicRoots,
        meeting: MeetingNumber::parse("123456789").expect("number"),
        password: None,
        display_name: DisplayName::new("Aiko").expect("name"),
        identity: None,
    };
    let _ = shell.join(request.clone());
    assert!(matches!(shell.screen(), Screen::PreJoin(_)));
    click(&mut shell, &fl!("prejoin-cancel"));
    assert!(matches!(shell.screen(), Screen::Home(_)));
    let _ = shell.join(request);
    // A machine with a headset: joining with it makes it the device offered next time.
    let _ = shell.update(Message::PreJoin(prejoin::Message::DevicesListed(
        crate::devices::DeviceLists {
            microphones: vec!["USB headset".into()],
            speakers: vec!["USB headset".into()],
            cameras: Vec::new(),
        },
    )));
    click(&mut shell, &fl!("prejoin-join"));
    assert_eq!(shell.settings.microphone.as_deref(), Some("USB headset"));
    assert_eq!(shell.settings.speaker.as_deref(), Some("USB headset"));
    assert_eq!(
        shell.settings.camera, None,
        "the test pattern is not remembered"
    );
    let Screen::Meeting(_) = shell.screen() else {
        panic!("Join on the pre-join screen opens the meeting screen");
    };
    // The waiting room is part of the meeting screen: it says we are connecting.
    let mut ui = simulator(shell.view());
    assert!(ui.find(fl!("lobby-connecting")).is_ok());
}

#[test]
fn the_lang_flag_picks_the_language_and_the_screens_follow_it() {
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let args = Args {
        lang: Some("ja".into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Args::default()
    };
    let (shell, _restore) = Shell::boot(args, Settings::default(), LogBuffer::default());
    let mut ui = simulator(shell.view());
    assert!(ui.find("Conclave へようこそ").is_ok());
    assert!(ui.find("このコンピュータで開催").is_ok());
}

#[test]
fn the_join_flag_fills_in_the_number_once_and_the_password_comes_next() {
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let args = Args {
        lang: Some("en".into()),
        server: Some("127.0.0.1:8443".into()),
        data_dir: Some(dir.path().to_path_buf()),
        join: Some("123456789".into()),
        ..Args::default()
    };
    let (mut shell, _) = Shell::boot(args, Settings::default(), LogBuffer::default());
    let session = Session::test_guest();
    let _ = shell.go_home(session.clone());
    assert!(shell.prefilled_join, "the keyboard goes to the password");
    let Screen::Home(home) = shell.screen() else {
        panic!("home after sign-in");
    };
    assert_eq!(
        home.join_request().map(|r| r.meeting.to_string()).ok(),
        Some("123 456 789".to_owned())
    );
    // Back home after the meeting: the number is not filled in again.
    let _ = shell.go_home(session);
    assert!(!shell.prefilled_join);
}

#[test]
fn settings_that_could_not_be_saved_are_reported_until_dismissed() {
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shell = shell(dir.path());
    let _ = shell.update(Message::SettingsSaved(Err("disk full".into())));
    let shown = fl!("shell-settings-not-saved", detail = "disk full");
    assert!(simulator(shell.view()).find(shown.as_str()).is_ok());
    click(&mut shell, &fl!("shell-dismiss"));
    assert!(simulator(shell.view()).find(shown.as_str()).is_err());
}

fn managed(values: &[(&str, conclave_policy::RawValue)]) -> AppPolicy {
    let mut policy = conclave_policy::Policy::none();
    for (name, value) in values {
        policy.add(conclave_policy::Level::Enforced, "test.json", name, value);
    }
    AppPolicy::new(policy)
}

fn locked_to_example(extra: &[(&str, conclave_policy::RawValue)]) -> AppPolicy {
    use conclave_policy::RawValue;
    let mut values = vec![
        ("ServerUrl", RawValue::Text("meet.example.com:8443".into())),
        ("LockServer", RawValue::Bool(true)),
    ];
    values.extend_from_slice(extra);
    managed(&values)
}

fn boot_managed(dir: &std::path::Path, args: Args, policy: AppPolicy) -> Shell {
    let args = Args {
        lang: Some("en".into()),
        data_dir: Some(dir.to_path_buf()),
        ..args
    };
    Shell::boot_with_policy(args, Settings::default(), LogBuffer::default(), policy).0
}

fn sees(shell: &Shell, label: &str) -> bool {
    simulator(shell.view()).find(label).is_ok()
}

#[test]
fn a_locked_server_is_shown_managed_and_another_server_is_refused_with_a_reason() {
    use conclave_policy::RawValue;
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = locked_to_example(&[("AllowGuestJoin", RawValue::Bool(false))]);
    let args = Args {
        server: Some("other.example.net:443".into()),
        ..Args::default()
    };
    let mut shell = boot_managed(dir.path(), args, policy);
    let Screen::SignIn(state) = shell.screen() else {
        panic!("sign-in first");
    };
    assert_eq!(state.server_text(), "meet.example.com:8443");
    assert!(sees(&shell, &fl!("policy-managed")));
    let banner = shell.problem.clone().expect("the refusal is shown");
    assert!(banner.contains("other.example.net:443") && banner.contains("meet.example.com:8443"));
    // No guest form, no hosting here (the lock names the one server to use).
    assert!(!sees(&shell, &fl!("signin-continue-as-guest")));
    assert!(!sees(&shell, &fl!("signin-this-computer-explain")));
    // Typing into the locked field, or a guest join sent anyway, changes nothing.
    let _ = shell.update(Message::SignIn(signin::Message::ServerChanged(
        "evil:1".into(),
    )));
    let _ = shell.update(Message::SignIn(signin::Message::ContinueAsGuest));
    let Screen::SignIn(state) = shell.screen() else {
        panic!("still on sign-in");
    };
    assert_eq!(state.server_text(), "meet.example.com:8443");
    assert_eq!(
        state.error().map(UiError::text),
        Some(fl!("policy-guests-not-allowed"))
    );
}

#[test]
fn without_a_policy_everything_is_offered() {
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let args = Args {
        server: Some("other.example.net:443".into()),
        ..Args::default()
    };
    let shell = boot_managed(dir.path(), args, AppPolicy::none());
    assert!(shell.problem.is_none());
    assert!(sees(&shell, &fl!("signin-continue-as-guest")));
    assert!(!sees(&shell, &fl!("policy-managed")));
    // Without a server to offer, the first screen is hosting on this computer.
    let shell = boot_managed(dir.path(), Args::default(), AppPolicy::none());
    assert!(sees(&shell, &fl!("signin-this-computer-explain")));
}

#[test]
fn a_meeting_link_opens_that_meetings_join_form_and_a_link_elsewhere_is_refused() {
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let args = Args {
        link: Some("conclave://join/meet.example.com:8443/12345678901".into()),
        ..Args::default()
    };
    let mut shell = boot_managed(dir.path(), args, locked_to_example(&[]));
    assert!(shell.problem.is_none());
    click(&mut shell, &fl!("signin-continue-as-guest"));
    assert!(matches!(shell.screen(), Screen::Home(_)));
    assert!(shell.prefilled_join, "the link's number is filled in");

    // A second launch hands over a link to another server: refused, the user stays put.
    let _ = shell.update(Message::LinkOpened(
        "conclave://join/other.example.net:443/42".into(),
    ));
    assert!(matches!(shell.screen(), Screen::Home(_)));
    assert!(
        shell
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("other.example.net:443"))
    );
    let _ = shell.update(Message::LinkOpened("https://example.com/join/1".into()));
    assert_eq!(shell.problem, Some(fl!("link-invalid")));
}

#[test]
fn forbidden_hosting_and_an_enforced_language_are_applied() {
    use conclave_policy::RawValue;
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = managed(&[
        ("AllowLocalHosting", RawValue::Bool(false)),
        ("AllowLanHosting", RawValue::Bool(false)),
        ("DefaultLanguage", RawValue::Text("ja".into())),
    ]);
    // The --lang flag says English; the organisation's enforced Japanese wins.
    let mut shell = boot_managed(dir.path(), Args::default(), policy);
    assert_eq!(shell.language, Language::Japanese);
    // No server is set, yet the form offers a server, not hosting here.
    assert!(!sees(&shell, &fl!("signin-this-computer-explain")));
    assert!(sees(&shell, &fl!("signin-server")));
    let _ = shell.update(Message::SignIn(signin::Message::HostHere));
    assert!(matches!(shell.screen(), Screen::SignIn(_)));
    click(&mut shell, &fl!("home-settings"));
    assert!(matches!(shell.screen(), Screen::Settings(_)));
    assert!(sees(&shell, &fl!("policy-managed")));
    assert!(sees(&shell, &fl!("policy-lan-not-allowed")));
    // Neither can be changed by a message sent anyway.
    let _ = shell.update(Message::Settings(settings::Message::Language(
        Language::English,
    )));
    let _ = shell.update(Message::Settings(settings::Message::HostOnLan(true)));
    assert_eq!(shell.language, Language::Japanese);
    assert!(!shell.settings.host_on_lan);
}

#[test]
fn policy_problems_are_listed_in_settings() {
    use conclave_policy::RawValue;
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = managed(&[("Colour", RawValue::Text("blue".into()))]);
    let mut shell = boot_managed(dir.path(), Args::default(), policy);
    click(&mut shell, &fl!("home-settings"));
    assert!(sees(&shell, &fl!("policy-problems-heading")));
    assert!(sees(&shell, "test.json: Colour: unknown policy key"));
    // And in the diagnostics report IT asks for.
    assert!(
        shell
            .diagnostics()
            .contains("policy_problem = test.json: Colour: unknown policy key")
    );
}

#[test]
fn a_server_that_requires_a_newer_conclave_shows_the_update_page_until_sign_out() {
    use crate::service::update::ServerCheck;
    use conclave_core::client::VersionCheck;
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut shell = shell(dir.path());
    click(&mut shell, &fl!("signin-continue-as-guest"));
    let _ = shell.update(Message::ServerChecked(ServerCheck {
        version: VersionCheck::UpdateAvailable {
            latest: "9.1.0".into(),
            url: Some("https://intranet.example/conclave".into()),
        },
        meeting_defaults: None,
    }));
    let notice = shell.problem.clone().expect("a dismissible notice");
    assert!(notice.contains("9.1.0") && notice.contains("https://intranet.example/conclave"));
    click(&mut shell, &fl!("shell-dismiss"));
    assert!(shell.problem.is_none());

    let _ = shell.update(Message::ServerChecked(ServerCheck {
        version: VersionCheck::UpdateRequired {
            minimum: "9.0.0".into(),
            url: Some("https://intranet.example/conclave".into()),
        },
        meeting_defaults: None,
    }));
    assert!(sees(&shell, &fl!("update-required-title")));
    // Nothing else is reachable: no join form, no settings.
    assert!(!sees(&shell, &fl!("home-settings")));
    click(&mut shell, &fl!("home-sign-out"));
    assert!(matches!(shell.screen(), Screen::SignIn(_)));
    assert!(!sees(&shell, &fl!("update-required-title")));
}

#[test]
fn the_servers_meeting_defaults_start_the_schedule_form_under_the_policy() {
    use crate::service::update::ServerCheck;
    use conclave_core::client::VersionCheck;
    let _language = crate::test_language(Language::English);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = managed(&[(
        "DefaultAutoLockMinutes",
        conclave_policy::RawValue::Integer(20),
    )]);
    let args = Args {
        server: Some("127.0.0.1:8443".into()),
        ..Args::default()
    };
    let mut shell = boot_managed(dir.path(), args, policy);
    click(&mut shell, &fl!("signin-continue-as-guest"));
    let _ = shell.update(Message::ServerChecked(ServerCheck {
        version: VersionCheck::UpToDate,
        meeting_defaults: Some(conclave_protocol::http::MeetingDefaults {
            lobby: false,
            require_sign_in: true,
            auto_lock_minutes: Some(45),
            join_before_host: false,
        }),
    }));
    let defaults = shell.meeting_defaults();
    assert!(
        !defaults.lobby && defaults.require_sign_in,
        "the server's defaults"
    );
    assert_eq!(defaults.auto_lock_minutes, 20, "the enforced policy wins");
}
