//! Policy values: what a source holds ([`RawValue`]) and what a key accepts ([`PolicyValue`]).

use std::fmt;

use crate::schema::{Kind, PolicyDef, TextFormat};

/// A value as a source stores it, before it is checked against the key's type.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Bool(bool),
    Integer(i64),
    Text(String),
    /// Any other type (a list, a date, binary data…), named for the report.
    Other(&'static str),
}

/// A checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyValue {
    Bool(bool),
    Integer(u32),
    Text(String),
}

impl PolicyValue {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PolicyValue::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<u32> {
        match self {
            PolicyValue::Integer(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            PolicyValue::Text(value) => Some(value),
            _ => None,
        }
    }

    /// The value as JSON (for `--print-policy --json` and the samples).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            PolicyValue::Bool(value) => serde_json::Value::Bool(*value),
            PolicyValue::Integer(value) => serde_json::Value::from(*value),
            PolicyValue::Text(value) => serde_json::Value::String(value.clone()),
        }
    }
}

impl fmt::Display for PolicyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyValue::Bool(value) => write!(f, "{value}"),
            PolicyValue::Integer(value) => write!(f, "{value}"),
            PolicyValue::Text(value) => write!(f, "{value}"),
        }
    }
}

impl RawValue {
    /// Reads a JSON member (Linux policy files).
    pub fn from_json(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Bool(value) => RawValue::Bool(*value),
            serde_json::Value::Number(number) => match number.as_i64() {
                Some(value) => RawValue::Integer(value),
                None => RawValue::Other("a fractional or huge number"),
            },
            serde_json::Value::String(value) => RawValue::Text(value.clone()),
            serde_json::Value::Null => RawValue::Other("null"),
            serde_json::Value::Array(_) => RawValue::Other("a list"),
            serde_json::Value::Object(_) => RawValue::Other("an object"),
        }
    }

    /// Reads a property-list value (macOS managed preferences).
    pub fn from_plist(value: &plist::Value) -> Self {
        match value {
            plist::Value::Boolean(value) => RawValue::Bool(*value),
            plist::Value::Integer(number) => match number.as_signed() {
                Some(value) => RawValue::Integer(value),
                None => RawValue::Other("a huge number"),
            },
            plist::Value::String(value) => RawValue::Text(value.clone()),
            plist::Value::Real(_) => RawValue::Other("a fractional number"),
            plist::Value::Array(_) => RawValue::Other("a list"),
            plist::Value::Dictionary(_) => RawValue::Other("a dictionary"),
            plist::Value::Data(_) => RawValue::Other("binary data"),
            plist::Value::Date(_) => RawValue::Other("a date"),
            _ => RawValue::Other("an unknown type"),
        }
    }
}

/// Checks `raw` against `def`'s type. The error says what is wrong, for the report (it never
/// repeats a long value: a policy file is not a place to echo arbitrary text into logs).
pub fn check(def: &PolicyDef, raw: &RawValue) -> Result<PolicyValue, String> {
    match (def.kind, raw) {
        (Kind::Bool, RawValue::Bool(value)) => Ok(PolicyValue::Bool(*value)),
        // Registry tools and `defaults write` often store booleans as 0/1.
        (Kind::Bool, RawValue::Integer(0)) => Ok(PolicyValue::Bool(false)),
        (Kind::Bool, RawValue::Integer(1)) => Ok(PolicyValue::Bool(true)),
        (Kind::Bool, RawValue::Text(text)) => match text.trim() {
            "1" | "true" => Ok(PolicyValue::Bool(true)),
            "0" | "false" => Ok(PolicyValue::Bool(false)),
            _ => Err("expected true or false (1 or 0)".into()),
        },
        (Kind::Integer { min, max }, RawValue::Integer(value)) => u32::try_from(*value)
            .ok()
            .filter(|value| (min..=max).contains(value))
            .map(PolicyValue::Integer)
            .ok_or_else(|| format!("expected a whole number from {min} to {max}")),
        (Kind::Integer { min, max }, RawValue::Text(text)) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|value| (min..=max).contains(value))
            .map(PolicyValue::Integer)
            .ok_or_else(|| format!("expected a whole number from {min} to {max}")),
        (Kind::Text { max_len, format }, RawValue::Text(text)) => {
            let text = text.trim();
            if text.len() > max_len {
                return Err(format!("longer than {max_len} bytes"));
            }
            check_text(format, text).map(PolicyValue::Text)
        }
        (Kind::Choice(choices), RawValue::Text(text)) => {
            let text = text.trim();
            choices
                .iter()
                .find(|choice| **choice == text)
                .map(|choice| PolicyValue::Text((*choice).to_owned()))
                .ok_or_else(|| format!("expected one of {}", choices.join(", ")))
        }
        (kind, raw) => Err(format!(
            "expected {}, found {}",
            kind_name(kind),
            raw_kind(raw)
        )),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "true or false",
        Kind::Integer { .. } => "a whole number",
        Kind::Text { .. } | Kind::Choice(_) => "text",
    }
}

