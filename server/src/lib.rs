//! The Conclave meeting server: signaling, the MLS delivery service and host controls.
//!
//! [`room`] holds one meeting's authoritative state as pure logic (clock injected); the
//! network layer, persistence and the SFU build on it:
//!
//! - [`server::start`] runs a whole server (HTTPS + WebSocket on one port); [`config`] is its
//!   configuration, [`hub`] the state shared by connections, [`ws`] the signaling WebSocket
//!   and [`http`] the JSON endpoints (sign-in, meeting creation, health), [`schedule_http`]
//!   the scheduling endpoints;
//! - [`store`] persists accounts, tokens, meetings and the audit log; [`tls`] and
//!   [`org_key`] hold the server's certificate and the organization identity key;
//!   [`accounts_cli`] is `conclaved user …`.

pub mod accounts_cli;
mod auth;
pub mod config;
pub mod http;
pub mod hub;
pub mod org_key;
mod private_files;
pub mod room;
pub mod schedule_http;
pub mod server;
pub mod sfu;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod ws;
