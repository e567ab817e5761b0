//! Email bodies (plain text and HTML) and the separate password message.

use chrono::{Datelike as _, NaiveDateTime, Weekday};

use super::{InvitationInput, InviteError, Language, https_join_link, join_link};
use crate::schedule::{ScheduledMeeting, WeeklyRecurrence};

/// The invitation's lines, language-specific, before plain-text or HTML layout.
struct Lines {
    heading: String,
    fields: Vec<(&'static str, String)>,
    links: Vec<String>,
    notes: Vec<&'static str>,
}

fn weekday_name(day: Weekday, language: Language) -> &'static str {
    let index = day.num_days_from_monday() as usize;
    match language {
        Language::English => [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][index],
        Language::Japanese => ["月", "火", "水", "木", "金", "土", "日"][index],
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "Tuesday, 1 December 2026, 10:00" or "2026年12月1日(火) 10:00".
pub(super) fn local_date_time(start: NaiveDateTime, language: Language) -> String {
    let day = weekday_name(start.weekday(), language);
    match language {
        Language::English => format!(
            "{day}, {} {} {}, {}",
            start.day(),
            MONTHS[start.month0() as usize],
            start.year(),
            start.format("%H:%M")
        ),
        Language::Japanese => format!(
            "{}年{}月{}日({day}) {}",
            start.year(),
            start.month(),
            start.day(),
            start.format("%H:%M")
        ),
    }
}

fn recurrence_words(recurrence: &WeeklyRecurrence, language: Language) -> String {
    let days: Vec<&str> = recurrence
        .days
        .iter()
        .map(|d| weekday_name(*d, language))
        .collect();
    match language {
        Language::English => {
            let mut text = format!("Every week on {}", days.join(", "));
            if let Some(until) = recurrence.until {
                text.push_str(&format!(" until {}", until.format("%Y-%m-%d")));
            }
            if let Some(count) = recurrence.count {
                text.push_str(&format!(", {count} times"));
            }
            text
        }
        Language::Japanese => {
            let mut text = format!("毎週 {}曜日", days.join("・"));
            if let Some(until) = recurrence.until {
                text.push_str(&format!("（{}まで）", until.format("%Y年%m月%d日")));
            }
            if let Some(count) = recurrence.count {
                text.push_str(&format!("（全{count}回）"));
            }
            text
        }
    }
}

fn lines(input: &InvitationInput<'_>) -> Result<Lines, InviteError> {
    let meeting = input.meeting;
    let when = &meeting.when;
    when.validate()?;
    let language = input.language;
    let japanese = language == Language::Japanese;
    let start = format!(
        "{} ({})",
        local_date_time(when.start, language),
        when.time_zone
    );
    let duration = if japanese {
        format!("{}分", when.duration_minutes)
    } else {
        format!("{} minutes", when.duration_minutes)
    };
    let mut fields = vec![
        (if japanese { "日時" } else { "When" }, start),
        (if japanese { "時間" } else { "Duration" }, duration),
    ];
    if let Some(recurrence) = &when.recurrence {
        fields.push((
            if japanese { "繰り返し" } else { "Repeats" },
            recurrence_words(recurrence, language),
        ));
    }
    fields.push((
        if japanese { "主催者" } else { "Host" },
        meeting.host_name.clone(),
    ));
    fields.push((
        if japanese {
            "会議番号"
        } else {
            "Meeting number"
        },
        meeting.number.clone(),
    ));
    let mut notes = Vec::new();
    match input.included_password() {
        Some(password) => fields.push((
            if japanese { "パスワード" } else { "Password" },
            password.to_owned(),
        )),
        None => notes.push(if japanese {
            "パスワードはこの招待状には記載していません。別の連絡手段で主催者からお送りします。"
        } else {
            "The meeting password is not in this invitation: the host sends it to you separately, by another channel."
        }),
    }
    notes.push(if japanese {
        "この会議はエンドツーエンドで暗号化されます（E2EE）。参加後、画面の確認コードを全員で読み上げて一致を確認してください。"
    } else {
        "This meeting is end-to-end encrypted. Once in, read the verification code aloud and check that everyone sees the same one."
    });
    let heading = if meeting.cancelled {
        if japanese {
            format!("【中止】{}", meeting.title)
        } else {
            format!("Cancelled: {}", meeting.title)
        }
    } else {
        meeting.title.clone()
    };
    if meeting.cancelled {
        notes.insert(
            0,
            if japanese {
                "この会議は中止になりました。"
            } else {
                "This meeting has been cancelled."
            },
        );
    }
    Ok(Lines {
        heading,
        fields,
        links: vec![
            https_join_link(&meeting.server, &meeting.number)?,
            join_link(&meeting.server, &meeting.number)?,
        ],
        notes,
    })
}

fn join_label(language: Language) -> &'static str {
    match language {
        Language::English => "Join",
        Language::Japanese => "参加リンク",
    }
}

/// The plain-text email body (also the `.ics` DESCRIPTION).
pub fn render_text(input: &InvitationInput<'_>) -> Result<String, InviteError> {
    let lines = lines(input)?;
    let mut out = format!("{}\n\n", lines.heading);
    for (label, value) in &lines.fields {
        out.push_str(&format!("{label}: {value}\n"));
    }
    out.push_str(&format!("\n{}:\n", join_label(input.language)));
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
    let lines = lines(input)?;
    let lang = match input.language {
        Language::English => "en",
        Language::Japanese => "ja",
    };
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
        escape_html(join_label(input.language))
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
    let start = local_date_time(meeting.when.start, language);
    Ok(match language {
        Language::English => format!(
            "Password for \"{}\" ({start}, meeting number {}): {password}\nThe invitation was sent separately.\n",
            meeting.title, meeting.number
        ),
        Language::Japanese => format!(
            "「{}」（{start}、会議番号 {}）のパスワード: {password}\n招待状は別にお送りしています。\n",
            meeting.title, meeting.number
        ),
    })
}
