//! The WebRTC hop between a member and the SFU, used by both ends: peer connections and SDP
//! ([`transport`]), the H.264 track and its RTCP feedback ([`video_link`]), H.264 framing read
//! from the NAL header bytes SFrame leaves in clear ([`nal`]), putting packets back in order
//! ([`reorder`], [`video_streams`]), pacing ([`pacing`], [`leaky_bucket`]) and the simulated
//! lossy or narrow links that tests and load bots use ([`lossy`], [`bottleneck`]).
//!
//! Nothing here decrypts or decodes media: what travels is SFrame ciphertext.
//! Modules import downwards only: `transport` → `pacing`/`video_link`/`lossy` →
//! `bottleneck` → `leaky_bucket`; `video_streams` → `reorder` → `nal`; every one may use
//! [`error`] and [`video_frame`].

pub mod bottleneck;
pub mod error;
pub mod leaky_bucket;
pub mod lossy;
pub mod nal;
pub mod pacing;
pub mod reorder;
pub mod transport;
pub mod video_frame;
pub mod video_link;
pub mod video_streams;
