//! Conclave's managed policy.
//!
//! Administrators set keys ([`schema::POLICIES`]) where their tools write them: the Windows
//! registry (`HKLM`/`HKCU\SOFTWARE\Policies\Conclave`, `…\Recommended`), macOS managed
//! preferences for `app.conclave.Conclave`, and Linux JSON files under
//! `/etc/conclave/policies/{managed,recommended}/` (Chrome's layout). Each key is *enforced*
//! (the user cannot change it) or *recommended* (a default the user may change). The app asks
//! [`Policy::resolve`], whose order is: enforced, then the user's own setting, then
//! recommended, then the built-in default.
//!
//! A value of the wrong type, an unknown key or an unreadable file is reported
//! ([`Policy::issues`]) and ignored: a mistake in a policy file must never stop the app.

pub mod generate;
pub mod schema;
pub mod sources;
pub mod value;

use std::collections::BTreeMap;
use std::fmt;

pub use schema::{POLICIES, PolicyDef, PolicyKey};
pub use value::{PolicyValue, RawValue};

/// The macOS bundle identifier, which is also the managed-preferences domain.
pub const BUNDLE_ID: &str = "app.conclave.Conclave";

/// Enforced or recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Enforced,
    Recommended,
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Set by the organisation; the user cannot change it. Holds where it was read.
    Enforced(String),
    /// The user's own setting.
    User,
    /// The organisation's recommendation (the user has not chosen). Holds where it was read.
    Recommended(String),
    /// Nobody set it.
    Default,
}

impl Source {
    pub fn is_enforced(&self) -> bool {
        matches!(self, Source::Enforced(_))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Enforced(origin) => write!(f, "enforced ({origin})"),
            Source::User => f.write_str("user setting"),
            Source::Recommended(origin) => write!(f, "recommended ({origin})"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A key's effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `None`: no source and no built-in default (the app decides, e.g. the OS language).
    pub value: Option<PolicyValue>,
    pub source: Source,
}

impl Resolved {
    /// The value as a boolean, `fallback` when it is unset.
    pub fn bool_or(&self, fallback: bool) -> bool {
        self.value
            .as_ref()
            .and_then(PolicyValue::as_bool)
            .unwrap_or(fallback)
    }

    pub fn text(&self) -> Option<&str> {
        self.value.as_ref().and_then(PolicyValue::as_text)
    }

    pub fn integer(&self) -> Option<u32> {
        self.value.as_ref().and_then(PolicyValue::as_integer)
    }

    pub fn is_enforced(&self) -> bool {
        self.source.is_enforced()
    }
}

/// Something wrong in a policy source, reported and then ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyIssue {
    /// The file or registry key.
    pub origin: String,
    /// The key's name as written there (empty for a problem with the whole source).
    pub name: String,
    pub problem: String,
}

impl fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.name, self.problem)
        }
    }
}

/// Issues kept at most: a broken deployment must not fill memory or the Settings screen.
const MAX_ISSUES: usize = 100;

/// The organisation's policy as read from this system's sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    enforced: BTreeMap<PolicyKey, (PolicyValue, String)>,
    recommended: BTreeMap<PolicyKey, (PolicyValue, String)>,
    issues: Vec<PolicyIssue>,
}

impl Policy {
    /// No policy at all (every key at its default or the user's choice).
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads this system's policy sources (see the module documentation).
    pub fn load_system() -> Self {
        let policy = sources::load_system();
        for issue in &policy.issues {
            tracing::warn!(%issue, "policy value ignored");
        }
        policy
    }

    /// Adds one value read from `origin`. Sources are read from the strongest to the weakest:
    /// the first value for a key at a level stays, and a different later one is reported.
    pub fn add(&mut self, level: Level, origin: &str, name: &str, raw: &RawValue) {
        let Some(def) = schema::by_name(name) else {
            self.report(origin, name, "unknown policy key".into());
            return;
        };
        if level == Level::Recommended && !def.recommendable {
            self.report(
                origin,
                name,
                "this key can only be enforced, not recommended".into(),
            );
            return;
        }
        let value = match value::check(def, raw) {
            Ok(value) => value,
            Err(problem) => {
                self.report(origin, name, problem);
                return;
            }
        };
        let layer = match level {
            Level::Enforced => &mut self.enforced,
            Level::Recommended => &mut self.recommended,
        };
        match layer.get(&def.key) {
            None => {
                layer.insert(def.key, (value, origin.to_owned()));
            }
            Some((kept, kept_origin)) if *kept != value => {
                let problem = format!("differs from the value in {kept_origin}, which wins");
                self.report(origin, name, problem);
            }
            Some(_) => {}
        }
    }

