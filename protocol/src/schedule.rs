//! Scheduled meetings: the HTTPS API types shared by the server and every client.
//!
//! Endpoints (all need a bearer token; a meeting is visible only to its host and co-hosts, and
//! only the host changes or cancels it):
//! - `POST   /v1/schedule`            [`ScheduleRequest`] → [`ScheduleResponse`]
//! - `GET    /v1/schedule`            → `Vec<ScheduledMeeting>` (the caller's own meetings and
//!   those naming the caller as co-host)
//! - `GET    /v1/schedule/{number}`   → [`ScheduledMeeting`]
//! - `PATCH  /v1/schedule/{number}`   [`MeetingUpdate`] → [`ScheduleResponse`]
//! - `DELETE /v1/schedule/{number}`   → [`ScheduledMeeting`] (cancelled, sequence bumped)
//!
//! The server stores only an argon2id hash of the meeting password, so the clear password is
//! returned exactly once, in the [`ScheduleResponse`] of the call that set it; clients keep it
//! in the OS keychain to render the separate password message later.

use chrono::{NaiveDate, NaiveDateTime, Weekday};
use serde::{Deserialize, Serialize};

/// Longest meeting, in minutes (24 h).
pub const MAX_DURATION_MINUTES: u32 = 24 * 60;
/// Longest auto-lock delay, in minutes.
pub const MAX_AUTO_LOCK_MINUTES: u32 = 24 * 60;
/// Most occurrences a weekly recurrence may have.
pub const MAX_OCCURRENCES: u32 = 520;
/// Longest title, in characters.
pub const MAX_SCHEDULE_TITLE_CHARS: usize = 200;
/// Most co-hosts a scheduled meeting may name.
pub const MAX_CO_HOSTS: usize = 20;

fn yes() -> bool {
    true
}

/// How a meeting behaves when people join. Stored with the meeting and enforced by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingOptions {
    /// Only signed-in users of the organization may join; guests are refused with a reason.
    #[serde(default)]
    pub require_sign_in: bool,
    /// Newcomers wait in the lobby until a host admits them.
    #[serde(default)]
    pub lobby: bool,
    /// Lock the meeting this many minutes after it starts.
    #[serde(default)]
    pub auto_lock_minutes: Option<u32>,
    /// Participants may start before the host arrives.
    #[serde(default)]
    pub join_before_host: bool,
    /// Leave the password out of every invitation (on by default): it goes by another channel.
    #[serde(default = "yes")]
    pub exclude_password_from_invitation: bool,
}

impl Default for MeetingOptions {
    fn default() -> Self {
        Self {
            require_sign_in: false,
            lobby: false,
            auto_lock_minutes: None,
            join_before_host: false,
            exclude_password_from_invitation: true,
        }
    }
}

/// A weekly recurrence: on these weekdays (local time of the meeting's zone), until a last
/// date or for a number of occurrences (at most one of the two; neither = no end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyRecurrence {
    /// Weekdays the meeting repeats on (1 to 7 distinct days).
    pub days: Vec<Weekday>,
    /// Last day an occurrence may start on (inclusive, local date).
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// Number of occurrences, counting the first.
    #[serde(default)]
    pub count: Option<u32>,
}

/// When a meeting happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// Local wall-clock start in `time_zone`.
    pub start: NaiveDateTime,
    /// IANA time zone name, e.g. `Asia/Tokyo` or `Europe/Berlin`.
    pub time_zone: String,
    /// Length in minutes (1 to [`MAX_DURATION_MINUTES`]).
    pub duration_minutes: u32,
    /// Repeats weekly, if set.
    #[serde(default)]
    pub recurrence: Option<WeeklyRecurrence>,
}

/// `POST /v1/schedule`: a new scheduled meeting.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub title: String,
    pub when: When,
    #[serde(default)]
    pub options: MeetingOptions,
    /// Usernames of co-hosts (at most [`MAX_CO_HOSTS`]): they see the meeting in their list.
    #[serde(default)]
    pub co_hosts: Vec<String>,
    /// A host-chosen password; it must satisfy the organization's policy. `None`: the server
    /// generates one that does.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for ScheduleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduleRequest")
            .field("title", &self.title)
            .field("when", &self.when)
            .field("options", &self.options)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `PATCH /v1/schedule/{number}`: only the fields given change, so two hosts editing different
