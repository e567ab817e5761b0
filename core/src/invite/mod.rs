//! Invitations for a scheduled meeting, in English and Japanese: an RFC 5545 `.ics`
//! ([`render_ics`], [`render_ics_cancel`]), plain-text and HTML email bodies, and the short
//! password message for another channel ([`render_password_message`]).
//!
//! With `exclude_password_from_invitation` (the default) no invitation contains the password or
//! a link that embeds it; each says the password arrives separately. Join links never carry a
//! password, whatever the setting.

mod i18n;
mod ics;
mod text;

pub use ics::{render_ics, render_ics_cancel};
pub use text::{render_html, render_password_message, render_text};

use chrono::{DateTime, Utc};

use conclave_protocol::schedule::{ScheduleError, ScheduledMeeting};

/// The invitation's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Japanese,
}

impl Language {
    /// From a language tag such as `en`, `ja` or `ja-JP`; anything else is English.
    pub fn from_tag(tag: &str) -> Self {
        let primary = tag.split(['-', '_', '.']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("ja") {
            Language::Japanese
        } else {
            Language::English
        }
    }

    /// The BCP 47 tag (`en`, `ja`), e.g. for HTML's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Japanese => "ja",
        }
    }
}

/// Why an invitation could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("{0:?} is not a server address (host or host:port)")]
    ServerAddress(String),
    #[error("{0:?} is not a meeting number")]
    MeetingNumber(String),
    #[error("{0:?} is not a Conclave meeting link (conclave://join/<server>/<number>)")]
    NotAJoinLink(String),
    /// A bug in the embedded Fluent files (a test covers every id); never user input.
    #[error("invitation strings: {0}")]
    Localisation(String),
}

/// What an invitation is rendered from.
#[derive(Debug, Clone)]
pub struct InvitationInput<'a> {
    pub meeting: &'a ScheduledMeeting,
    /// The clear password, if the host has it; used only when the meeting's options allow it
    /// in invitations.
    pub password: Option<&'a str>,
    pub language: Language,
    /// The organizer's email address, if known (else a no-reply address on the server's host).
    pub organizer_email: Option<&'a str>,
    /// When the invitation is made (iCalendar DTSTAMP).
    pub now: DateTime<Utc>,
}

impl InvitationInput<'_> {
    /// The password to print, or `None` when it must stay out of the invitation.
    fn included_password(&self) -> Option<&str> {
        if self.meeting.options.exclude_password_from_invitation {
            None
        } else {
            self.password
        }
    }
}

fn check_server(server: &str) -> Result<&str, InviteError> {
    let ok = !server.is_empty()
        && server.len() <= 255
        && server
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(server)
    } else {
        Err(InviteError::ServerAddress(server.to_owned()))
    }
}

fn check_number(number: &str) -> Result<&str, InviteError> {
    if !number.is_empty() && number.len() <= 32 && number.bytes().all(|b| b.is_ascii_digit()) {
        Ok(number)
    } else {
        Err(InviteError::MeetingNumber(number.to_owned()))
    }
}

/// `conclave://join/<server>/<number>`: opens the app. Never carries a password.
pub fn join_link(server: &str, number: &str) -> Result<String, InviteError> {
    Ok(format!(
        "conclave://join/{}/{}",
        check_server(server)?,
        check_number(number)?
    ))
}

/// The server and meeting number of a `conclave://join/<server>/<number>` link (a trailing
/// slash, query or fragment is ignored: nothing else is taken from a link, never a password).
pub fn parse_join_link(link: &str) -> Result<(String, String), InviteError> {
    let not_a_link = || InviteError::NotAJoinLink(link.chars().take(80).collect());
    let rest = link
        .trim()
        .strip_prefix("conclave://join/")
        .ok_or_else(not_a_link)?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let mut parts = rest.trim_end_matches('/').splitn(3, '/');
    let (Some(server), Some(number), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(not_a_link());
    };
    Ok((
        check_server(server)?.to_owned(),
        check_number(number)?.to_owned(),
    ))
}

/// `https://<server>/join/<number>`: the same, for mail clients that only link https. Never
/// carries a password.
pub fn https_join_link(server: &str, number: &str) -> Result<String, InviteError> {
    Ok(format!(
        "https://{}/join/{}",
        check_server(server)?,
        check_number(number)?
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_join_link_gives_back_its_server_and_number_and_nothing_else() {
        let link = join_link("meet.example.org:8443", "12345678901").unwrap();
        assert_eq!(
            parse_join_link(&link).unwrap(),
            ("meet.example.org:8443".to_owned(), "12345678901".to_owned())
        );
        assert_eq!(
            parse_join_link("conclave://join/h:1/42/?password=x#y").unwrap(),
            ("h:1".to_owned(), "42".to_owned())
        );
        for bad in [
            "https://meet.example.org/join/42",
            "conclave://join/meet.example.org:8443",
            "conclave://join/meet.example.org:8443/42/extra",
            "conclave://join/evil host/42",
            "conclave://join/h:1/4a2",
            "conclave://join//42",
            "",
        ] {
            assert!(parse_join_link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_links_carry_server_and_number_only() {
        assert_eq!(
            join_link("meet.example.org:8443", "12345678901").unwrap(),
            "conclave://join/meet.example.org:8443/12345678901"
        );
        assert_eq!(
            https_join_link("meet.example.org", "12345678901").unwrap(),
            "https://meet.example.org/join/12345678901"
        );
        assert!(join_link("evil.org/x?password=1", "1").is_err());
        assert!(join_link("meet.example.org", "123?pw=x").is_err());
        assert_eq!(Language::from_tag("ja-JP"), Language::Japanese);
        assert_eq!(Language::from_tag("ja_JP.UTF-8"), Language::Japanese);
        assert_eq!(Language::from_tag("fr"), Language::English);
    }
}
