//! Invitations: the password stays out of every format and language unless the host opts in,
//! and `.ics` output is read back by an independent RFC 5545 parser (the `ical` crate).

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone as _, Utc, Weekday};
use conclave_core::invite::{
    InvitationInput, InviteError, Language, render_html, render_ics, render_ics_cancel,
    render_password_message, render_text,
};
use conclave_protocol::schedule::{
    MeetingOptions, ScheduleError, ScheduledMeeting, WeeklyRecurrence, When,
};
use ical::parser::ical::component::{IcalCalendar, IcalTimeZoneTransitionType};

const PASSWORD: &str = "Kx7#Pq9&Zr=2";

fn meeting(title: &str, zone: &str) -> ScheduledMeeting {
    ScheduledMeeting {
        number: "48213579260".into(),
        uid: "5f0c1d2e3a4b5c6d7e8f901a2b3c4d5e@conclave".into(),
        sequence: 0,
        title: title.into(),
        when: When {
            start: "2026-12-01T10:00:00".parse().unwrap(),
            time_zone: zone.into(),
            duration_minutes: 45,
            recurrence: Some(WeeklyRecurrence {
                days: vec![Weekday::Tue, Weekday::Thu],
                until: Some("2027-06-30".parse().unwrap()),
                count: None,
            }),
        },
        options: MeetingOptions::default(),
        host_name: "山田 花子".into(),
        co_hosts: Vec::new(),
        viewer_is_co_host: false,
        server: "meet.example.org:8443".into(),
        cancelled: false,
    }
}

fn input(meeting: &ScheduledMeeting, language: Language) -> InvitationInput<'_> {
    InvitationInput {
        meeting,
        password: Some(PASSWORD),
        language,
        organizer_email: Some("hanako@example.org"),
        now: Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap(),
    }
}

type Render = fn(&InvitationInput<'_>) -> Result<String, InviteError>;
const FORMATS: [(&str, Render); 4] = [
    ("ics", render_ics),
    ("ics-cancel", render_ics_cancel),
    ("text", render_text),
    ("html", render_html),
];

fn unfolded(ics: &str) -> String {
    ics.replace("\r\n ", "")
}

/// Every spelling of the password a link or escaping could produce.
fn password_forms() -> Vec<String> {
    vec![
        PASSWORD.to_owned(),
        "Kx7%23Pq9%26Zr%3D2".to_owned(),
        "Kx7%23Pq9%26Zr%3d2".to_owned(),
        "Kx7&#35;Pq9&#38;Zr&#61;2".to_owned(),
        "Kx7#Pq9&amp;Zr=2".to_owned(),
        "Kx7#Pq9&Zr\\=2".to_owned(),
    ]
}

#[test]
fn no_format_or_language_contains_the_password_when_it_is_excluded() {
    let meeting = meeting("Weekly stand-up", "Asia/Tokyo");
    assert!(
        meeting.options.exclude_password_from_invitation,
        "excluded by default"
    );
    for language in [Language::English, Language::Japanese] {
        for (name, render) in FORMATS {
            let out = unfolded(&render(&input(&meeting, language)).unwrap());
            for form in password_forms() {
                assert!(
                    !out.contains(&form),
                    "{name}/{language:?} leaks the password"
                );
            }
            assert!(
                !out.to_lowercase().contains("password="),
                "{name}: no password link"
            );
            let notice = match language {
                Language::English => "sends it to you separately",
                Language::Japanese => "別の連絡手段",
            };
            assert!(
                out.contains(notice),
                "{name}/{language:?} must say it comes separately"
            );
        }
    }
}

#[test]
fn the_password_is_included_only_when_the_host_opts_in() {
    let mut meeting = meeting("Weekly stand-up", "Asia/Tokyo");
    meeting.options.exclude_password_from_invitation = false;
    for language in [Language::English, Language::Japanese] {
        for (name, render) in FORMATS {
            let out = unfolded(&render(&input(&meeting, language)).unwrap());
            let found = password_forms()
                .iter()
                .any(|form| out.contains(form.as_str()));
            assert!(
                found,
                "{name}/{language:?} should carry the password when opted in"
            );
        }
    }
}

#[test]
fn the_password_message_has_the_password_and_no_join_link() {
    let meeting = meeting("定例会議", "Asia/Tokyo");
    for language in [Language::English, Language::Japanese] {
        let message = render_password_message(&meeting, PASSWORD, language).unwrap();
        assert!(message.contains(PASSWORD));
        assert!(message.contains("48213579260"));
        assert!(!message.contains("https://") && !message.contains("conclave://"));
    }
    let japanese = render_password_message(&meeting, PASSWORD, Language::Japanese).unwrap();
    assert!(japanese.contains("パスワード: Kx7#Pq9&Zr=2"), "{japanese}");
    assert!(japanese.contains("会議番号: 48213579260"), "{japanese}");
    assert!(japanese.contains("2026年12月1日(火) 10:00 (Asia/Tokyo)"));
    // No invisible bidi marks around the password, which would break copy and paste.
    assert!(!japanese.contains(['\u{2068}', '\u{2069}']));
}

fn parse(ics: &str) -> IcalCalendar {
    let mut parser = ical::IcalParser::new(ics.as_bytes());
    let calendar = parser.next().expect("one calendar").expect("parses");
    assert!(parser.next().is_none());
    calendar
}

fn property<'a>(
    properties: &'a [ical::property::Property],
    name: &str,
) -> &'a ical::property::Property {
    properties
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn value(properties: &[ical::property::Property], name: &str) -> String {
    property(properties, name).value.clone().unwrap_or_default()
}