/// fields at once both keep their edits. `if_sequence` makes the update conditional (HTTP 409 if
/// someone else updated first).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_sign_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby: Option<bool>,
    /// `Some(None)` turns auto-lock off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_lock_minutes: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_before_host: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_password_from_invitation: Option<bool>,
    /// Replaces the co-hosts (usernames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_hosts: Option<Vec<String>>,
    /// A new host-chosen password (checked against the policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Have the server generate a new password.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regenerate_password: bool,
    /// Apply only if the meeting is still at this sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_sequence: Option<u32>,
}

impl std::fmt::Debug for MeetingUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingUpdate")
            .field("title", &self.title)
            .field("when", &self.when)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("regenerate_password", &self.regenerate_password)
            .field("if_sequence", &self.if_sequence)
            .finish_non_exhaustive()
    }
}

/// A scheduled meeting as its host sees it. Never holds the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledMeeting {
    /// The 11-digit meeting number people join with.
    pub number: String,
    /// Stable iCalendar UID, the same across every update and the cancellation.
    pub uid: String,
    /// iCalendar SEQUENCE: 0 when scheduled, +1 on every update and on cancellation.
    pub sequence: u32,
    pub title: String,
    pub when: When,
    pub options: MeetingOptions,
    /// The host's display name (the invitation's organizer).
    pub host_name: String,
    /// Co-hosts' usernames.
    #[serde(default)]
    pub co_hosts: Vec<String>,
    /// Whether the caller is a co-host rather than the host (co-hosts may not change it).
    #[serde(default)]
    pub viewer_is_co_host: bool,
    /// The server address clients join at (`host:port`).
    pub server: String,
    /// Set once the host cancelled it; cancelled meetings refuse joins.
    pub cancelled: bool,
}

/// Answer to schedule and update calls.
#[derive(Clone, Serialize, Deserialize)]
pub struct ScheduleResponse {
    pub meeting: ScheduledMeeting,
    /// The clear password, only when this call set it (schedule, new or regenerated password).
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for ScheduleResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduleResponse")
            .field("meeting", &self.meeting)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The organization's rules for meeting passwords (server configuration `[password_policy]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Fewest characters (counted as Unicode scalar values).
    pub min_length: usize,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// Words that may not appear in a password, compared case-insensitively (e.g. the company
    /// or product name).
    pub forbidden_words: Vec<String>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 10,
            require_lowercase: true,
            require_uppercase: true,
            require_digit: true,
            require_symbol: false,
            forbidden_words: vec!["conclave".to_owned()],
        }
    }
}

/// Why a schedule or its options were refused, in words a host can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone {0:?}; use an IANA name such as Asia/Tokyo")]
    UnknownTimeZone(String),
    #[error("{start} does not exist in {zone} (the clocks change then); pick another time")]
    NonexistentLocalTime { start: NaiveDateTime, zone: String },
    #[error("the duration must be 1 to {MAX_DURATION_MINUTES} minutes")]
    Duration,
    #[error("a weekly recurrence needs 1 to 7 different weekdays")]
    RecurrenceDays,
    #[error("give the recurrence an end date or a number of occurrences, not both")]
    RecurrenceEnd,
    #[error("the number of occurrences must be 1 to {MAX_OCCURRENCES}")]
    RecurrenceCount,
    #[error("the recurrence ends before the meeting starts")]
    RecurrenceUntil,
    #[error("auto-lock must be 1 to {MAX_AUTO_LOCK_MINUTES} minutes")]
    AutoLock,
    #[error(
        "the title must be 1 to {MAX_SCHEDULE_TITLE_CHARS} characters without control characters"
    )]
    Title,
}

