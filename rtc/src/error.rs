//! The one error of the WebRTC hop, shared by every module of this crate.

/// Why the media connection failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("WebRTC: {0}")]
    WebRtc(String),
    #[error("the session description is not valid: {0}")]
    BadDescription(String),
    #[error("the media connection timed out while {0}")]
    Timeout(&'static str),
    #[error("the media connection closed")]
    Closed,
}

pub(crate) fn webrtc_error(e: impl std::fmt::Display) -> TransportError {
    TransportError::WebRtc(e.to_string())
}