    /// Records a problem with a whole source (unreadable file, not a JSON object…).
    pub fn report(&mut self, origin: &str, name: &str, problem: String) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(PolicyIssue {
                origin: origin.to_owned(),
                name: name.to_owned(),
                problem,
            });
        }
    }

    /// What was wrong in the sources (each wrong value was ignored).
    pub fn issues(&self) -> &[PolicyIssue] {
        &self.issues
    }

    /// The enforced value of `key`, if the organisation set one.
    pub fn enforced(&self, key: PolicyKey) -> Option<&PolicyValue> {
        self.enforced.get(&key).map(|(value, _)| value)
    }

    pub fn is_enforced(&self, key: PolicyKey) -> bool {
        self.enforced.contains_key(&key)
    }

    /// The effective value of `key` given the user's own setting (`None`: not chosen).
    pub fn resolve(&self, key: PolicyKey, user: Option<PolicyValue>) -> Resolved {
        if let Some((value, origin)) = self.enforced.get(&key) {
            return Resolved {
                value: Some(value.clone()),
                source: Source::Enforced(origin.clone()),
            };
        }
        if let Some(value) = user {
            return Resolved {
                value: Some(value),
                source: Source::User,
            };
        }
        if let Some((value, origin)) = self.recommended.get(&key) {
            return Resolved {
                value: Some(value.clone()),
                source: Source::Recommended(origin.clone()),
            };
        }
        let value = match schema::def(key).default {
            schema::Default::Bool(value) => Some(PolicyValue::Bool(value)),
            schema::Default::Integer(value) => Some(PolicyValue::Integer(value)),
            schema::Default::Text(value) => Some(PolicyValue::Text(value.to_owned())),
            schema::Default::Unset => None,
        };
        Resolved {
            value,
            source: Source::Default,
        }
    }

    /// The effective policy, one line per key with its source, then the problems found: what
    /// `conclave --print-policy` prints. `user` gives the user's own setting of a key.
    pub fn describe(&self, user: impl Fn(PolicyKey) -> Option<PolicyValue>) -> String {
        let mut out = String::from("Conclave policy: effective values\n");
        for def in POLICIES {
            let resolved = self.resolve(def.key, user(def.key));
            let value = resolved
                .value
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), ToString::to_string);
            out.push_str(&format!(
                "{:<24} {:<40} {}\n",
                def.name, value, resolved.source
            ));
        }
        if self.issues.is_empty() {
            out.push_str("No problems found in the policy sources.\n");
        } else {
            out.push_str("Ignored (problems in the policy sources):\n");
            for issue in &self.issues {
                out.push_str(&format!("  {issue}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> RawValue {
        RawValue::Text(value.into())
    }

    #[test]
    fn enforced_beats_the_user_which_beats_recommended_which_beats_the_default() {
        let mut policy = Policy::none();
        let key = PolicyKey::DefaultLanguage;
        assert_eq!(policy.resolve(key, None).source, Source::Default);
        assert_eq!(policy.resolve(key, None).value, None);
        policy.add(
            Level::Recommended,
            "rec.json",
            "DefaultLanguage",
            &text("ja"),
        );
        let resolved = policy.resolve(key, None);
        assert_eq!(resolved.text(), Some("ja"));
        assert_eq!(resolved.source, Source::Recommended("rec.json".into()));
        let mine = Some(PolicyValue::Text("en".into()));
        assert_eq!(policy.resolve(key, mine.clone()).source, Source::User);
        policy.add(
            Level::Enforced,
            "managed.json",
            "DefaultLanguage",
            &text("ja"),
        );
        let resolved = policy.resolve(key, mine);
        assert_eq!(resolved.text(), Some("ja"));
        assert!(resolved.is_enforced());
        assert!(policy.issues().is_empty());
    }

    #[test]
    fn bad_and_unknown_values_are_reported_and_ignored() {
        let mut policy = Policy::none();
        policy.add(Level::Enforced, "a.json", "AllowGuestJoin", &text("maybe"));
        policy.add(
            Level::Enforced,
            "a.json",
            "AllowGustJoin",
            &RawValue::Bool(false),
        );
        policy.add(
            Level::Recommended,
            "a.json",
            "LockServer",
            &RawValue::Bool(true),
        );
        assert!(
            policy
                .resolve(PolicyKey::AllowGuestJoin, None)
                .bool_or(false)
        );
        assert!(!policy.is_enforced(PolicyKey::LockServer));
        let problems: Vec<String> = policy.issues().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("AllowGuestJoin") && problems[0].contains("true or false"));
        assert!(problems[1].contains("unknown policy key"));
        assert!(problems[2].contains("only be enforced"));
    }

    #[test]
    fn the_strongest_source_wins_and_a_conflict_is_reported() {
        let mut policy = Policy::none();
        policy.add(Level::Enforced, "HKLM", "ServerUrl", &text("a.example:1"));
        policy.add(Level::Enforced, "HKCU", "ServerUrl", &text("b.example:1"));
        policy.add(Level::Enforced, "HKCU", "ServerUrl", &text("a.example:1"));
        assert_eq!(
            policy.resolve(PolicyKey::ServerUrl, None).text(),
            Some("a.example:1")
        );
        assert_eq!(policy.issues().len(), 1);
        assert!(policy.issues()[0].problem.contains("HKLM"));
    }

    #[test]
    fn the_description_lists_every_key_with_its_source_and_the_problems() {
        let mut policy = Policy::none();
        policy.add(Level::Enforced, "HKLM", "LockServer", &RawValue::Integer(1));
        policy.add(Level::Enforced, "HKLM", "Bogus", &RawValue::Integer(1));
        let text = policy
            .describe(|key| (key == PolicyKey::DefaultLobby).then_some(PolicyValue::Bool(false)));
        for def in POLICIES {
            assert!(text.contains(def.name), "{} missing", def.name);
        }
        assert!(text.contains("enforced (HKLM)"));
        assert!(text.contains("user setting"));
        assert!(text.contains("HKLM: Bogus: unknown policy key"));
    }

    #[test]
    fn a_flood_of_bad_values_keeps_a_bounded_report() {
        let mut policy = Policy::none();
        for index in 0..10_000 {
            policy.add(
                Level::Enforced,
                "x.json",
                &format!("Key{index}"),
                &RawValue::Bool(true),
            );
        }
        assert_eq!(policy.issues().len(), MAX_ISSUES);
    }
}
