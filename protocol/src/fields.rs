//! The validated newtypes carried in protocol fields ([`MeetingNumber`], [`DisplayName`],
//! [`MeetingPassword`], [`BearerToken`], [`Reason`], [`ParticipantId`]) and [`MlsBlob`], plus
//! the thread-local slot through which their deserializers hand a typed error to `decode_*`.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{
    MAX_BEARER_TOKEN_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_MEETING_DIGITS, MAX_PASSWORD_CHARS,
    MAX_REASON_CHARS, MIN_MEETING_DIGITS, ProtocolError, invalid,
};

// ---------------------------------------------------------------------------------------------
// Field-error slot
// ---------------------------------------------------------------------------------------------

// serde can only carry a string error out of a `Deserialize` impl. So that `decode_*` can hand
// callers the typed error of a failing newtype (e.g. `FieldTooLong { field: "display_name" }`)
// rather than a flattened `Malformed` string, the newtypes' deserializers park their typed
// error here; `decode_envelope` clears the slot before parsing and reads it back on failure.
// serde stops at the first error, so the parked error is always the one that aborted parsing.
thread_local! {
    static FIELD_ERROR: Cell<Option<ProtocolError>> = const { Cell::new(None) };
}

fn park_field_error(error: ProtocolError) {
    // `try_with` only fails during thread teardown, where losing the detail is harmless.
    let _ = FIELD_ERROR.try_with(|slot| slot.set(Some(error)));
}

pub(super) fn take_field_error() -> Option<ProtocolError> {
    FIELD_ERROR.try_with(Cell::take).ok().flatten()
}

/// Deserializes a string and checks it with `parse`, parking a typed error for `decode_*`.
fn deserialize_checked<'de, D, T>(
    deserializer: D,
    parse: impl FnOnce(String) -> Result<T, ProtocolError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = String::deserialize(deserializer)?;
    parse(raw).map_err(|error| {
        let message = error.to_string();
        park_field_error(error);
        de::Error::custom(message)
    })
}

// ---------------------------------------------------------------------------------------------
// Validated newtypes
// ---------------------------------------------------------------------------------------------

/// A meeting number: 9 to 12 decimal digits, stored and sent without separators.
///
/// [`MeetingNumber::parse`] accepts what people type: ASCII or full-width digits separated by
/// spaces (ASCII or ideographic) and hyphens. [`Display`](fmt::Display) groups the digits in
/// threes, with the last groups taking one extra digit when the count is not a multiple of
/// three: `123 456 789`, `123 456 7890`, `123 4567 8901`, `123 456 789 012`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct MeetingNumber(String);

impl MeetingNumber {
    /// Parses a meeting number, ignoring spaces and hyphens.
    pub fn parse(input: &str) -> Result<Self, ProtocolError> {
        const FIELD: &str = "meeting";
        let mut digits = String::with_capacity(MAX_MEETING_DIGITS);
        let mut count = 0usize;
        for c in input.chars() {
            let digit = match c {
                '0'..='9' => c,
                // Full-width digits, as typed with a Japanese IME.
                '\u{FF10}'..='\u{FF19}' => {
                    char::from_digit(u32::from(c) - 0xFF10, 10).unwrap_or('0')
                }
                ' ' | '-' | '\u{3000}' | '\u{FF0D}' => continue,
                _ => {
                    return Err(invalid(
                        FIELD,
                        "may contain only digits, spaces and hyphens",
                    ));
                }
            };
            count += 1;
            if count <= MAX_MEETING_DIGITS {
                digits.push(digit);
            }
        }
        if count > MAX_MEETING_DIGITS {
            return Err(ProtocolError::FieldTooLong {
                field: FIELD,
                len: count,
                max: MAX_MEETING_DIGITS,
            });
        }
        if count < MIN_MEETING_DIGITS {
            return Err(invalid(
                FIELD,
                format!(
                    "must have {MIN_MEETING_DIGITS} to {MAX_MEETING_DIGITS} digits, got {count}"
                ),
            ));
        }
        Ok(Self(digits))
    }