#[test]
fn an_independent_parser_reads_uid_sequence_and_local_start_with_its_zone() {
    let mut meeting = meeting("Weekly stand-up", "Asia/Tokyo");
    let first = render_ics(&input(&meeting, Language::English)).unwrap();
    for line in first.split("\r\n") {
        assert!(line.len() <= 75, "line longer than 75 octets: {line}");
    }
    let calendar = parse(&first);
    assert_eq!(value(&calendar.properties, "METHOD"), "REQUEST");
    assert_eq!(value(&calendar.properties, "VERSION"), "2.0");
    let event = &calendar.events[0].properties;
    assert_eq!(value(event, "UID"), meeting.uid);
    assert_eq!(value(event, "SEQUENCE"), "0");
    let start = property(event, "DTSTART");
    assert_eq!(start.value.as_deref(), Some("20261201T100000"));
    let params = start.params.as_ref().unwrap();
    assert!(
        params
            .iter()
            .any(|(k, v)| k == "TZID" && v == &vec!["Asia/Tokyo".to_string()])
    );
    let rrule = value(event, "RRULE");
    assert!(rrule.starts_with("FREQ=WEEKLY;BYDAY=TU,TH"), "{rrule}");
    // The last local second of 30 June 2027 in Tokyo is 14:59:59 UTC.
    assert!(rrule.ends_with("UNTIL=20270630T145959Z"), "{rrule}");
    let zone = &calendar.timezones[0];
    assert_eq!(value(&zone.properties, "TZID"), "Asia/Tokyo");
    // Tokyo has no daylight saving time: one STANDARD rule, +0900 to +0900.
    assert_eq!(zone.transitions.len(), 1);
    let standard = &zone.transitions[0];
    assert!(matches!(
        standard.transition,
        IcalTimeZoneTransitionType::STANDARD
    ));
    assert_eq!(value(&standard.properties, "TZOFFSETFROM"), "+0900");
    assert_eq!(value(&standard.properties, "TZOFFSETTO"), "+0900");

    // After an update the UID stays and the SEQUENCE grows; a cancellation says CANCEL.
    meeting.sequence = 1;
    meeting.title = "Stand-up (new room)".into();
    let updated = parse(&render_ics(&input(&meeting, Language::English)).unwrap());
    assert_eq!(value(&updated.events[0].properties, "UID"), meeting.uid);
    assert_eq!(value(&updated.events[0].properties, "SEQUENCE"), "1");
    meeting.sequence = 2;
    meeting.cancelled = true;
    let cancelled = parse(&render_ics_cancel(&input(&meeting, Language::English)).unwrap());
    assert_eq!(value(&cancelled.properties, "METHOD"), "CANCEL");
    assert_eq!(value(&cancelled.events[0].properties, "UID"), meeting.uid);
    assert_eq!(value(&cancelled.events[0].properties, "SEQUENCE"), "2");
    assert_eq!(
        value(&cancelled.events[0].properties, "STATUS"),
        "CANCELLED"
    );
}

