//! The headless client engine shared by the CLI, the tests and (later) the desktop app.
//!
//! - [`engine`]: the sans-I/O state machine (server messages in, client messages and events out);
//! - [`connection`]: the engine on a live WebSocket, driven by a tokio task;
//! - [`account`]: HTTPS sign-in and meeting creation;
//! - [`identity`]: the signed-in identity, in memory and as kept between runs;
//! - [`schedule_api`]: scheduling, listing, updating and cancelling meetings over HTTPS;
//! - [`server_info`]: what a server announces before sign-in, and the client version check;
//! - [`media_session`]: live audio over WebRTC to the SFU, keyed by the MLS epochs;
//! - [`tls`]: trusting the server (public roots, or a pinned self-signed certificate).

pub mod account;
pub mod connection;
pub mod engine;
pub mod identity;
pub mod media_session;
pub mod media_start;
pub mod schedule_api;
pub mod server_info;
pub mod tls;

pub use connection::{ConnectError, ConnectOptions, MeetingClient, Snapshot};
pub use engine::{Engine, Event, LeftReason, Phase, Presence, RosterView};
pub use identity::{KeptSignIn, SignedInIdentity};
pub use server_info::{
    CLIENT_VERSION, ServerInfo, VersionCheck, check_version, fetch_client_versions,
    fetch_server_info,
};
pub use tls::TlsTrust;
