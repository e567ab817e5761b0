//! The Conclave meeting server: signaling, the MLS delivery service and host controls.
//!
//! `room` holds one meeting's authoritative state and rules as pure logic (clock injected);
//! the network layer, persistence and the SFU build on it:
//!
//! - [`server::start`] runs a whole server (HTTPS + WebSocket on one port); [`config`] is its
//!   configuration, `hub` the state shared by connections, `ws` the signaling WebSocket and
//!   `http` the JSON endpoints (sign-in, meeting creation, server info, health), `schedule_http`
//!   the scheduling endpoints, `join_page` the browser page of `https://…/join/<number>`;
//! - [`store`] persists accounts, tokens, meetings and the audit log; `tls` and `org_key`
//!   hold the server's certificate and the organization identity key; `accounts_cli` is
//!   `conclaved user …`; `audit` queues the audit trail for its writer task and `audit_cli`
//!   is `conclaved audit …`.
//!
//! The public API is what `conclaved`, the tests and the desktop app's embedded server use:
//! the four public modules (whose paths those callers name) and the re-exports below.

pub mod config;
pub mod server;
pub mod sfu;
pub mod store;

mod accounts_cli;
mod audit;
mod audit_cli;
mod auth;
mod http;
mod hub;
mod join_page;
mod org_key;
mod private_files;
mod room;
mod schedule_http;
mod throttle;
mod tls;
mod ws;

// `conclaved user …` and `conclaved meeting create` (main.rs).
pub use accounts_cli::{CLI_ACTOR, UserCommand, run_user_command};
// `conclaved audit …` (main.rs and the tests).
pub use audit::{AUDIT_QUEUE, AuditTrail, device_fingerprint};
pub use audit_cli::{AuditCliError, AuditCommand, ExportFormat, FilterArgs, run_audit_command};
pub use http::{MeetingRequestError, prepare_meeting};
// The shared state a running server hands to tests and embedders.
pub use hub::{ConnectionGuard, Hub, HubSettings, MeetingOptions, StoredOptions};
// What the integration tests drive the hub with directly.
pub use room::{JoinRequest, Outgoing};
pub use throttle::{Guess, GuessThrottle, ThrottleError};
