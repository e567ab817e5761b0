//! The organization's meeting-password rules ([`PasswordPolicy`], defined with the scheduling
//! types): checking host-chosen passwords with the failing rule named, and generating
//! passwords that satisfy the policy.

use rand::Rng as _;

use crate::schedule::PasswordPolicy;

/// Longest meeting password, in characters.
pub const MAX_MEETING_PASSWORD_CHARS: usize = 128;
/// Shortest length a policy may demand (and the shortest generated password is 12).
pub const MIN_POLICY_LENGTH: usize = 8;
const GENERATED_MIN_CHARS: usize = 12;
/// Draws per [`PasswordPolicy::try_generate`]: a sane policy passes on the first draw or so;
/// one that fails this many is, for practical purposes, one no generator can satisfy.
const GENERATE_ATTEMPTS: usize = 1000;

// No look-alikes (0/O, 1/l/I), so a password read over the phone survives.
const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"-_.+=!?#%";

/// Which rule a password broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("the password is empty")]
    Empty,
    #[error("the password must have at least {min} characters (it has {actual})")]
    TooShort { min: usize, actual: usize },
    #[error("the password must have at most {MAX_MEETING_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password must not contain control characters")]
    ControlCharacter,
    #[error("the password needs a lower-case letter")]
    MissingLowercase,
    #[error("the password needs an upper-case letter")]
    MissingUppercase,
    #[error("the password needs a digit")]
    MissingDigit,
    #[error("the password needs a symbol (a character that is not a letter or digit)")]
    MissingSymbol,
    #[error("the password must not contain the word {word:?}")]
    ForbiddenWord { word: String },
}

impl PolicyViolation {
    /// A stable name of the rule, for clients to localise.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooShort { .. } => "too_short",
            Self::TooLong => "too_long",
            Self::ControlCharacter => "control_character",
            Self::MissingLowercase => "missing_lowercase",
            Self::MissingUppercase => "missing_uppercase",
            Self::MissingDigit => "missing_digit",
            Self::MissingSymbol => "missing_symbol",
            Self::ForbiddenWord { .. } => "forbidden_word",
        }
    }
}

/// Why a policy itself cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("min_length must be {MIN_POLICY_LENGTH} to {MAX_MEETING_PASSWORD_CHARS}")]
    MinLength,
    #[error("forbidden words must not be empty")]
    EmptyForbiddenWord,
    #[error(
        "no password can satisfy this policy (its forbidden words rule out a required kind of character)"
    )]
    Unsatisfiable,
}

fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

