//! The schedule form: what the host typed, and the request (or change) it describes — or
//! what is wrong with it, in the user's words.

use chrono::{NaiveDate, NaiveDateTime, Utc, Weekday};
use conclave_protocol::schedule::{
    MeetingOptions, MeetingUpdate, ScheduleError, ScheduleRequest, ScheduledMeeting,
    WeeklyRecurrence, When, validate_title,
};

use crate::fl;
use crate::screens::UiError;

/// The weekdays in the order the form shows them (and stores `Form::days`).
pub(super) const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// What the form holds.
#[derive(Debug, Clone)]
pub struct Form {
    pub title: String,
    pub start: String,
    pub duration: String,
    pub time_zone: String,
    pub days: [bool; 7],
    pub until: String,
    pub count: String,
    pub lobby: bool,
    pub require_sign_in: bool,
    pub auto_lock: String,
    pub join_before_host: bool,
    pub exclude_password_from_invitation: bool,
    pub co_hosts: String,
    /// Empty: the server generates a password that meets the policy.
    pub own_password: String,
}

impl Default for Form {
    fn default() -> Self {
        let tomorrow = Utc::now().date_naive().succ_opt().unwrap_or_default();
        Self {
            title: String::new(),
            start: format!("{} 10:00", tomorrow.format("%Y-%m-%d")),
            duration: "60".into(),
            time_zone: iana_time_zone::get_timezone().unwrap_or_else(|_| "UTC".into()),
            days: [false; 7],
            until: String::new(),
            count: String::new(),
            lobby: true,
            require_sign_in: false,
            auto_lock: String::new(),
            join_before_host: false,
            exclude_password_from_invitation: true,
            co_hosts: String::new(),
            own_password: String::new(),
        }
    }
}

pub(super) fn schedule_error(error: &ScheduleError) -> UiError {
    UiError::Refused(match error {
        ScheduleError::UnknownTimeZone(zone) => {
            fl!("schedule-error-zone", zone = zone.as_str())
        }
        ScheduleError::NonexistentLocalTime { .. } => fl!("schedule-error-nonexistent"),
        ScheduleError::Duration => fl!("schedule-error-duration"),
        ScheduleError::RecurrenceDays => fl!("schedule-error-days"),
        ScheduleError::RecurrenceEnd => fl!("schedule-error-end"),
        ScheduleError::RecurrenceCount => fl!("schedule-error-count"),
        ScheduleError::RecurrenceUntil => fl!("schedule-error-until"),
        ScheduleError::AutoLock => fl!("schedule-error-auto-lock"),
        ScheduleError::Title => fl!("schedule-error-title"),
    })
}

impl Form {
    /// The form for changing `meeting` (its password stays unless a new one is typed).
    pub fn from_meeting(meeting: &ScheduledMeeting) -> Self {
        let when = &meeting.when;
        let (days, until, count) = match &when.recurrence {
            Some(recurrence) => (
                WEEKDAYS.map(|day| recurrence.days.contains(&day)),
                recurrence
                    .until
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                recurrence.count.map(|c| c.to_string()).unwrap_or_default(),
            ),
            None => ([false; 7], String::new(), String::new()),
        };
        let options = &meeting.options;
        Self {
            title: meeting.title.clone(),
            start: when.start.format("%Y-%m-%d %H:%M").to_string(),
            duration: when.duration_minutes.to_string(),
            time_zone: when.time_zone.clone(),
            days,
            until,
            count,
            lobby: options.lobby,
            require_sign_in: options.require_sign_in,
            auto_lock: options
                .auto_lock_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            join_before_host: options.join_before_host,
            exclude_password_from_invitation: options.exclude_password_from_invitation,
            co_hosts: meeting.co_hosts.join(", "),
            own_password: String::new(),
        }
    }

    /// The change to send for a meeting at `sequence`: every field as the form has it; the
    /// server refuses it if someone changed the meeting meanwhile.
    pub fn update(&self, sequence: u32) -> Result<MeetingUpdate, UiError> {
        let request = self.request()?;
        Ok(MeetingUpdate {
            title: Some(request.title),
            when: Some(request.when),
            require_sign_in: Some(request.options.require_sign_in),
            lobby: Some(request.options.lobby),
            auto_lock_minutes: Some(request.options.auto_lock_minutes),
            join_before_host: Some(request.options.join_before_host),
            exclude_password_from_invitation: Some(
                request.options.exclude_password_from_invitation,
            ),
            co_hosts: Some(request.co_hosts),
            password: request.password,
            regenerate_password: false,
            if_sequence: Some(sequence),
        })
    }

    /// The request the form describes, or what is wrong with it.
    pub fn request(&self) -> Result<ScheduleRequest, UiError> {
        let title = self.title.trim().to_owned();
        validate_title(&title).map_err(|e| schedule_error(&e))?;
        let start = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(self.start.trim(), format).ok())
            .ok_or_else(|| UiError::Refused(fl!("schedule-error-start")))?;
        let duration_minutes = self
            .duration
            .trim()
            .parse()
            .map_err(|_| schedule_error(&ScheduleError::Duration))?;
        let days: Vec<Weekday> = WEEKDAYS
            .iter()
            .zip(self.days)
            .filter_map(|(day, on)| on.then_some(*day))
            .collect();
        let recurrence = if days.is_empty() {
            None
        } else {
            let until = match self.until.trim() {
                "" => None,
                date => Some(
                    NaiveDate::parse_from_str(date, "%Y-%m-%d")
                        .map_err(|_| UiError::Refused(fl!("schedule-error-until-format")))?,
                ),
            };
            let count = match self.count.trim() {
                "" => None,
                count => Some(
                    count
                        .parse()
                        .map_err(|_| schedule_error(&ScheduleError::RecurrenceCount))?,
                ),
            };
            Some(WeeklyRecurrence { days, until, count })
        };
        let when = When {
            start,
            time_zone: self.time_zone.trim().to_owned(),
            duration_minutes,
            recurrence,
        };
        when.validate().map_err(|e| schedule_error(&e))?;
        let auto_lock_minutes = match self.auto_lock.trim() {
            "" => None,
            minutes => Some(
                minutes
                    .parse()
                    .map_err(|_| schedule_error(&ScheduleError::AutoLock))?,
            ),
        };
        let options = MeetingOptions {
            require_sign_in: self.require_sign_in,
            lobby: self.lobby,
            auto_lock_minutes,
            join_before_host: self.join_before_host,
            exclude_password_from_invitation: self.exclude_password_from_invitation,
        };
        options.validate().map_err(|e| schedule_error(&e))?;
        Ok(ScheduleRequest {
            title,
            when,
            options,
            co_hosts: self
                .co_hosts
                .split([',', ' ', '、'])
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
            password: (!self.own_password.is_empty()).then(|| self.own_password.clone()),
        })
    }
}