#[test]
fn a_daylight_saving_zone_gets_standard_and_daylight_rules() {
    let meeting = meeting("Sprint review", "Europe/Berlin");
    let calendar = parse(&render_ics(&input(&meeting, Language::English)).unwrap());
    let zone = &calendar.timezones[0];
    assert_eq!(value(&zone.properties, "TZID"), "Europe/Berlin");
    let daylight = zone
        .transitions
        .iter()
        .find(|t| matches!(t.transition, IcalTimeZoneTransitionType::DAYLIGHT))
        .expect("a DAYLIGHT rule");
    assert_eq!(value(&daylight.properties, "TZOFFSETFROM"), "+0100");
    assert_eq!(value(&daylight.properties, "TZOFFSETTO"), "+0200");
    assert_eq!(value(&daylight.properties, "TZNAME"), "CEST");
    // Summer time 2027 starts at 02:00 local on 28 March.
    assert!(
        zone.transitions
            .iter()
            .any(|t| value(&t.properties, "DTSTART") == "20270328T020000")
    );
    let standard = zone
        .transitions
        .iter()
        .filter(|t| matches!(t.transition, IcalTimeZoneTransitionType::STANDARD))
        .find(|t| value(&t.properties, "TZOFFSETFROM") == "+0200")
        .expect("a STANDARD rule back to +0100");
    assert_eq!(value(&standard.properties, "TZOFFSETTO"), "+0100");
}

#[test]
fn japanese_titles_fold_cleanly_and_html_escapes_user_text() {
    let meeting = meeting(
        "<script>alert('x')</script> 第4四半期の事業計画レビューと来期予算の確認会議（全社）",
        "Asia/Tokyo",
    );
    let ics = render_ics(&input(&meeting, Language::Japanese)).unwrap();
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "{line}");
    }
    let calendar = parse(&ics);
    assert!(value(&calendar.events[0].properties, "SUMMARY").contains("第4四半期"));
    let html = render_html(&input(&meeting, Language::Japanese)).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("2026年12月1日(火) 10:00"));
    let text = render_text(&input(&meeting, Language::English)).unwrap();
    assert!(text.contains("Tuesday, 1 December 2026, 10:00 (Asia/Tokyo)"));
}

#[test]
fn bad_input_gives_typed_errors() {
    let mut meeting = meeting("Weekly", "Mars/Olympus_Mons");
    assert_eq!(
        render_ics(&input(&meeting, Language::English)),
        Err(InviteError::Schedule(ScheduleError::UnknownTimeZone(
            "Mars/Olympus_Mons".into()
        )))
    );
    meeting.when.time_zone = "UTC".into();
    meeting.server = "evil.example/?password=x".into();
    assert!(matches!(
        render_text(&input(&meeting, Language::English)),
        Err(InviteError::ServerAddress(_))
    ));
}

#[test]
fn every_ics_line_is_crlf_terminated_and_at_most_75_octets() {
    let title =
        "第4四半期の事業計画レビュー、来期予算; 人事評価\\まとめ（全社・役員のみ）".repeat(2);
    for zone in ["Asia/Tokyo", "Europe/Berlin", "America/New_York", "UTC"] {
        let mut meeting = meeting(&title, zone);
        meeting.host_name = "長い名前の主催者さん（情報システム部 セキュリティ担当）".into();
        for language in [Language::English, Language::Japanese] {
            for render in [render_ics, render_ics_cancel] {
                let ics = render(&input(&meeting, language)).unwrap();
                assert!(ics.ends_with("\r\n"));
                assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF");
                for line in ics.split("\r\n") {
                    assert!(line.len() <= 75, "{} octets: {line}", line.len());
                }
                // Folding never split a character, and unfolding restores the text.
                let calendar = parse(&ics);
                let summary = value(&calendar.events[0].properties, "SUMMARY");
                assert!(summary.contains("第4四半期の事業計画レビュー"), "{summary}");
            }
        }
    }
}

