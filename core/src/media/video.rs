//! SFrame for H.264 (DESIGN.md): the RTP packetizer splits an access unit at Annex-B start
//! codes, so an access unit cannot be encrypted whole. Each NAL unit is encrypted on its own:
//! its one-byte NAL header stays in clear as SFrame metadata (authenticated, so it cannot be
//! altered), and the SFrame ciphertext is escaped with H.264 emulation prevention (a 0x03 after
//! any two zero bytes that precede a byte ≤ 0x03), so it never contains a start code.
//!
//! Encrypted NAL unit on the wire: `nal_header || escape(SFrame header || ciphertext || tag) || 0x80`.

use std::time::Instant;

use crate::media_keys::{MediaError, MediaReceiver, MediaSender};

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

/// Splits an Annex-B access unit at its start codes (3- or 4-byte) into NAL units.
pub fn split_annex_b(access_unit: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= access_unit.len() {
        if access_unit[i] == 0 && access_unit[i + 1] == 0 && access_unit[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (k, (_, begin)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(access_unit.len(), |(s, _)| *s);
        // A 4-byte start code's leading zero belongs to the code, not the unit before it.
        while end > *begin && access_unit[end - 1] == 0 {
            end -= 1;
        }
        if end > *begin {
            units.push(&access_unit[*begin..end]);
        }
    }
    units
}

/// Joins NAL units into an Annex-B access unit with 4-byte start codes.
pub fn join_annex_b<'a>(units: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for unit in units {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(unit);
    }
    out
}

/// Ends every escaped body, like the RBSP stop bit: a body can then end in zero bytes without
/// merging into the next start code, and the receiver knows where the body ends.
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

/// Whether an H.264 RTP payload (RFC 6184) begins a keyframe: its first NAL unit, alone, first
/// in a STAP-A or as an FU-A's first fragment, is a sequence parameter set, which Conclave's
/// encoder puts first in every keyframe. Only NAL header bytes are read: they are the one part
/// of a NAL unit SFrame leaves in clear, so the SFU can use this too. After a sequence gap, a
/// keyframe start with nothing of its unit collected yet means only whole earlier pictures
/// were lost: the keyframe is complete and repairs the loss. (A delta picture after a gap
/// cannot be told from a later slice of a damaged one, and lacks its reference anyway.)
pub fn starts_keyframe(payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    const FU_START: u8 = 0x80;
    match payload.first().map(|b| b & 0x1f) {
        Some(STAP_A) => payload.get(3).is_some_and(|h| h & 0x1f == SPS),
        Some(FU_A) => payload
            .get(1)
            .is_some_and(|fu| fu & FU_START != 0 && fu & 0x1f == SPS),
        Some(nal_type) => nal_type == SPS,
        None => false,
    }
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

    #[test]
    fn keyframe_starts_are_told_from_everything_else() {
        assert!(starts_keyframe(&[0x67, 0x42]), "SPS alone");
        assert!(
            starts_keyframe(&[0x78, 0x00, 0x02, 0x67, 0x42]),
            "STAP-A with the SPS first"
        );
        assert!(starts_keyframe(&[0x7c, 0x87, 0x42]), "FU-A start of an SPS");
        assert!(
            !starts_keyframe(&[0x7c, 0x07, 0x42]),
            "FU-A middle of an SPS"
        );
        assert!(!starts_keyframe(&[0x68, 0xce]), "PPS");
        assert!(!starts_keyframe(&[0x65, 0x88]), "IDR slice");
        assert!(!starts_keyframe(&[0x41, 0x9a]), "P slice");
        assert!(!starts_keyframe(&[0x78, 0x00]), "truncated STAP-A");
        assert!(!starts_keyframe(&[0x7c]), "truncated FU-A");
        assert!(!starts_keyframe(&[]), "empty");
    }
}
