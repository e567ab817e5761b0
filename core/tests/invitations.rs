//! Invitations: the password stays out of every format and language unless the host opts in,
//! and `.ics` output is read back by an independent RFC 5545 parser (the `ical` crate).

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone as _, Utc, Weekday};
use conclave_core::invite::{
    InvitationInput, InviteError, Language, render_html, render_ics, render_ics_cancel,
    render_password_message, render_text,
};
use conclave_core::schedule::{
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
    assert!(japanese.contains("パスワード") && japanese.contains("会議番号"));
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
    assert!(
        zone.transitions
            .iter()
            .all(|t| value(&t.properties, "TZOFFSETTO") == "+0900")
    );

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
