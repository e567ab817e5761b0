//! Everything the server and the clients agree on, with no cryptography beyond signatures:
//!
//! - the signalling messages over `wss://<host>/v1/ws` (this module's root, below);
//! - [`identity`]: organisation-certified and guest credentials, roster trust states;
//! - [`verification`]: the 20-digit code members read aloud;
//! - [`schedule`]: scheduled meetings, their options and the password policy;
//! - [`password_policy`]: checking and generating meeting passwords by the organisation's rules;
//! - [`http`]: the HTTPS API's request and response bodies.
//!
//! # Signalling
//!
//! The messages a client and the meeting server exchange over
//! `wss://<host>/v1/ws`.
//!
//! Every WebSocket text frame carries exactly one JSON object of the form
//! `{"v":1,"type":"<snake_case tag>", ...fields}`. MLS handshake objects (KeyPackages, commits,
//! proposals, Welcomes) travel as standard, padded base64 strings. A signed-in user's bearer
//! token travels in the HTTP `Authorization` header of the WebSocket upgrade request, never in
//! a message.
//!
//! Decoding ([`decode_client`], [`decode_server`]) is defensive: the raw length is checked
//! before any parsing, then the JSON is parsed, the version checked, and finally every size
//! limit enforced by [`ClientMessage::validate`] / [`ServerMessage::validate`]. Encoding
//! ([`encode_client`], [`encode_server`]) runs the same validation, so a peer never receives a
//! message that this module would itself reject. No input makes these functions panic.
//!
//! The human-readable description of the protocol is `docs/protocol.md`.

pub mod http;
pub mod identity;
pub mod password_policy;
pub mod schedule;
pub mod verification;

mod fields;
mod messages;
mod validate;

pub use fields::{
    BearerToken, DisplayName, MeetingNumber, MeetingPassword, MlsBlob, ParticipantId, Reason,
};
pub use messages::{
    AddRequest, Admission, ClientMessage, DenyReason, EndReason, Envelope, ErrorCode, LobbyEntry,
    MAX_ADMISSION_SIGNATURE_BYTES, MAX_EXTERNAL_SENDER_BYTES, MAX_GROUP_ID_BYTES,
    MAX_SIGNATURE_KEY_BYTES, MeetingState, Role, RosterEntry, ServerMessage,
};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use fields::take_field_error;

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// Version of the wire protocol spoken by this build; sent as `"v"` in every message.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest accepted message, in bytes of JSON text. Checked before parsing so an attacker cannot
/// make a peer buffer or parse more than this. The WebSocket layer should use the same limit.
pub const MAX_MESSAGE_BYTES: usize = 3 * 1024 * 1024;

/// Largest MLS KeyPackage (decoded bytes). Generous for one leaf with a certified credential.
pub const MAX_KEY_PACKAGE_BYTES: usize = 16 * 1024;
/// Largest MLS commit (decoded bytes).
pub const MAX_COMMIT_BYTES: usize = 256 * 1024;
/// Largest MLS proposal (decoded bytes).
pub const MAX_PROPOSAL_BYTES: usize = 256 * 1024;
/// Largest MLS Welcome (decoded bytes); big because it may carry the ratchet tree of a
/// 1,000-member group.
pub const MAX_WELCOME_BYTES: usize = 2 * 1024 * 1024;
/// Largest MLS GroupInfo (decoded bytes). No v1 message carries a GroupInfo; the limit is
/// fixed here so a future message (e.g. for external joins) uses the agreed value.
pub const MAX_GROUP_INFO_BYTES: usize = 2 * 1024 * 1024;
/// Largest SDP offer or answer, in bytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// Largest ICE candidate line, in bytes.
pub const MAX_ICE_CANDIDATE_BYTES: usize = 1024;
/// Largest ICE `sdpMid`, in bytes.
pub const MAX_SDP_MID_BYTES: usize = 64;
/// Largest number of entries in any list (added/removed members, lobby, roster, add requests),
/// matching the planned maximum meeting size.
pub const MAX_LIST_ENTRIES: usize = 1000;
/// Longest display name, in characters (Unicode scalar values) after trimming.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest meeting password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest free-text reason, in characters.
pub const MAX_REASON_CHARS: usize = 256;
/// Longest bearer token, in characters.
pub const MAX_BEARER_TOKEN_CHARS: usize = 512;
/// Longest `server_version` string in [`ServerMessage::Hello`], in bytes.
pub const MAX_SERVER_VERSION_BYTES: usize = 64;
/// Longest organization key fingerprint in [`ServerMessage::Hello`], in bytes.
pub const MAX_FINGERPRINT_BYTES: usize = 128;
/// Longest human-readable message in [`ServerMessage::Error`], in bytes.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 512;
/// Fewest digits in a meeting number.
pub const MIN_MEETING_DIGITS: usize = 9;
/// Most digits in a meeting number.
pub const MAX_MEETING_DIGITS: usize = 12;
/// Longest auto-lock delay, in minutes (one day). Zero is not a valid delay: "off" is `None`.
pub const MAX_AUTO_LOCK_MINUTES: u32 = 1440;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a message could not be decoded or encoded.
///
/// Messages never include the value of a password or token: field errors name the field and
/// the rule, and serde's echo of string values is redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The raw message is longer than [`MAX_MESSAGE_BYTES`]; it was not parsed.
    #[error("message is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Length of the raw message in bytes.
        len: usize,
        /// The limit that was exceeded.
        max: usize,
    },
    /// The text is not valid JSON or does not have the shape of any message (unknown `type`,
    /// missing or unknown field, wrong value type). Carries serde's explanation.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message's `v` is not [`PROTOCOL_VERSION`].
    #[error(
        "unsupported protocol version {got} (this build speaks version {})",
        PROTOCOL_VERSION
    )]
    UnsupportedVersion {
        /// The version the peer sent.
        got: u16,
    },
    /// A field is longer than its limit (bytes for MLS blobs and machine strings, characters
    /// for human text, entries for lists).
    #[error("field `{field}` is too long: {len} > {max}")]
    FieldTooLong {
        /// Wire name of the field.
        field: &'static str,
        /// Its actual length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field violates a rule other than length.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// Wire name of the field.
        field: &'static str,
        /// The rule that was broken (never the offending value).
        reason: String,
    },
}