    /// The digits without separators (the wire form).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MeetingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.0.len();
        let groups = len / 3;
        let long_groups = len % 3; // the last `long_groups` groups have four digits
        let mut chars = self.0.chars();
        for g in 0..groups {
            if g > 0 {
                f.write_str(" ")?;
            }
            let size = if g >= groups.saturating_sub(long_groups) {
                4
            } else {
                3
            };
            for c in chars.by_ref().take(size) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for MeetingNumber {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for MeetingNumber {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MeetingNumber> for String {
    fn from(value: MeetingNumber) -> Self {
        value.0
    }
}

impl<'de> Deserialize<'de> for MeetingNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_checked(deserializer, Self::try_from)
    }
}

/// A participant's display name: 1 to 64 characters after trimming surrounding whitespace.
///
/// Control characters are rejected, and so are the Unicode bidirectional embedding, override
/// and isolate characters (U+202A–U+202E, U+2066–U+2069), which could make a name render as
/// someone else's in the roster or lobby.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims and checks a display name.
    pub fn new(name: &str) -> Result<Self, ProtocolError> {
        const FIELD: &str = "display_name";
        let trimmed = name.trim();
        let len = trimmed.chars().count();
        if len == 0 {
            return Err(invalid(FIELD, "must not be empty or only whitespace"));
        }
        if len > MAX_DISPLAY_NAME_CHARS {
            return Err(ProtocolError::FieldTooLong {
                field: FIELD,
                len,
                max: MAX_DISPLAY_NAME_CHARS,
            });
        }
        if trimmed.chars().any(|c| {
            c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        }) {
            return Err(invalid(
                FIELD,
                "must not contain control or bidirectional-override characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DisplayName {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for DisplayName {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<DisplayName> for String {
    fn from(value: DisplayName) -> Self {
        value.0
    }
}

impl<'de> Deserialize<'de> for DisplayName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_checked(deserializer, Self::try_from)
    }
}

/// A meeting password as typed: 1 to 128 characters, compared exactly (no trimming).
///
/// It deliberately has no `Display`, and its `Debug` prints `MeetingPassword(<redacted>)`, so
/// it cannot end up in logs by accident. Use [`MeetingPassword::expose`] where the clear text
/// is really needed (sending it, hashing it with Argon2).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct MeetingPassword(String);

impl MeetingPassword {
    /// Checks a password's length.
    pub fn new(password: impl Into<String>) -> Result<Self, ProtocolError> {
        const FIELD: &str = "password";
        let password = password.into();
        let len = password.chars().count();
        if len == 0 {
            return Err(invalid(FIELD, "must not be empty"));
        }
        if len > MAX_PASSWORD_CHARS {
            return Err(ProtocolError::FieldTooLong {
                field: FIELD,
                len,
                max: MAX_PASSWORD_CHARS,
            });
        }
        Ok(Self(password))
    }

    /// The clear-text password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MeetingPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MeetingPassword(<redacted>)")
    }
}

impl TryFrom<String> for MeetingPassword {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<MeetingPassword> for String {
    fn from(value: MeetingPassword) -> Self {
        value.0
    }
}

impl<'de> Deserialize<'de> for MeetingPassword {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_checked(deserializer, Self::try_from)
    }
}

/// A bearer token for signed-in users: 1 to 512 visible ASCII characters.
///
/// It travels in the `Authorization: Bearer …` header of the WebSocket upgrade request, never
/// inside a protocol message. Restricting it to visible ASCII keeps it safe in an HTTP header.
/// Like [`MeetingPassword`] it has no `Display` and a redacted `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct BearerToken(String);

impl BearerToken {
    /// Checks a token's length and characters.
    pub fn new(token: impl Into<String>) -> Result<Self, ProtocolError> {
        const FIELD: &str = "bearer_token";
        let token = token.into();
        let len = token.chars().count();
        if len == 0 {
            return Err(invalid(FIELD, "must not be empty"));
        }
        if len > MAX_BEARER_TOKEN_CHARS {
            return Err(ProtocolError::FieldTooLong {
                field: FIELD,
                len,
                max: MAX_BEARER_TOKEN_CHARS,
            });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                FIELD,
                "must be visible ASCII characters without spaces",
            ));
        }
        Ok(Self(token))
    }

    /// Extracts the token from an `Authorization` header value (`Bearer <token>`; the scheme
    /// name is case-insensitive).
    pub fn from_authorization_header(value: &str) -> Result<Self, ProtocolError> {
        let value = value.trim();
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Self::new(token.trim_start())
            }
            _ => Err(invalid(
                "authorization",
                "expected the `Bearer <token>` scheme",
            )),
        }
    }

    /// The `Authorization` header value carrying this token.
    pub fn authorization_header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The clear-text token.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl TryFrom<String> for BearerToken {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<BearerToken> for String {
    fn from(value: BearerToken) -> Self {
        value.0
    }
}

impl<'de> Deserialize<'de> for BearerToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_checked(deserializer, Self::try_from)
    }
}

/// Free-text explanation (deny, expel, commit rejection): at most 256 characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Reason(String);

impl Reason {
    /// Checks a reason's length.
    pub fn new(reason: impl Into<String>) -> Result<Self, ProtocolError> {
        let reason = reason.into();
        let len = reason.chars().count();
        if len > MAX_REASON_CHARS {
            return Err(ProtocolError::FieldTooLong {
                field: "reason",
                len,
                max: MAX_REASON_CHARS,
            });
        }
        Ok(Self(reason))
    }

    /// A reason cut to the length limit, for server-written text that must never fail.
    pub fn truncated(reason: &str) -> Self {
        Self(reason.chars().take(MAX_REASON_CHARS).collect())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Reason {
    type Error = ProtocolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Reason> for String {
    fn from(value: Reason) -> Self {
        value.0
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_checked(deserializer, Self::try_from)
    }
}

/// The server-assigned id of one participant's connection within a meeting; a JSON number.
///
/// Servers should keep ids below 2^53 so JavaScript tooling reads them exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for ParticipantId {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

/// An opaque, TLS-serialized MLS object (KeyPackage, commit, proposal, Welcome), sent as a
/// standard padded base64 string.
///
/// Decoding rejects anything that is not canonical standard base64. Size limits depend on the
/// field and are enforced by the messages' `validate()`, which names the field. `Debug` prints
/// only the length, so multi-megabyte Welcomes do not flood logs.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct MlsBlob(Vec<u8>);

impl MlsBlob {
    /// Wraps serialized MLS bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Decodes standard padded base64.
    pub fn from_base64(text: &str) -> Result<Self, ProtocolError> {
        BASE64
            .decode(text)
            .map(Self)
            .map_err(|e| invalid("mls_blob", format!("not valid standard base64: {e}")))
    }

    /// Encodes as standard padded base64 (the wire form).
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.0)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the blob, returning the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for MlsBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlsBlob({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for MlsBlob {
    fn from(value: Vec<u8>) -> Self {
        Self(value)
    }
}

impl AsRef<[u8]> for MlsBlob {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for MlsBlob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for MlsBlob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BlobVisitor;
        impl Visitor<'_> for BlobVisitor {
            type Value = MlsBlob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a standard base64 string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MlsBlob, E> {
                MlsBlob::from_base64(v).map_err(|error| {
                    let message = error.to_string();
                    park_field_error(error);
                    E::custom(message)
                })
            }
        }
        deserializer.deserialize_str(BlobVisitor)
    }
}