impl PasswordPolicy {
    /// Checks the policy's own settings (the server does at start-up).
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !(MIN_POLICY_LENGTH..=MAX_MEETING_PASSWORD_CHARS).contains(&self.min_length) {
            return Err(PolicyError::MinLength);
        }
        if self.forbidden_words.iter().any(|w| w.trim().is_empty()) {
            return Err(PolicyError::EmptyForbiddenWord);
        }
        // The server generates passwords by this policy, so it must be able to.
        self.try_generate().map(drop)
    }

    /// Checks a host-chosen password; the error names the first rule it breaks.
    pub fn check(&self, password: &str) -> Result<(), PolicyViolation> {
        let length = password.chars().count();
        if length == 0 {
            return Err(PolicyViolation::Empty);
        }
        if length > MAX_MEETING_PASSWORD_CHARS {
            return Err(PolicyViolation::TooLong);
        }
        if password.chars().any(char::is_control) {
            return Err(PolicyViolation::ControlCharacter);
        }
        if length < self.min_length {
            return Err(PolicyViolation::TooShort {
                min: self.min_length,
                actual: length,
            });
        }
        if self.require_lowercase && !password.chars().any(char::is_lowercase) {
            return Err(PolicyViolation::MissingLowercase);
        }
        if self.require_uppercase && !password.chars().any(char::is_uppercase) {
            return Err(PolicyViolation::MissingUppercase);
        }
        if self.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
            return Err(PolicyViolation::MissingDigit);
        }
        if self.require_symbol && !password.chars().any(is_symbol) {
            return Err(PolicyViolation::MissingSymbol);
        }
        let folded = password.to_lowercase();
        if let Some(word) = self
            .forbidden_words
            .iter()
            .find(|w| !w.trim().is_empty() && folded.contains(&w.trim().to_lowercase()))
        {
            return Err(PolicyViolation::ForbiddenWord { word: word.clone() });
        }
        Ok(())
    }

    /// A character class for the generator, less any character that is itself a forbidden
    /// word (no retry could ever avoid that one).
    fn usable(&self, class: &[u8]) -> Vec<u8> {
        class
            .iter()
            .copied()
            .filter(|&c| {
                !self.forbidden_words.iter().any(|word| {
                    let word = word.trim();
                    word.len() == 1 && word.eq_ignore_ascii_case(&char::from(c).to_string())
                })
            })
            .collect()
    }

    /// A random password that satisfies the policy (see [`Self::generate`]), or
    /// [`PolicyError::Unsatisfiable`] when none turned up.
    pub fn try_generate(&self) -> Result<String, PolicyError> {
        let mut rng = rand::rngs::OsRng;
        let length = self
            .min_length
            .clamp(GENERATED_MIN_CHARS, MAX_MEETING_PASSWORD_CHARS);
        // Letters and digits always appear (a mixed password is harder to guess); symbols
        // only when required, as they are awkward to dictate over the phone.
        let wanted = [
            (LOWER, self.require_lowercase),
            (UPPER, self.require_uppercase),
            (DIGITS, self.require_digit),
            (SYMBOLS, self.require_symbol),
        ];
        let mut classes = Vec::new();
        for (class, required) in wanted {
            let usable = self.usable(class);
            if usable.is_empty() && required {
                return Err(PolicyError::Unsatisfiable);
            }
            if !usable.is_empty() && (required || class != SYMBOLS) {
                classes.push(usable);
            }
        }
        let alphabet: Vec<u8> = classes.concat();
        if alphabet.is_empty() {
            return Err(PolicyError::Unsatisfiable);
        }
        for _ in 0..GENERATE_ATTEMPTS {
            let mut chars: Vec<u8> = classes
                .iter()
                .map(|class| class[rng.gen_range(0..class.len())])
                .collect();
            while chars.len() < length {
                chars.push(alphabet[rng.gen_range(0..alphabet.len())]);
            }
            // Fisher–Yates, so the guaranteed classes are not always in front.
            for i in (1..chars.len()).rev() {
                chars.swap(i, rng.gen_range(0..=i));
            }
            let password: String = chars.into_iter().map(char::from).collect();
            // A forbidden word appearing by chance is rare; just draw again.
            if self.check(&password).is_ok() {
                return Ok(password);
            }
        }
        Err(PolicyError::Unsatisfiable)
    }

    /// A random password (OS randomness) that satisfies the policy: every required class at
    /// least once, `max(min_length, 12)` characters, no look-alikes (0/O, 1/l/I, so it can be
    /// read over the phone), no forbidden word. Call it only with a policy that passed
    /// [`Self::validate`] (the server checks its configuration at start-up): for one that no
    /// password can satisfy, this keeps drawing forever.
    pub fn generate(&self) -> String {
        loop {
            if let Ok(password) = self.try_generate() {
                return password;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 16,
            require_symbol: true,
            forbidden_words: vec!["Acme".into(), "conclave".into()],
            ..PasswordPolicy::default()
        }
    }

    #[test]
    fn generated_passwords_satisfy_every_policy() {
        let lenient = PasswordPolicy {
            min_length: 8,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            forbidden_words: Vec::new(),
        };
        let longest = PasswordPolicy {
            min_length: MAX_MEETING_PASSWORD_CHARS,
            require_symbol: true,
            // Single letters are left out of the alphabet rather than retried for.
            forbidden_words: vec!["a".into(), "Z".into(), "7".into()],
            ..PasswordPolicy::default()
        };
        for policy in [PasswordPolicy::default(), strict(), lenient, longest] {
            assert_eq!(policy.validate(), Ok(()));
            for _ in 0..300 {
                let password = policy.generate();
                assert_eq!(policy.check(&password), Ok(()), "{password}");
                assert!(password.chars().count() >= policy.min_length.max(12));
                assert!(!password.chars().any(|c| "0O1lI".contains(c)));
                assert!(password.chars().count() <= MAX_MEETING_PASSWORD_CHARS);
            }
        }
    }

    #[test]
    fn each_rule_is_named_when_it_fails() {
        let policy = strict();
        let cases = [
            ("", "empty"),
            ("Short1!", "too_short"),
            ("ALL-UPPER-CASE-1234", "missing_lowercase"),
            ("all-lower-case-1234", "missing_uppercase"),
            ("No-Digits-At-All-Here", "missing_digit"),
            ("NoSymbolsAtAll12345", "missing_symbol"),
            ("My-ConClave-Pass-2026", "forbidden_word"),
            ("acme-Strong-Pass-2026", "forbidden_word"),
            ("Tab\tInside-Pass-2026x", "control_character"),
        ];
        for (password, rule) in cases {
            let violation = policy.check(password).unwrap_err();
            assert_eq!(violation.code(), rule, "{password:?}: {violation}");
            assert!(!violation.to_string().contains(password) || password.is_empty());
        }
        assert_eq!(
            policy.check(&"Aa1!".repeat(40)),
            Err(PolicyViolation::TooLong)
        );
        assert_eq!(policy.check("Correct-Horse-42-Battery"), Ok(()));
        // Forbidden words match whatever the case, and the error names the configured word.
        assert_eq!(
            PasswordPolicy::default().check("ConClave2026!x"),
            Err(PolicyViolation::ForbiddenWord {
                word: "conclave".into()
            })
        );
        assert_eq!(
            PasswordPolicy::default().check("Abc12"),
            Err(PolicyViolation::TooShort { min: 10, actual: 5 })
        );
        assert_eq!(
            PasswordPolicy::default()
                .check("Abc12")
                .unwrap_err()
                .to_string(),
            "the password must have at least 10 characters (it has 5)"
        );
        // Japanese passwords count characters, not bytes.
        let japanese = PasswordPolicy {
            min_length: 8,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: true,
            require_symbol: false,
            forbidden_words: Vec::new(),
        };
        assert_eq!(japanese.check("会議のパスワード7"), Ok(()));
    }

    #[test]
    fn unusable_policies_are_refused() {
        let tiny = PasswordPolicy {
            min_length: 4,
            ..PasswordPolicy::default()
        };
        assert_eq!(tiny.validate(), Err(PolicyError::MinLength));
        let blank = PasswordPolicy {
            forbidden_words: vec![" ".into()],
            ..PasswordPolicy::default()
        };
        assert_eq!(blank.validate(), Err(PolicyError::EmptyForbiddenWord));
        let huge = PasswordPolicy {
            min_length: MAX_MEETING_PASSWORD_CHARS + 1,
            ..PasswordPolicy::default()
        };
        assert_eq!(huge.validate(), Err(PolicyError::MinLength));
        // Every digit the generator uses is forbidden, yet digits are required.
        let no_digits = PasswordPolicy {
            forbidden_words: "23456789".chars().map(String::from).collect(),
            ..PasswordPolicy::default()
        };
        assert_eq!(no_digits.validate(), Err(PolicyError::Unsatisfiable));
        assert_eq!(no_digits.try_generate(), Err(PolicyError::Unsatisfiable));
        // Without the digit requirement the same words are fine: digits just never appear.
        let optional = PasswordPolicy {
            require_digit: false,
            ..no_digits
        };
        assert_eq!(optional.validate(), Ok(()));
        assert!(!optional.generate().chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn rule_codes_are_distinct_and_messages_are_sentences() {
        let all = [
            PolicyViolation::Empty,
            PolicyViolation::TooShort { min: 10, actual: 3 },
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
        let mut codes: Vec<&str> = all.iter().map(PolicyViolation::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for violation in &all {
            assert!(
                violation.to_string().starts_with("the password"),
                "{violation}"
            );
        }
    }
}
