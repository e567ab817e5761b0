//! Conclave core: everything both the server and the clients agree on.
//!
//! - [`client`]: the headless client engine (signaling + MLS) used by the CLI, tests and app;
//! - [`group`]: the meeting's MLS group (membership, commits, epochs);
//! - [`media`]: Opus audio, jitter buffer, mixing, tones and WAV files (device traits, no devices);
//! - [`media_keys`]: SFrame keys derived from each epoch (RFC 9605 §5.2);
//! - [`verification`]: the 20-digit code members read aloud;
//! - [`invite`]: invitations (.ics, text, HTML) and the separate password message, en/ja;
//! - [`identity`]: organization-certified and guest credentials, roster trust states;
//! - [`password_policy`]: checking and generating meeting passwords by the organization's rules;
//! - [`schedule`]: scheduled meetings, options and the password policy (HTTPS API types);
//! - [`protocol`]: the signaling messages between clients and the server (`docs/protocol.md`).
//!
//! This crate must never depend on GUI or device crates; `tests/architecture.rs` checks it.

pub mod client;
pub mod group;
pub mod identity;
pub mod invite;
pub mod media;
pub mod media_keys;
pub mod password_policy;
pub mod protocol;
pub mod schedule;
pub mod verification;