#[test]
fn text_values_are_escaped_in_the_calendar() {
    let meeting = meeting("Budget; Q4, draft \\ v2", "Asia/Tokyo");
    let ics = unfolded(&render_ics(&input(&meeting, Language::English)).unwrap());
    assert!(
        ics.contains("SUMMARY:Budget\\; Q4\\, draft \\\\ v2\r\n"),
        "{ics}"
    );
    let description = ics.lines().find(|l| l.starts_with("DESCRIPTION:")).unwrap();
    assert!(description.contains("\\n") && !description.contains('\n'));
    // The host's name cannot break out of the quoted CN parameter.
    let mut tricky = meeting.clone();
    tricky.host_name = "Eve\":mailto:evil@example.com;X=\"".into();
    let ics = render_ics(&input(&tricky, Language::English)).unwrap();
    let calendar = parse(&ics);
    let organizer = property(&calendar.events[0].properties, "ORGANIZER");
    assert_eq!(
        organizer.value.as_deref(),
        Some("mailto:hanako@example.org")
    );
}

#[test]
fn recurrences_end_by_count_or_by_a_utc_until() {
    let mut meeting = meeting("Weekly", "Europe/Berlin");
    // 30 June 2027 ends at 23:59:59 CEST, i.e. 21:59:59 UTC.
    let calendar = parse(&render_ics(&input(&meeting, Language::English)).unwrap());
    let rrule = value(&calendar.events[0].properties, "RRULE");
    assert_eq!(rrule, "FREQ=WEEKLY;BYDAY=TU,TH;UNTIL=20270630T215959Z");
    meeting.when.recurrence = Some(WeeklyRecurrence {
        days: vec![Weekday::Mon, Weekday::Wed, Weekday::Fri],
        until: None,
        count: Some(10),
    });
    let calendar = parse(&render_ics(&input(&meeting, Language::Japanese)).unwrap());
    let rrule = value(&calendar.events[0].properties, "RRULE");
    assert_eq!(rrule, "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=10");
    let text = render_text(&input(&meeting, Language::Japanese)).unwrap();
    assert!(text.contains("毎週 月・水・金曜日（全10回）"), "{text}");
    let text = render_text(&input(&meeting, Language::English)).unwrap();
    assert!(
        text.contains("Every week on Monday, Wednesday, Friday, 10 times"),
        "{text}"
    );
    meeting.when.recurrence = None;
    let calendar = parse(&render_ics(&input(&meeting, Language::English)).unwrap());
    assert!(
        !calendar.events[0]
            .properties
            .iter()
            .any(|p| p.name == "RRULE")
    );
}

#[test]
fn a_cancellation_says_so_in_every_language() {
    // Rendered from the meeting as it was: the cancellation itself says it is cancelled.
    let meeting = meeting("定例会議", "Asia/Tokyo");
    let english = unfolded(&render_ics_cancel(&input(&meeting, Language::English)).unwrap());
    assert!(english.contains("This meeting has been cancelled."));
    let japanese = unfolded(&render_ics_cancel(&input(&meeting, Language::Japanese)).unwrap());
    assert!(japanese.contains("【中止】定例会議"));
    assert!(japanese.contains("この会議は中止になりました。"));
    let request = unfolded(&render_ics(&input(&meeting, Language::Japanese)).unwrap());
    assert!(!request.contains("中止"));
}

#[test]
fn invitations_say_the_links_open_the_app_and_promise_no_browser_client() {
    let meeting = meeting("Weekly", "Asia/Tokyo");
    for language in [Language::English, Language::Japanese] {
        let input = input(&meeting, language);
        for rendered in [
            render_text(&input).unwrap(),
            render_html(&input).unwrap(),
            unfolded(&render_ics(&input).unwrap()),
        ] {
            let lower = rendered.to_lowercase();
            assert!(
                !lower.contains("browser") && !rendered.contains("ブラウザ"),
                "{rendered}"
            );
        }
    }
    let english = render_text(&input(&meeting, Language::English)).unwrap();
    assert!(english.contains("Join in the Conclave app (either link opens it):"));
    let japanese = render_text(&input(&meeting, Language::Japanese)).unwrap();
    assert!(japanese.contains("Conclave アプリで参加"));
}

