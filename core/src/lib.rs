//! Conclave's client: what the app, the CLI, the end-to-end tests and the load bots share.
//!
//! - [`client`]: the headless client engine (signalling + MLS), the live connection, HTTPS
//!   sign-in and scheduling, and the media session over WebRTC;
//! - [`invite`]: invitations (.ics, text, HTML) and the separate password message, en/ja.
//!
//! It stands on `conclave-protocol` (wire types), `conclave-e2ee` (MLS and SFrame),
//! `conclave-rtc` (the WebRTC hop) and `conclave-media` (codecs and pipelines); see
//! `docs/architecture.md`. This crate must never depend on GUI or device crates;
//! `tests/tests/architecture.rs` checks it.

pub mod client;
pub mod invite;