fn raw_kind(raw: &RawValue) -> &'static str {
    match raw {
        RawValue::Bool(_) => "true/false",
        RawValue::Integer(_) => "a number",
        RawValue::Text(_) => "text",
        RawValue::Other(name) => name,
    }
}

fn check_text(format: TextFormat, text: &str) -> Result<String, String> {
    match format {
        TextFormat::ServerAddress => {
            server_address(text).ok_or_else(|| "expected host:port or https://host:port".to_owned())
        }
        TextFormat::Sha256Fingerprint => {
            let digits: String = text.chars().filter(|c| *c != ':').collect();
            if digits.len() == 64 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
                Ok(text.to_ascii_uppercase())
            } else {
                Err("expected a SHA-256 fingerprint (64 hexadecimal digits)".into())
            }
        }
        TextFormat::HttpsUrl => {
            let rest = text.strip_prefix("https://").unwrap_or_default();
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if !host.is_empty() && text.chars().all(|c| c.is_ascii_graphic()) {
                Ok(text.to_owned())
            } else {
                Err("expected an https:// address".into())
            }
        }
    }
}

/// `host:port` from `host:port` or `https://host:port[/]`, or `None` when it is neither.
pub fn server_address(text: &str) -> Option<String> {
    let text = text.trim();
    let bare = text
        .strip_prefix("https://")
        .map(|rest| rest.trim_end_matches('/'))
        .unwrap_or(text);
    let (host, port) = bare.rsplit_once(':')?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.parse::<u16>().is_ok_and(|port| port != 0);
    (host_ok && port_ok).then(|| format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{PolicyKey, def};

    #[test]
    fn values_of_the_right_type_pass_and_others_say_what_was_expected() {
        let lock = def(PolicyKey::LockServer);
        assert_eq!(
            check(lock, &RawValue::Bool(true)),
            Ok(PolicyValue::Bool(true))
        );
        assert_eq!(
            check(lock, &RawValue::Integer(0)),
            Ok(PolicyValue::Bool(false))
        );
        assert_eq!(
            check(lock, &RawValue::Text("1".into())),
            Ok(PolicyValue::Bool(true))
        );
        assert!(check(lock, &RawValue::Integer(2)).is_err());
        assert!(check(lock, &RawValue::Text("yes please".into())).is_err());
        assert!(check(lock, &RawValue::Other("a list")).is_err());

        let minutes = def(PolicyKey::DefaultAutoLockMinutes);
        assert_eq!(
            check(minutes, &RawValue::Integer(10)),
            Ok(PolicyValue::Integer(10))
        );
        assert!(check(minutes, &RawValue::Integer(-1)).is_err());
        assert!(check(minutes, &RawValue::Integer(100_000)).is_err());
        assert_eq!(
            check(minutes, &RawValue::Text(" 5 ".into())),
            Ok(PolicyValue::Integer(5))
        );

        let language = def(PolicyKey::DefaultLanguage);
        assert_eq!(
            check(language, &RawValue::Text("ja".into())),
            Ok(PolicyValue::Text("ja".into()))
        );
        assert!(check(language, &RawValue::Text("fr".into())).is_err());
    }

    #[test]
    fn server_addresses_are_normalised_and_bad_ones_refused() {
        let server = def(PolicyKey::ServerUrl);
        for (given, expected) in [
            ("meet.example.com:8443", "meet.example.com:8443"),
            ("https://meet.example.com:8443/", "meet.example.com:8443"),
            ("[::1]:8443", "[::1]:8443"),
        ] {
            assert_eq!(
                check(server, &RawValue::Text(given.into())),
                Ok(PolicyValue::Text(expected.into())),
                "{given}"
            );
        }
        for bad in [
            "meet.example.com",
            "http://meet.example.com:80",
            "a b:1",
            ":8443",
            "x:0",
        ] {
            assert!(check(server, &RawValue::Text(bad.into())).is_err(), "{bad}");
        }
        assert!(check(server, &RawValue::Text(format!("{}:1", "a".repeat(300)))).is_err());
    }

    #[test]
    fn fingerprints_and_https_addresses_are_checked() {
        let pin = def(PolicyKey::ServerPin);
        let good = "ab".repeat(32);
        assert_eq!(
            check(pin, &RawValue::Text(good.clone())),
            Ok(PolicyValue::Text(good.to_ascii_uppercase()))
        );
        assert!(check(pin, &RawValue::Text("abcd".into())).is_err());
        assert!(check(pin, &RawValue::Text("zz".repeat(32))).is_err());
        let url = def(PolicyKey::UpdateCheckUrl);
        assert!(check(url, &RawValue::Text("https://u.example.com/v.json".into())).is_ok());
        assert!(check(url, &RawValue::Text("http://u.example.com/".into())).is_err());
        assert!(check(url, &RawValue::Text("https://".into())).is_err());
    }
}
