//! Localised invitation strings from Fluent files (`i18n/<lang>/invite.ftl`), embedded at
//! build time so a client needs no files at run time, and the date formats built from them.

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, Weekday};
use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};

use super::{InviteError, Language};

const EN_FTL: &str = include_str!("../../../i18n/en/invite.ftl");
const JA_FTL: &str = include_str!("../../../i18n/ja/invite.ftl");

/// The Fluent source for a language.
pub(super) fn source(language: Language) -> &'static str {
    match language {
        Language::English => EN_FTL,
        Language::Japanese => JA_FTL,
    }
}

/// One language's invitation strings.
pub(super) struct Strings {
    bundle: FluentBundle<FluentResource>,
}

impl Strings {
    pub(super) fn new(language: Language) -> Result<Self, InviteError> {
        let tag = language.tag();
        let locale = tag
            .parse()
            .map_err(|_| InviteError::Localisation(format!("bad language tag {tag}")))?;
        let resource = FluentResource::try_new(source(language).to_owned())
            .map_err(|(_, errors)| InviteError::Localisation(format!("{tag}: {errors:?}")))?;
        let mut bundle = FluentBundle::new(vec![locale]);
        // The strings go into email, calendars and chat, where invisible bidi isolation marks
        // around every argument would only corrupt copy-and-paste (of the password above all).
        bundle.set_use_isolating(false);
        bundle
            .add_resource(resource)
            .map_err(|errors| InviteError::Localisation(format!("{tag}: {errors:?}")))?;
        Ok(Self { bundle })
    }

    /// The message `id` with `args`; a missing id or argument is an error, not a blank.
    pub(super) fn format(
        &self,
        id: &str,
        args: &[(&str, FluentValue<'_>)],
    ) -> Result<String, InviteError> {
        let pattern = self
            .bundle
            .get_message(id)
            .and_then(|message| message.value())
            .ok_or_else(|| InviteError::Localisation(format!("no message {id}")))?;
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, value.clone());
        }
        let mut errors = Vec::new();
        let text = self
            .bundle
            .format_pattern(pattern, Some(&fluent_args), &mut errors);
        if errors.is_empty() {
            Ok(text.into_owned())
        } else {
            Err(InviteError::Localisation(format!("{id}: {errors:?}")))
        }
    }

    /// A message without arguments.
    pub(super) fn get(&self, id: &str) -> Result<String, InviteError> {
        self.format(id, &[])
    }

    pub(super) fn weekday(&self, day: Weekday) -> Result<String, InviteError> {
        let key = match day {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        };
        self.format("weekday", &[("day", key.into())])
    }

    fn date_args(
        &self,
        date: NaiveDate,
    ) -> Result<Vec<(&'static str, FluentValue<'static>)>, InviteError> {
        let month_name = self.format(
            "month-name",
            &[("month", format!("m{}", date.month()).into())],
        )?;
        // Strings, not numbers: a year must never be formatted as "2,026".
        Ok(vec![
            ("day", date.day().to_string().into()),
            ("month", date.month().to_string().into()),
            ("month_name", month_name.into()),
            ("year", date.year().to_string().into()),
            ("weekday", self.weekday(date.weekday())?.into()),
        ])
    }

    /// "30 June 2027" / "2027年6月30日".
    pub(super) fn date(&self, date: NaiveDate) -> Result<String, InviteError> {
        self.format("date", &self.date_args(date)?)
    }

    /// "Tuesday, 1 December 2026, 10:00 (Asia/Tokyo)" / "2026年12月1日(火) 10:00 (Asia/Tokyo)".
    pub(super) fn date_time_zone(
        &self,
        start: NaiveDateTime,
        zone: &str,
    ) -> Result<String, InviteError> {
        let mut args = self.date_args(start.date())?;
        args.push(("time", start.format("%H:%M").to_string().into()));
        args.push(("zone", zone.to_owned().into()));
        self.format("date-time-zone", &args)
    }
}

/// The message ids a Fluent source defines (terms and comments excluded).
#[cfg(test)]
pub(super) fn message_ids(source: &str) -> Vec<String> {
    let mut ids: Vec<String> = source
        .lines()
        .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_owned()))
        .collect();
    ids.sort();
    ids
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_define_the_same_message_ids() {
        let english = message_ids(source(Language::English));
        let japanese = message_ids(source(Language::Japanese));
        assert!(english.len() > 20, "{english:?}");
        assert_eq!(english, japanese);
        // And every one parses and formats without errors in both languages.
        for language in [Language::English, Language::Japanese] {
            let strings = Strings::new(language).unwrap();
            for id in &english {
                let args: Vec<(&str, FluentValue<'_>)> = vec![
                    ("day", "tue".into()),
                    ("month", "m12".into()),
                    ("month_name", "December".into()),
                    ("year", "2026".into()),
                    ("weekday", "Tuesday".into()),
                    ("time", "10:00".into()),
                    ("zone", "Asia/Tokyo".into()),
                    ("minutes", 45.into()),
                    ("count", 3.into()),
                    ("days", "Tuesday".into()),
                    ("date", "30 June 2027".into()),
                    ("title", "T".into()),
                    ("start", "S".into()),
                    ("number", "48213579260".into()),
                    ("password", "P".into()),
                ];
                let text = strings.format(id, &args).unwrap();
                assert!(!text.contains('\u{2068}'), "{id}: isolation marks are off");
            }
        }
    }

    #[test]
    fn dates_read_naturally_in_each_language() {
        let start: NaiveDateTime = "2026-12-01T10:00:00".parse().unwrap();
        let english = Strings::new(Language::English).unwrap();
        assert_eq!(
            english.date_time_zone(start, "Asia/Tokyo").unwrap(),
            "Tuesday, 1 December 2026, 10:00 (Asia/Tokyo)"
        );
        let japanese = Strings::new(Language::Japanese).unwrap();
        assert_eq!(
            japanese.date_time_zone(start, "Asia/Tokyo").unwrap(),
            "2026年12月1日(火) 10:00 (Asia/Tokyo)"
        );
        let until = NaiveDate::from_ymd_opt(2027, 6, 30).unwrap();
        assert_eq!(english.date(until).unwrap(), "30 June 2027");
        assert_eq!(japanese.date(until).unwrap(), "2027年6月30日");
        assert_eq!(
            english
                .format("duration", &[("minutes", 1.into())])
                .unwrap(),
            "1 minute"
        );
        assert_eq!(
            english
                .format("duration", &[("minutes", 90.into())])
                .unwrap(),
            "90 minutes"
        );
        assert_eq!(english.get("list-separator").unwrap(), ", ");
        assert!(matches!(
            english.get("no-such-message"),
            Err(InviteError::Localisation(_))
        ));
    }
}