impl ProtocolError {
    /// The [`ErrorCode`] a server reports to a client whose message failed with this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            ProtocolError::Malformed(_)
            | ProtocolError::UnsupportedVersion { .. }
            | ProtocolError::FieldTooLong { .. }
            | ProtocolError::InvalidField { .. } => ErrorCode::BadRequest,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// serde's "invalid type/value" errors quote the offending string (`string "…"`). A confused
/// client could put its password where a number belongs, so quoted string values are redacted
/// before the message ends up in a [`ProtocolError::Malformed`] (and so in logs).
fn redact_string_values(message: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find(MARK) {
        let (head, tail) = rest.split_at(pos + MARK.len());
        out.push_str(head);
        out.push_str("<redacted>\"");
        let mut escaped = false;
        let mut end = tail.len();
        for (i, c) in tail.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i + 1;
                break;
            }
        }
        rest = tail.get(end..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn malformed(error: &serde_json::Error) -> ProtocolError {
    ProtocolError::Malformed(redact_string_values(&error.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding
// ---------------------------------------------------------------------------------------------

/// Only the version, read first so a message from a newer protocol is reported as
/// `UnsupportedVersion` even when its `type` or fields are unknown to this build.
#[derive(Deserialize)]
struct VersionProbe {
    v: u16,
}

fn decode_envelope<T: DeserializeOwned>(text: &str) -> Result<T, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge {
            len: text.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let probe: VersionProbe = serde_json::from_str(text).map_err(|e| malformed(&e))?;
    if probe.v != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion { got: probe.v });
    }
    let _ = take_field_error();
    let parsed = serde_json::from_str::<Envelope<T>>(text);
    let parked = take_field_error();
    match parsed {
        Ok(envelope) => Ok(envelope.body),
        Err(e) => Err(parked.unwrap_or_else(|| malformed(&e))),
    }
}

fn encode_envelope<T: Serialize>(body: &T) -> Result<String, ProtocolError> {
    let text = serde_json::to_string(&Envelope::new(body)).map_err(|e| malformed(&e))?;
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge {
            len: text.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(text)
}

/// Decodes and validates one client→server message (server side).
pub fn decode_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    let message: ClientMessage = decode_envelope(text)?;
    message.validate()?;
    Ok(message)
}

/// Decodes and validates one server→client message (client side).
pub fn decode_server(text: &str) -> Result<ServerMessage, ProtocolError> {
    let message: ServerMessage = decode_envelope(text)?;
    message.validate()?;
    Ok(message)
}

/// Validates and encodes a client→server message in the versioned envelope.
pub fn encode_client(message: &ClientMessage) -> Result<String, ProtocolError> {
    message.validate()?;
    encode_envelope(message)
}

/// Validates and encodes a server→client message in the versioned envelope.
pub fn encode_server(message: &ServerMessage) -> Result<String, ProtocolError> {
    message.validate()?;
    encode_envelope(message)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
