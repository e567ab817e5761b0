//! H.264 NAL-unit framing (Annex B) and the NAL header bytes that stay in clear under SFrame:
//! what the client's video pipeline and the SFU both need to read of a picture.

use rtc::rtp::codec::h264::NALU_TYPE_BITMASK;

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

/// Whether an access unit holds an IDR slice (a keyframe).
pub fn has_idr(access_unit: &[u8]) -> bool {
    split_annex_b(access_unit)
        .iter()
        .any(|nal| nal.first().is_some_and(|h| h & NALU_TYPE_BITMASK == 5))
}

#[cfg(test)]
mod tests {
    use super::*;

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