impl When {
    /// The IANA zone, checked.
    pub fn zone(&self) -> Result<chrono_tz::Tz, ScheduleError> {
        self.time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| ScheduleError::UnknownTimeZone(self.time_zone.clone()))
    }

    /// The first occurrence's start as an instant. A local time that falls twice (clocks go
    /// back) is read as the earlier one.
    pub fn start_utc(&self) -> Result<chrono::DateTime<chrono::Utc>, ScheduleError> {
        use chrono::TimeZone as _;
        let zone = self.zone()?;
        zone.from_local_datetime(&self.start)
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| ScheduleError::NonexistentLocalTime {
                start: self.start,
                zone: self.time_zone.clone(),
            })
    }

    /// Checks every rule of a schedule.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.start_utc()?;
        if !(1..=MAX_DURATION_MINUTES).contains(&self.duration_minutes) {
            return Err(ScheduleError::Duration);
        }
        if let Some(recurrence) = &self.recurrence {
            let mut days = recurrence.days.clone();
            days.sort_by_key(|d| d.num_days_from_monday());
            days.dedup();
            if days.is_empty() || days.len() != recurrence.days.len() {
                return Err(ScheduleError::RecurrenceDays);
            }
            match (recurrence.until, recurrence.count) {
                (Some(_), Some(_)) => return Err(ScheduleError::RecurrenceEnd),
                (Some(until), None) if until < self.start.date() => {
                    return Err(ScheduleError::RecurrenceUntil);
                }
                (None, Some(count)) if !(1..=MAX_OCCURRENCES).contains(&count) => {
                    return Err(ScheduleError::RecurrenceCount);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl MeetingOptions {
    /// Checks the options' ranges.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self.auto_lock_minutes {
            Some(minutes) if !(1..=MAX_AUTO_LOCK_MINUTES).contains(&minutes) => {
                Err(ScheduleError::AutoLock)
            }
            _ => Ok(()),
        }
    }
}

/// Checks a meeting title.
pub fn validate_title(title: &str) -> Result<(), ScheduleError> {
    let chars = title.chars().count();
    if title.trim().is_empty()
        || chars > MAX_SCHEDULE_TITLE_CHARS
        || title.chars().any(char::is_control)
    {
        return Err(ScheduleError::Title);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn when(start: &str, zone: &str) -> When {
        When {
            start: start.parse().unwrap(),
            time_zone: zone.into(),
            duration_minutes: 30,
            recurrence: None,
        }
    }

    #[test]
    fn schedules_are_checked_with_reasons() {
        assert_eq!(when("2026-12-01T10:00:00", "Asia/Tokyo").validate(), Ok(()));
        assert_eq!(
            when("2026-12-01T10:00:00", "Mars/Olympus").validate(),
            Err(ScheduleError::UnknownTimeZone("Mars/Olympus".into()))
        );
        // 02:30 on 29 March 2026 does not exist in Berlin (clocks jump 02:00 → 03:00).
        assert!(matches!(
            when("2026-03-29T02:30:00", "Europe/Berlin").validate(),
            Err(ScheduleError::NonexistentLocalTime { .. })
        ));
        let mut long = when("2026-12-01T10:00:00", "UTC");
        long.duration_minutes = 0;
        assert_eq!(long.validate(), Err(ScheduleError::Duration));
        let mut weekly = when("2026-12-01T10:00:00", "UTC");
        weekly.recurrence = Some(WeeklyRecurrence {
            days: vec![Weekday::Tue, Weekday::Tue],
            until: None,
            count: None,
        });
        assert_eq!(weekly.validate(), Err(ScheduleError::RecurrenceDays));
        weekly.recurrence = Some(WeeklyRecurrence {
            days: vec![Weekday::Tue],
            until: Some("2026-11-01".parse().unwrap()),
            count: None,
        });
        assert_eq!(weekly.validate(), Err(ScheduleError::RecurrenceUntil));
        weekly.recurrence = Some(WeeklyRecurrence {
            days: vec![Weekday::Tue, Weekday::Thu],
            until: None,
            count: Some(10),
        });
        assert_eq!(weekly.validate(), Ok(()));
        assert_eq!(validate_title(" "), Err(ScheduleError::Title));
        assert_eq!(validate_title("定例会議"), Ok(()));
    }

    #[test]
    fn options_default_to_excluding_the_password_and_reject_unknown_fields() {
        let options: MeetingOptions = serde_json::from_str("{}").unwrap();
        assert!(options.exclude_password_from_invitation);
        assert!(serde_json::from_str::<MeetingOptions>("{\"lobbby\":true}").is_err());
        let zero = MeetingOptions {
            auto_lock_minutes: Some(0),
            ..MeetingOptions::default()
        };
        assert_eq!(zero.validate(), Err(ScheduleError::AutoLock));
    }
}
