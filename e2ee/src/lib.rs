//! Conclave's end-to-end encryption, which the server cannot undo:
//!
//! - [`group`]: the meeting's MLS group (RFC 9420): who is a member, which commits and
//!   proposals a member accepts, epochs, the verification code's input;
//! - [`media_keys`]: SFrame keys (RFC 9605) derived from each epoch, sender and receiver state.
//!
//! The server uses [`group`] only to check KeyPackages and to sign its external-sender
//! removals; it never holds a member's keys.

pub mod group;
pub mod media_keys;
