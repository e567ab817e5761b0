//! RFC 5545 iCalendar invitations: METHOD:REQUEST for new and updated meetings (same UID, the
//! server's SEQUENCE), METHOD:CANCEL after cancellation, local times with TZID and a VTIMEZONE
//! computed from the tz database for the span of the meeting series.

use chrono::{DateTime, Duration, NaiveDateTime, Offset as _, TimeZone as _, Utc, Weekday};
use chrono_tz::{OffsetComponents as _, OffsetName as _, Tz};

use super::text::text_body;
use super::{InvitationInput, InviteError, https_join_link};
use conclave_protocol::schedule::{ScheduleError, When};

const PRODID: &str = "-//Conclave//Conclave Meetings 1.0//EN";
/// RFC 5545 §3.1: lines are folded at 75 octets.
const MAX_LINE_OCTETS: usize = 75;

/// The invitation (METHOD:REQUEST); send it again after every update (same UID, higher
/// SEQUENCE).
pub fn render_ics(input: &InvitationInput<'_>) -> Result<String, InviteError> {
    render(input, false)
}

/// The cancellation (METHOD:CANCEL, STATUS:CANCELLED) for the same UID.
pub fn render_ics_cancel(input: &InvitationInput<'_>) -> Result<String, InviteError> {
    render(input, true)
}

fn render(input: &InvitationInput<'_>, cancel: bool) -> Result<String, InviteError> {
    let meeting = input.meeting;
    let when = &meeting.when;
    when.validate()?;
    let zone = when.zone()?;
    let link = https_join_link(&meeting.server, &meeting.number)?;
    let organizer = organizer_address(input.organizer_email, &meeting.server);
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        format!("PRODID:{PRODID}"),
        "VERSION:2.0".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("METHOD:{}", if cancel { "CANCEL" } else { "REQUEST" }),
    ];
    lines.extend(vtimezone(zone, when)?);
    lines.push("BEGIN:VEVENT".to_owned());
    lines.push(format!("UID:{}", escape_text(&meeting.uid)));
    lines.push(format!("SEQUENCE:{}", meeting.sequence));
    lines.push(format!("DTSTAMP:{}", input.now.format("%Y%m%dT%H%M%SZ")));
    lines.push(format!(
        "DTSTART;TZID={}:{}",
        zone.name(),
        local(when.start)
    ));
    lines.push(format!("DURATION:PT{}M", when.duration_minutes));
    if let Some(rrule) = rrule(zone, when)? {
        lines.push(rrule);
    }
    lines.push(format!("SUMMARY:{}", escape_text(&meeting.title)));
    lines.push(format!(
        "DESCRIPTION:{}",
        escape_text(&text_body(input, cancel || meeting.cancelled)?)
    ));
    lines.push(format!("LOCATION:{}", escape_text(&link)));
    lines.push(format!("URL:{link}"));
    lines.push(format!(
        "ORGANIZER;CN=\"{}\":mailto:{organizer}",
        meeting
            .host_name
            .chars()
            .filter(|c| *c != '"' && !c.is_control())
            .collect::<String>()
    ));
    if cancel {
        lines.push("STATUS:CANCELLED".to_owned());
    } else {
        lines.push("STATUS:CONFIRMED".to_owned());
    }
    lines.push("TRANSP:OPAQUE".to_owned());
    lines.push("END:VEVENT".to_owned());
    lines.push("END:VCALENDAR".to_owned());
    let mut out = String::new();
    for line in &lines {
        fold_into(&mut out, line);
    }
    Ok(out)
}

/// The organizer's `mailto:` address: the one given if it is a plain address, else a
/// no-reply address on the server's host (calendars insist on an ORGANIZER to accept
/// updates and cancellations from).
fn organizer_address(email: Option<&str>, server: &str) -> String {
    let plain = |email: &str| {
        let (local, domain) = email.split_once('@').unwrap_or_default();
        !local.is_empty()
            && !domain.is_empty()
            && email.len() <= 254
            && !email
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || ":;,\"<>\\".contains(c))
    };
    match email {
        Some(email) if plain(email) => email.to_owned(),
        _ => match server_host(server) {
            v6 if v6.contains(':') => format!("noreply@[{v6}]"),
            host => format!("noreply@{host}"),
        },
    }
}

/// The host part of `host`, `host:port`, `[v6]` or `[v6]:port`.
fn server_host(server: &str) -> &str {
    if let Some(rest) = server.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    server.rsplit_once(':').map_or(server, |(host, _)| host)
}

fn local(time: NaiveDateTime) -> String {
    time.format("%Y%m%dT%H%M%S").to_string()
}

