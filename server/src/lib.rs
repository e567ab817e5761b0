//! The Conclave meeting server: signaling, the MLS delivery service and host controls.
//!
//! [`room`] holds one meeting's authoritative state as pure logic (clock injected); the
//! network layer, persistence and the SFU build on it.

pub mod room;
pub mod throttle;
