//! RFC 9605 test vectors (Appendix C) through Conclave's SFrame integration.
//!
//! - `header`: every KID/CTR encoding, both directions.
//! - `sframe`: key schedule (labels, secret, key, salt) checked independently with HKDF for all
//!   five suites; full encrypt/decrypt for the AES-GCM suites our `ring` backend offers, and for
//!   suite 4 — the one Conclave uses — decryption through `MediaReceiver` itself.
//!   The AES-CTR suites (1-3) are not offered by the backend and never negotiated by Conclave.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use conclave_e2ee::media_keys::{EpochKeys, MediaKeyConfig, MediaReceiver};
use hkdf::Hkdf;
use serde_json::Value;
use sframe::CipherSuite;
use sframe::frame::{EncryptedFrame, MediaFrame, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};

fn vectors() -> Value {
    let text = include_str!("vectors/sframe-rfc9605.json");
    serde_json::from_str(text).unwrap()
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap()).unwrap()
}

#[test]
fn header_vectors_encode_and_parse() {
    let all = vectors();
    let headers = all["header"].as_array().unwrap();
    assert!(headers.len() > 200);
    for v in headers {
        let kid = v["kid"].as_u64().unwrap();
        let ctr = v["ctr"].as_u64().unwrap();
        let encoded = bytes(v, "encoded");
        let header = SframeHeader::new(kid, ctr);
        let mut buffer = vec![0u8; header.len()];
        header.serialize(&mut buffer).unwrap();
        assert_eq!(buffer, encoded, "kid {kid} ctr {ctr}");
        let parsed = SframeHeader::deserialize(&encoded).unwrap();
        assert_eq!((parsed.key_id(), parsed.counter()), (kid, ctr));
    }
}

fn suite_params(id: u64) -> (usize, usize, bool) {
    // (Nk of the sframe_key, Nh, sha512?)
    match id {
        1..=3 => (48, 32, false),
        4 => (16, 32, false),
        5 => (32, 64, true),
        other => panic!("unknown suite {other}"),
    }
}

#[test]
fn sframe_key_schedule_matches_for_every_suite() {
    for v in vectors()["sframe"].as_array().unwrap() {
        let suite = v["cipher_suite"].as_u64().unwrap();
        let (nk, _nh, sha512) = suite_params(suite);
        let base_key = bytes(v, "base_key");
        let kid = v["kid"].as_u64().unwrap();
        let mut key_label = b"SFrame 1.0 Secret key ".to_vec();
        key_label.extend(kid.to_be_bytes());
        key_label.extend((suite as u16).to_be_bytes());
        let mut salt_label = b"SFrame 1.0 Secret salt ".to_vec();
        salt_label.extend(kid.to_be_bytes());
        salt_label.extend((suite as u16).to_be_bytes());
        assert_eq!(key_label, bytes(v, "sframe_key_label"));
        assert_eq!(salt_label, bytes(v, "sframe_salt_label"));

        let mut key = vec![0u8; nk];
        let mut salt = vec![0u8; 12];
        let secret = if sha512 {
            let (prk, hk) = Hkdf::<sha2::Sha512>::extract(Some(b""), &base_key);
            hk.expand(&key_label, &mut key).unwrap();
            hk.expand(&salt_label, &mut salt).unwrap();
            prk.to_vec()
        } else {
            let (prk, hk) = Hkdf::<sha2::Sha256>::extract(Some(b""), &base_key);
            hk.expand(&key_label, &mut key).unwrap();
            hk.expand(&salt_label, &mut salt).unwrap();
            prk.to_vec()
        };
        assert_eq!(secret, bytes(v, "sframe_secret"), "suite {suite}");
        assert_eq!(key, bytes(v, "sframe_key"), "suite {suite}");
        assert_eq!(salt, bytes(v, "sframe_salt"), "suite {suite}");
    }
}

fn gcm_suite(id: u64) -> Option<CipherSuite> {
    match id {
        4 => Some(CipherSuite::AesGcm128Sha256),
        5 => Some(CipherSuite::AesGcm256Sha512),
        _ => None,
    }
}

#[test]
fn sframe_vectors_encrypt_and_decrypt_for_gcm_suites() {
    let mut checked = 0;
    for v in vectors()["sframe"].as_array().unwrap() {
        let Some(suite) = gcm_suite(v["cipher_suite"].as_u64().unwrap()) else {
            continue;
        };
        let kid = v["kid"].as_u64().unwrap();
        let ctr = v["ctr"].as_u64().unwrap();
        let base_key = bytes(v, "base_key");
        let metadata = bytes(v, "metadata");
        let pt = bytes(v, "pt");
        let ct = bytes(v, "ct");

        let enc = EncryptionKey::derive_from(suite, kid, &base_key).unwrap();
        let mut counter = SingleUseCounter::new(ctr);
        let frame = MediaFrame::try_with_meta_data(&mut counter, &pt, &metadata).unwrap();
        let encrypted = frame.encrypt(&enc).unwrap();
        assert_eq!(&encrypted.as_ref()[metadata.len()..], ct.as_slice());

        let dec = DecryptionKey::derive_from(suite, kid, &base_key).unwrap();
        let parsed = EncryptedFrame::try_with_meta_data(&ct, &metadata).unwrap();
        assert_eq!(parsed.decrypt(&dec).unwrap().payload(), pt.as_slice());
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn suite_4_vector_decrypts_through_media_receiver() {
    let all = vectors();
    let v = all["sframe"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["cipher_suite"] == 4)
        .unwrap();
    // KID 0x123 under Conclave's layout (E = 4, S = 12): epoch bits 3, sender leaf 0x12.
    let config = MediaKeyConfig::default();
    assert_eq!(v["kid"].as_u64().unwrap(), (0x12 << 4) | 3);
    let keys = EpochKeys::new(3, bytes(v, "base_key"), [0x12].into_iter().collect());
    let mut receiver = MediaReceiver::new(config, keys).unwrap();
    let metadata = bytes(v, "metadata");
    let mut wire = metadata.clone();
    wire.extend(bytes(v, "ct"));
    let mut out = Vec::new();
    let frame = receiver
        .decrypt_into(&wire, metadata.len(), &mut out, Instant::now())
        .unwrap();
    assert_eq!(frame.payload, bytes(v, "pt").as_slice());
    assert_eq!(frame.sender, 0x12);
    assert_eq!(frame.counter, v["ctr"].as_u64().unwrap());
    assert_eq!(frame.metadata, metadata.as_slice());

    // The same vector with one ciphertext bit flipped is refused.
    let last = wire.len() - 1;
    wire[last] ^= 1;
    let mut fresh = MediaReceiver::new(
        config,
        EpochKeys::new(3, bytes(v, "base_key"), [0x12].into_iter().collect()),
    )
    .unwrap();
    assert!(
        fresh
            .decrypt_into(&wire, metadata.len(), &mut out, Instant::now())
            .is_err()
    );
}
