//! SFrame for H.264 (docs/security.md, "Media keys"): the RTP packetizer splits an access unit at Annex-B start
//! codes, so an access unit cannot be encrypted whole. Each NAL unit is encrypted on its own:
//! its one-byte NAL header stays in clear as SFrame metadata (authenticated, so it cannot be
//! altered), and the SFrame ciphertext is escaped with H.264 emulation prevention (a 0x03 after
//! any two zero bytes that precede a byte ≤ 0x03), so it never contains a start code.
//!
//! Encrypted NAL unit on the wire: `nal_header || escape(SFrame header || ciphertext || tag) || 0x80`.

use std::time::Instant;

use conclave_e2ee::media_keys::{MediaError, MediaReceiver, MediaSender};
use conclave_rtc::nal::{join_annex_b, split_annex_b};

/// Why a video frame could not be protected or opened.
#[derive(Debug, thiserror::Error)]
pub enum VideoFrameError {
    #[error("an empty NAL unit")]
    EmptyNalUnit,
    #[error("no NAL unit in the access unit")]
    NoNalUnits,
    #[error("the access unit mixes NAL units of different senders")]
    MixedSenders,
    #[error(transparent)]
    Media(#[from] MediaError),
}

const STOP_BYTE: u8 = 0x80;

/// H.264 emulation prevention: after two zero bytes, a byte ≤ 3 gets a 0x03 in front; then
/// the stop byte.
pub fn escape(data: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &byte in data {
        if zeros >= 2 && byte <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    out.push(STOP_BYTE);
}

/// Removes emulation prevention bytes and the stop byte; `false` if the stop byte is missing
/// (a truncated unit).
pub fn unescape(data: &[u8], out: &mut Vec<u8>) -> bool {
    let Some((&STOP_BYTE, body)) = data.split_last() else {
        return false;
    };
    let mut zeros = 0;
    for &byte in body {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        out.push(byte);
        zeros = if byte == 0 { zeros + 1 } else { 0 };
    }
    true
}

/// Encrypts every NAL unit of an Annex-B access unit; the result is again Annex-B, ready for
/// the RTP packetizer.
pub fn protect_access_unit(
    sender: &mut MediaSender,
    access_unit: &[u8],
) -> Result<Vec<u8>, VideoFrameError> {
    let units = split_annex_b(access_unit);
    if units.is_empty() {
        return Err(VideoFrameError::NoNalUnits);
    }
    let mut out = Vec::with_capacity(access_unit.len() + units.len() * 32);
    let mut sealed = Vec::new();
    for unit in units {
        let (header, body) = unit.split_first().ok_or(VideoFrameError::EmptyNalUnit)?;
        sealed.clear();
        sender.encrypt_into(&[*header], body, &mut sealed)?;
        out.extend_from_slice(&[0, 0, 0, 1, *header]);
        // `sealed` starts with the clear header byte (SFrame metadata); escape the rest.
        escape(&sealed[1..], &mut out);
    }
    Ok(out)
}

/// Decrypts an access unit produced by [`protect_access_unit`]. Any tampered, truncated or
/// foreign NAL unit fails the whole frame (the decoder then asks for a keyframe).
pub fn open_access_unit(
    receiver: &mut MediaReceiver,
    protected: &[u8],
    now: Instant,
) -> Result<Vec<u8>, VideoFrameError> {
    open_access_unit_from(receiver, protected, now).map(|(_, access_unit)| access_unit)
}

/// Like [`open_access_unit`], also naming the sender (the MLS leaf index from the
/// authenticated KID). An access unit mixing NAL units of two senders is refused.
pub fn open_access_unit_from(
    receiver: &mut MediaReceiver,
    protected: &[u8],
    now: Instant,
) -> Result<(u32, Vec<u8>), VideoFrameError> {
    let units = split_annex_b(protected);
    if units.is_empty() {
        return Err(VideoFrameError::NoNalUnits);
    }
    let mut clear_units = Vec::with_capacity(units.len());
    let mut frame = Vec::new();
    let mut clear = Vec::new();
    let mut sender = None;
    for unit in units {
        let (header, body) = unit.split_first().ok_or(VideoFrameError::EmptyNalUnit)?;
        frame.clear();
        frame.push(*header);
        if !unescape(body, &mut frame) {
            return Err(VideoFrameError::Media(MediaError::Malformed));
        }
        clear.clear();
        let opened = receiver.decrypt_into(&frame, 1, &mut clear, now)?;
        if *sender.get_or_insert(opened.sender) != opened.sender {
            return Err(VideoFrameError::MixedSenders);
        }
        let mut nal = Vec::with_capacity(1 + opened.payload.len());
        nal.push(*header);
        nal.extend_from_slice(opened.payload);
        clear_units.push(nal);
    }
    let sender = sender.ok_or(VideoFrameError::NoNalUnits)?;
    Ok((sender, join_annex_b(clear_units.iter().map(Vec::as_slice))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_start_code(data: &[u8]) -> bool {
        data.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 1)
    }

    #[test]
    fn escaping_removes_every_start_code_and_round_trips() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 2, 7],
            vec![0, 0],
            vec![5, 0],
            vec![0, 0, 0],
            vec![0, 3],
            vec![0, 0, 3],
            vec![],
            (0..=255u8).chain([0, 0, 0, 1, 0, 0]).collect(),
        ];
        for case in cases {
            let mut escaped = Vec::new();
            escape(&case, &mut escaped);
            assert!(!has_start_code(&escaped), "{case:?} → {escaped:?}");
            assert_ne!(escaped.last(), Some(&0));
            let mut back = Vec::new();
            assert!(unescape(&escaped, &mut back));
            assert_eq!(back, case);
            assert!(!unescape(&escaped[..escaped.len() - 1], &mut Vec::new()) || case.is_empty());
        }
    }

    #[test]
    fn annex_b_splits_on_three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9,
        ];
        let units = split_annex_b(&au);
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9, 9][..]]
        );
        assert_eq!(split_annex_b(&join_annex_b(units.clone())), units);
        assert!(split_annex_b(&[1, 2, 3]).is_empty());
    }
}
