//! SFrame per H.264 NAL unit: an access unit survives protect → Annex-B packetizer split →
//! open at another member; ciphertext never fakes a start code; tampering is caught.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use conclave_e2ee::group::{GroupMember, validate_key_package};
use conclave_e2ee::media_keys::{MediaKeyConfig, MediaReceiver, MediaSender};
use conclave_media::video::{VideoFrameError, open_access_unit, protect_access_unit};
use conclave_rtc::nal::{join_annex_b, split_annex_b};
use rand::rngs::StdRng;
use rand::{RngCore as _, SeedableRng as _};

fn pair() -> (MediaSender, MediaReceiver) {
    let mut a = GroupMember::guest("A").unwrap();
    a.create_group(b"video-test", Vec::new()).unwrap();
    let mut b = GroupMember::guest("B").unwrap();
    let kp = validate_key_package(&b.key_package().unwrap(), None, 1_800_000_000).unwrap();
    let out = a.commit(vec![kp], &[]).unwrap();
    a.confirm_commit().unwrap();
    b.join(&out.welcome.unwrap()).unwrap();
    let config = MediaKeyConfig::default();
    let sender = MediaSender::new(
        config,
        &a.epoch_keys().unwrap(),
        a.own_leaf_index().unwrap(),
    )
    .unwrap();
    let receiver = MediaReceiver::new(config, b.epoch_keys().unwrap()).unwrap();
    (sender, receiver)
}

/// SPS, PPS and a 50 KB IDR slice of random bytes (with start-code-like runs), emulation-free
/// as an encoder would emit them.
fn access_unit(rng: &mut StdRng) -> Vec<u8> {
    let mut idr = vec![0u8; 50_000];
    rng.fill_bytes(&mut idr);
    for chunk in idr.chunks_mut(997) {
        chunk[..3].copy_from_slice(&[0, 0, 3]);
    }
    let mut body = Vec::new();
    conclave_media::video::escape(&idr, &mut body);
    body.pop(); // an encoder's slice has no stop byte of ours
    let mut idr_nal = vec![0x65];
    idr_nal.extend(body);
    let units: Vec<Vec<u8>> = vec![
        vec![0x67, 0x42, 0xc0, 0x1f],
        vec![0x68, 0xce, 0x3c, 0x80],
        idr_nal,
    ];
    join_annex_b(units.iter().map(Vec::as_slice))
}

#[test]
fn access_units_round_trip_and_keep_their_nal_structure() {
    let (mut sender, mut receiver) = pair();
    let mut rng = StdRng::seed_from_u64(264);
    for _ in 0..20 {
        let clear = access_unit(&mut rng);
        let protected = protect_access_unit(&mut sender, &clear).unwrap();
        let clear_units = split_annex_b(&clear);
        let sealed_units = split_annex_b(&protected);
        assert_eq!(
            sealed_units.len(),
            clear_units.len(),
            "no start code emulated"
        );
        for (sealed, plain) in sealed_units.iter().zip(&clear_units) {
            assert_eq!(
                sealed[0], plain[0],
                "the NAL header stays in clear for the packetizer"
            );
            assert_ne!(&sealed[1..], &plain[1..]);
        }
        let overhead = protected.len() as i64 - clear.len() as i64;
        assert!(overhead < 3 * 40 + 200, "overhead {overhead} B");
        assert_eq!(
            open_access_unit(&mut receiver, &protected, Instant::now()).unwrap(),
            clear
        );
    }
}

#[test]
fn tampered_truncated_or_headerless_units_are_refused() {
    let (mut sender, mut receiver) = pair();
    let mut rng = StdRng::seed_from_u64(7);
    let clear = access_unit(&mut rng);
    let protected = protect_access_unit(&mut sender, &clear).unwrap();

    let mut flipped = protected.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0x40;
    assert!(open_access_unit(&mut receiver, &flipped, Instant::now()).is_err());

    // Changing the clear NAL header (e.g. turning a slice into an IDR) breaks authentication.
    let mut relabelled = protected.clone();
    relabelled[4] = 0x61;
    assert!(open_access_unit(&mut receiver, &relabelled, Instant::now()).is_err());

    let truncated = &protected[..protected.len() - 1];
    assert!(open_access_unit(&mut receiver, truncated, Instant::now()).is_err());
    assert!(matches!(
        open_access_unit(&mut receiver, &[1, 2, 3], Instant::now()),
        Err(VideoFrameError::NoNalUnits)
    ));
    assert!(matches!(
        protect_access_unit(&mut sender, &[]),
        Err(VideoFrameError::NoNalUnits)
    ));
    // The next frame opens: a refused frame does not break the stream. (Its intact NAL units
    // were authenticated and count as seen, so replaying them is refused.)
    let next = access_unit(&mut rng);
    let sealed = protect_access_unit(&mut sender, &next).unwrap();
    assert_eq!(
        open_access_unit(&mut receiver, &sealed, Instant::now()).unwrap(),
        next
    );
    assert!(
        open_access_unit(&mut receiver, &sealed, Instant::now()).is_err(),
        "replay"
    );
}