#[test]
fn the_e2ee_notice_uses_the_terms_users_know() {
    let meeting = meeting("Weekly", "Asia/Tokyo");
    let japanese = render_text(&input(&meeting, Language::Japanese)).unwrap();
    assert!(japanese.contains("エンドツーエンド暗号化"));
    assert!(japanese.contains("セキュリティ検証コード"));
    assert!(japanese.contains("会議番号: 48213579260"));
    let english = render_text(&input(&meeting, Language::English)).unwrap();
    assert!(english.contains("end-to-end encrypted"));
    assert!(english.contains("security verification code"));
    assert!(english.contains("https://meet.example.org:8443/join/48213579260"));
    assert!(english.contains("conclave://join/meet.example.org:8443/48213579260"));
    assert!(english.contains("Duration: 45 minutes"));
}

#[test]
fn bad_input_never_panics() {
    let base = meeting("Weekly", "Asia/Tokyo");
    let mut cases: Vec<ScheduledMeeting> = Vec::new();
    for zone in [
        "",
        "Mars/Olympus_Mons",
        "asia/tokyo",
        "../../etc/passwd",
        "UTC+9",
    ] {
        let mut m = base.clone();
        m.when.time_zone = zone.into();
        cases.push(m);
    }
    for server in [
        "",
        "a b",
        "host/path",
        "host?x=1",
        "ほげ.example",
        "[::1]:8443",
    ] {
        let mut m = base.clone();
        m.server = server.into();
        cases.push(m);
    }
    for number in ["", "12 34", "１２３", "1/2", &"9".repeat(100)] {
        let mut m = base.clone();
        m.number = number.into();
        cases.push(m);
    }
    let mut m = base.clone();
    m.when.duration_minutes = 0;
    cases.push(m);
    let mut m = base.clone();
    m.when.duration_minutes = u32::MAX;
    cases.push(m);
    let mut m = base.clone();
    m.when.start = "2026-03-29T02:30:00".parse().unwrap();
    m.when.time_zone = "Europe/Berlin".into();
    cases.push(m);
    let mut m = base.clone();
    m.when.start = "9999-12-31T23:59:00".parse().unwrap();
    m.when.recurrence = None;
    cases.push(m);
    let mut m = base.clone();
    m.when.start = "-0100-01-01T00:00:00".parse().unwrap();
    cases.push(m);
    for (until, count, days) in [
        (None, Some(u32::MAX), vec![Weekday::Mon]),
        (Some("2020-01-01"), None, vec![Weekday::Mon]),
        (Some("2262-04-11"), None, vec![Weekday::Mon]),
        (None, None, vec![]),
        (Some("2027-01-01"), Some(3), vec![Weekday::Mon]),
    ] {
        let mut m = base.clone();
        m.when.recurrence = Some(WeeklyRecurrence {
            days,
            until: until.map(|u| u.parse().unwrap()),
            count,
        });
        cases.push(m);
    }
    let mut m = base.clone();
    m.title = "\u{0}\r\n\u{202e}".into();
    m.host_name = "\"\r\n".into();
    m.uid = "a;b,c\\d\r\n".into();
    cases.push(m);
    for meeting in &cases {
        for language in [Language::English, Language::Japanese] {
            for (_, render) in FORMATS {
                let _ = render(&input(meeting, language));
            }
            let _ = render_password_message(meeting, PASSWORD, language);
        }
    }
    let unknown = &cases[1];
    for (name, render) in FORMATS {
        assert!(
            matches!(
                render(&input(unknown, Language::Japanese)),
                Err(InviteError::Schedule(ScheduleError::UnknownTimeZone(_)))
            ),
            "{name}"
        );
    }
    assert!(matches!(
        render_password_message(unknown, PASSWORD, Language::English),
        Err(InviteError::Schedule(ScheduleError::UnknownTimeZone(_)))
    ));
}
