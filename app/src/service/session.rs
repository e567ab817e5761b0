//! Who the user is on which server ([`Session`]), the errors a user reads ([`UiError`]) and
//! how a typed server address is read: shared by every screen, with no UI in them.

use conclave_core::client::TlsTrust;
use conclave_core::client::account::AccountError;

use super::join::SignedInIdentity;
use super::secrets::SecretsError;
use crate::embedded::EmbeddedError;
use crate::fl;

/// Who the user is on which server, for the home, schedule and meeting screens.
#[derive(Debug, Clone)]
pub struct Session {
    /// `host:port`.
    pub server: String,
    pub trust: TlsTrust,
    pub display_name: String,
    /// `None` for a guest.
    pub account: Option<Account>,
    /// The server runs inside this app.
    pub hosting_locally: bool,
    /// Why the sign-in is kept for this run only (no usable keychain), if it is.
    pub not_kept: Option<String>,
}

#[cfg(test)]
impl Session {
    /// Aiko, a guest on a local test server.
    pub(crate) fn test_guest() -> Self {
        Self {
            server: "127.0.0.1:8443".into(),
            trust: TlsTrust::PublicRoots,
            display_name: "Aiko".into(),
            account: None,
            hosting_locally: false,
            not_kept: None,
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub identity: SignedInIdentity,
}

impl Session {
    pub fn token(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.identity.token.as_str())
    }
}

/// An error as the user reads it, translated when shown (so a language switch applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiError {
    Network(String),
    BadCredentials,
    Throttled(u64),
    Refused(String),
    /// The organization's password policy refused a password: `rule` is the server's stable
    /// name for it (shown translated), `message` its English text (for rules this app
    /// does not know yet).
    PasswordPolicy {
        rule: String,
        message: String,
    },
    BadAnswer(String),
    NoKeychain(String),
    KeychainDamaged(String),
    Hosting(String),
    File(String),
    /// The sign-in expired or was revoked: sign in again.
    SignInAgain,
}

impl UiError {
    pub fn text(&self) -> String {
        match self {
            UiError::Network(detail) => fl!("common-error-network", detail = detail.as_str()),
            UiError::BadCredentials => fl!("common-error-credentials"),
            UiError::Throttled(seconds) => {
                fl!("common-error-throttled", seconds = seconds.to_string())
            }
            UiError::Refused(detail) => fl!("common-error-refused", detail = detail.as_str()),
            UiError::PasswordPolicy { rule, message } => {
                let detail = match rule.as_str() {
                    "empty" => fl!("policy-empty"),
                    "too_short" => fl!("policy-too-short"),
                    "too_long" => fl!("policy-too-long"),
                    "control_character" => fl!("policy-control-character"),
                    "missing_lowercase" => fl!("policy-missing-lowercase"),
                    "missing_uppercase" => fl!("policy-missing-uppercase"),
                    "missing_digit" => fl!("policy-missing-digit"),
                    "missing_symbol" => fl!("policy-missing-symbol"),
                    "forbidden_word" => fl!("policy-forbidden-word"),
                    _ => message.clone(),
                };
                fl!("common-error-password-policy", detail = detail.as_str())
            }
            UiError::BadAnswer(detail) => fl!("common-error-bad-answer", detail = detail.as_str()),
            UiError::NoKeychain(detail) => {
                fl!("common-error-no-keychain", detail = detail.as_str())
            }
            UiError::KeychainDamaged(detail) => {
                fl!("common-error-keychain-damaged", detail = detail.as_str())
            }
            UiError::Hosting(detail) => fl!("common-error-hosting", detail = detail.as_str()),
            UiError::File(detail) => fl!("common-error-file", detail = detail.as_str()),
            UiError::SignInAgain => fl!("common-error-sign-in-again"),
        }
    }
}

impl From<AccountError> for UiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Network(detail) => UiError::Network(detail),
            AccountError::BadCredentials => UiError::BadCredentials,
            AccountError::Throttled(seconds) => UiError::Throttled(seconds),
            AccountError::Refused { message, .. } => UiError::Refused(message),
            AccountError::PasswordPolicy { rule, message } => {
                UiError::PasswordPolicy { rule, message }
            }
            AccountError::BadResponse(detail) => UiError::BadAnswer(detail),
            AccountError::SignInAgain => UiError::SignInAgain,
            AccountError::Tls(e) => UiError::Network(e.to_string()),
        }
    }
}

impl From<SecretsError> for UiError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Unavailable(detail) => UiError::NoKeychain(detail),
            SecretsError::Damaged(detail) => UiError::KeychainDamaged(detail),
        }
    }
}

impl From<EmbeddedError> for UiError {
    fn from(e: EmbeddedError) -> Self {
        match e {
            EmbeddedError::Secrets(e) => e.into(),
            other => UiError::Hosting(other.to_string()),
        }
    }
}

/// Parses what a user typed as a server: `host:port` (an `https://` prefix and a trailing
/// slash are tolerated); `None` if it can't be one.
pub fn parse_server(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_prefix("https://").unwrap_or(trimmed);
    let trimmed = trimmed.trim_end_matches('/');
    let valid = !trimmed.is_empty()
        && trimmed.len() <= 255
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return None;
    }
    // A bare host gets the default port.
    if trimmed.contains(':') {
        Some(trimmed.to_owned())
    } else {
        Some(format!("{trimmed}:443"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_normalized_or_refused() {
        assert_eq!(
            parse_server(" https://meet.example.org/ ").as_deref(),
            Some("meet.example.org:443")
        );
        assert_eq!(
            parse_server("127.0.0.1:8443").as_deref(),
            Some("127.0.0.1:8443")
        );
        assert_eq!(parse_server(""), None);
        assert_eq!(parse_server("meet example"), None);
        assert_eq!(parse_server("evil/path?x"), None);
    }

    #[test]
    fn password_policy_refusals_are_explained_in_the_users_language() {
        use conclave_protocol::password_policy::PolicyViolation;
        let _language = crate::test_language(crate::i18n::Language::Japanese);
        let every_rule = [
            PolicyViolation::Empty,
            PolicyViolation::TooShort { min: 12, actual: 5 },
            PolicyViolation::TooLong,
            PolicyViolation::ControlCharacter,
            PolicyViolation::MissingLowercase,
            PolicyViolation::MissingUppercase,
            PolicyViolation::MissingDigit,
            PolicyViolation::MissingSymbol,
            PolicyViolation::ForbiddenWord {
                word: "acme".into(),
            },
        ];
        for violation in every_rule {
            let english = violation.to_string();
            let shown = UiError::PasswordPolicy {
                rule: violation.code().into(),
                message: english.clone(),
            }
            .text();
            assert!(
                !shown.contains(&english),
                "{} is shown in English: {shown}",
                violation.code()
            );
        }
        let digit = UiError::PasswordPolicy {
            rule: "missing_digit".into(),
            message: "the password needs a digit".into(),
        };
        assert!(digit.text().contains("数字"), "{}", digit.text());
        // A rule newer than this app: the server's own words, still inside the translation.
        let unknown = UiError::PasswordPolicy {
            rule: "no_emoji".into(),
            message: "no emoji, please".into(),
        };
        assert!(unknown.text().contains("no emoji, please"));
        assert!(unknown.text().contains("組織のルール"));
    }
}