/// RFC 5545 §3.3.11 TEXT escaping.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            other => out.push(other),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 character), with CRLF endings.
fn fold_into(out: &mut String, line: &str) {
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > MAX_LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

fn byday(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

/// The last local instant of a day in `zone`, in UTC.
fn end_of_local_day(zone: Tz, date: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    let last = date.and_hms_opt(23, 59, 59)?;
    zone.from_local_datetime(&last)
        .latest()
        .map(|t| t.with_timezone(&Utc))
}

fn rrule(zone: Tz, when: &When) -> Result<Option<String>, InviteError> {
    let Some(recurrence) = &when.recurrence else {
        return Ok(None);
    };
    let days: Vec<&str> = recurrence.days.iter().map(|d| byday(*d)).collect();
    let mut rule = format!("RRULE:FREQ=WEEKLY;BYDAY={}", days.join(","));
    if let Some(count) = recurrence.count {
        rule.push_str(&format!(";COUNT={count}"));
    }
    if let Some(until) = recurrence.until {
        // With a TZID'd DTSTART, UNTIL must be in UTC (RFC 5545 §3.3.10).
        // Dropping UNTIL would make the series endless, so failing is the only safe answer.
        let end = end_of_local_day(zone, until).ok_or_else(|| {
            InviteError::Schedule(ScheduleError::NonexistentLocalTime {
                start: until.and_hms_opt(23, 59, 59).unwrap_or_default(),
                zone: when.time_zone.clone(),
            })
        })?;
        rule.push_str(&format!(";UNTIL={}", end.format("%Y%m%dT%H%M%SZ")));
    }
    Ok(Some(rule))
}

/// The span of instants the calendar needs the zone's rules for.
fn span(when: &When) -> Result<(DateTime<Utc>, DateTime<Utc>), InviteError> {
    let start = when.start_utc()?;
    let series_end = match &when.recurrence {
        Some(r) => match (r.until, r.count) {
            (Some(until), _) => until
                .and_hms_opt(23, 59, 59)
                .map(|t| t.and_utc() + Duration::days(1)),
            (None, Some(count)) => Some(start + Duration::weeks(i64::from(count))),
            (None, None) => Some(start + Duration::days(3 * 366)),
        },
        None => None,
    };
    let end = series_end
        .unwrap_or(start)
        .max(start + Duration::days(366))
        .min(start + Duration::days(12 * 366));
    Ok((start - Duration::days(366), end))
}

#[derive(Clone, PartialEq)]
struct Period {
    offset_secs: i32,
    daylight: bool,
    name: Option<String>,
}

fn period_at(zone: Tz, at: DateTime<Utc>) -> Period {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc());
    Period {
        offset_secs: offset.fix().local_minus_utc(),
        daylight: !offset.dst_offset().is_zero(),
        name: offset.abbreviation().map(str::to_owned),
    }
}

fn format_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.unsigned_abs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

fn sub_component(at: DateTime<Utc>, from: &Period, to: &Period) -> Vec<String> {
    let kind = if to.daylight { "DAYLIGHT" } else { "STANDARD" };
    // DTSTART of an onset is the local time in the offset in force before it.
    let local_before = at.naive_utc() + Duration::seconds(i64::from(from.offset_secs));
    let mut lines = vec![
        format!("BEGIN:{kind}"),
        format!("DTSTART:{}", local(local_before)),
        format!("TZOFFSETFROM:{}", format_offset(from.offset_secs)),
        format!("TZOFFSETTO:{}", format_offset(to.offset_secs)),
    ];
    // chrono-tz gives numeric "abbreviations" like "+09" for some zones; skip those.
    if let Some(name) = to
        .name
        .as_deref()
        .filter(|n| n.chars().all(|c| c.is_ascii_alphabetic()))
    {
        lines.push(format!("TZNAME:{name}"));
    }
    lines.push(format!("END:{kind}"));
    lines
}

/// A VTIMEZONE listing the zone's offset changes over the meeting series, found by stepping a
/// day at a time and bisecting to the second.
fn vtimezone(zone: Tz, when: &When) -> Result<Vec<String>, InviteError> {
    let (from, to) = span(when)?;
    let mut lines = vec![
        "BEGIN:VTIMEZONE".to_owned(),
        format!("TZID:{}", zone.name()),
    ];
    let first = period_at(zone, from);
    lines.extend(sub_component(from, &first, &first));
    let mut previous = first;
    let mut at = from;
    while at < to {
        let next = at + Duration::days(1);
        let period = period_at(zone, next);
        if period != previous {
            let (mut low, mut high) = (at, next);
            while high - low > Duration::seconds(1) {
                let middle = low + (high - low) / 2;
                if period_at(zone, middle) == previous {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            lines.extend(sub_component(high, &previous, &period));
            previous = period;
        }
        at = next;
    }
    lines.push("END:VTIMEZONE".to_owned());
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_japanese_lines_fold_at_75_octets_on_character_boundaries() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "定例会議".repeat(20));
        fold_into(&mut out, &line);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= MAX_LINE_OCTETS, "{physical}");
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), line);
    }

    #[test]
    fn organizer_falls_back_to_a_no_reply_address_on_the_server_host() {
        assert_eq!(
            organizer_address(Some("hanako@example.org"), "meet.example.org:8443"),
            "hanako@example.org"
        );
        for bad in [
            None,
            Some(""),
            Some("x"),
            Some("a@b\r\nATTENDEE:x"),
            Some("a;b@c"),
        ] {
            assert_eq!(
                organizer_address(bad, "meet.example.org:8443"),
                "noreply@meet.example.org"
            );
        }
        assert_eq!(server_host("[::1]:8443"), "::1");
        assert_eq!(server_host("[::1]"), "::1");
        assert_eq!(server_host("meet.example.org"), "meet.example.org");
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(escape_text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        assert_eq!(format_offset(9 * 3600), "+0900");
        assert_eq!(format_offset(-(3 * 3600 + 30 * 60)), "-0330");
    }
}
