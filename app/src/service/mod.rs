//! The app's logic that is not UI: the user's identity (sign-in, keychain, renewal), the join
//! (the typed form checked, the connection that asks to join), the policy behind the network
//! notice and microphone level metering. Nothing here names the UI toolkit
//! (`tests/service_has_no_ui.rs` keeps it so): it can be read and tested without a window, the
//! way Halloy keeps its `data` crate apart from its UI.

pub mod account;
pub mod instance;
pub mod join;
pub mod level;
pub mod network_notice;
pub mod policy;
pub mod secrets;
pub mod session;
pub mod update;
