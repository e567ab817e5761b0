//! Email bodies (plain text and HTML) and the separate password message.

use super::i18n::Strings;
use super::{InvitationInput, InviteError, Language, https_join_link, join_link};
use conclave_protocol::schedule::{ScheduledMeeting, WeeklyRecurrence};

/// The invitation's localised parts, before plain-text or HTML layout.
struct Lines {
    heading: String,
    fields: Vec<(String, String)>,
    join_label: String,
    links: Vec<String>,
    notes: Vec<String>,
}

fn recurrence_words(
    strings: &Strings,
    recurrence: &WeeklyRecurrence,
) -> Result<String, InviteError> {
    let days = recurrence
        .days
        .iter()
        .map(|day| strings.weekday(*day))
        .collect::<Result<Vec<_>, _>>()?
        .join(&strings.get("list-separator")?);
    match (recurrence.until, recurrence.count) {
        (Some(until), _) => strings.format(
            "recurrence-weekly-until",
            &[("days", days.into()), ("date", strings.date(until)?.into())],
        ),
        (None, Some(count)) => strings.format(
            "recurrence-weekly-count",
            &[("days", days.into()), ("count", count.into())],
        ),
        (None, None) => strings.format("recurrence-weekly", &[("days", days.into())]),
    }
}

/// The parts of an invitation; `cancelled` also for a cancellation rendered before the
/// meeting itself says so.
fn lines(input: &InvitationInput<'_>, cancelled: bool) -> Result<Lines, InviteError> {
    let meeting = input.meeting;
    let when = &meeting.when;
    when.validate()?;
    let strings = Strings::new(input.language)?;
    let mut fields = vec![
        (
            strings.get("label-when")?,
            strings.date_time_zone(when.start, &when.time_zone)?,
        ),
        (
            strings.get("label-duration")?,
            strings.format("duration", &[("minutes", when.duration_minutes.into())])?,
        ),
    ];
    if let Some(recurrence) = &when.recurrence {
        fields.push((
            strings.get("label-repeats")?,
            recurrence_words(&strings, recurrence)?,
        ));
    }
    fields.push((strings.get("label-host")?, meeting.host_name.clone()));
    fields.push((strings.get("label-number")?, meeting.number.clone()));
    let mut notes = Vec::new();
    if cancelled {
        notes.push(strings.get("cancelled-notice")?);
    }
    match input.included_password() {
        Some(password) => fields.push((strings.get("label-password")?, password.to_owned())),
        None => notes.push(strings.get("password-separately")?),
    }
    notes.push(strings.get("e2ee-notice")?);
    let heading = if cancelled {
        strings.format(
            "cancelled-heading",
            &[("title", meeting.title.as_str().into())],
        )?
    } else {
        meeting.title.clone()
    };
    Ok(Lines {
        heading,
        fields,
        join_label: strings.get("label-join")?,
        links: vec![
            https_join_link(&meeting.server, &meeting.number)?,
            join_link(&meeting.server, &meeting.number)?,
        ],
        notes,
    })
}

/// The plain-text email body.
pub fn render_text(input: &InvitationInput<'_>) -> Result<String, InviteError> {
    text_body(input, input.meeting.cancelled)
}

/// The plain-text body, also the `.ics` DESCRIPTION (where a cancellation says so).
pub(super) fn text_body(
    input: &InvitationInput<'_>,
    cancelled: bool,
) -> Result<String, InviteError> {
    let lines = lines(input, cancelled)?;
    let mut out = format!("{}\n\n", lines.heading);
    for (label, value) in &lines.fields {
        out.push_str(&format!("{label}: {value}\n"));
    }
    out.push_str(&format!("\n{}:\n", lines.join_label));
    for link in &lines.links {
        out.push_str(&format!("  {link}\n"));
    }
    out.push('\n');
    for note in &lines.notes {
        out.push_str(note);
        out.push('\n');
    }
    Ok(out)
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The HTML email body; every value is escaped.
pub fn render_html(input: &InvitationInput<'_>) -> Result<String, InviteError> {
    let lines = lines(input, input.meeting.cancelled)?;
    let lang = input.language.tag();
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<h1>{}</h1>\n<table>\n",
        escape_html(&lines.heading),
        escape_html(&lines.heading)
    );
    for (label, value) in &lines.fields {
        out.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            escape_html(label),
            escape_html(value)
        ));
    }
    out.push_str(&format!(
        "</table>\n<p>{}:</p>\n<ul>\n",
        escape_html(&lines.join_label)
    ));
    for link in &lines.links {
        let link = escape_html(link);
        out.push_str(&format!("<li><a href=\"{link}\">{link}</a></li>\n"));
    }
    out.push_str("</ul>\n");
    for note in &lines.notes {
        out.push_str(&format!("<p>{}</p>\n", escape_html(note)));
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// The short message that carries the password by another channel (chat, phone, SMS). It
/// names the meeting but holds no join link, so neither message alone is enough to join.
pub fn render_password_message(
    meeting: &ScheduledMeeting,
    password: &str,
    language: Language,
) -> Result<String, InviteError> {
    meeting.when.zone()?;
    let strings = Strings::new(language)?;
    let start = strings.date_time_zone(meeting.when.start, &meeting.when.time_zone)?;
    let message = strings.format(
        "password-message",
        &[
            ("title", meeting.title.as_str().into()),
            ("start", start.into()),
            ("number", meeting.number.as_str().into()),
            ("password", password.into()),
        ],
    )?;
    Ok(format!(
        "{message}\n{}\n",
        strings.get("password-message-note")?
    ))
}
