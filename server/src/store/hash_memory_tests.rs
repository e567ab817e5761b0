//! The reusable-memory hashing against the stock `argon2` API, both ways.

#![allow(clippy::unwrap_used)]

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

use super::*;

fn cheap() -> Params {
    Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None).unwrap()
}

fn stock(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[test]
fn new_hashes_verify_with_the_stock_api() {
    for params in [cheap(), Params::default()] {
        let mut memory = HashMemory::new(params.block_count());
        let phc = hash_new(&mut memory, &params, "correct horse").unwrap();
        assert!(phc.starts_with(&format!(
            "$argon2id$v=19$m={},t={},p={}$",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        )));
        let parsed = PasswordHash::new(&phc).unwrap();
        let verifier = stock(params.clone());
        assert!(verifier.verify_password(b"correct horse", &parsed).is_ok());
        assert!(verifier.verify_password(b"correct horsf", &parsed).is_err());
    }
}

#[test]
fn stock_hashes_verify_with_reused_memory() {
    let params = Params::default();
    let mut memory = HashMemory::new(params.block_count());
    // Dirty the kept memory first: a previous hash must not leak into the next.
    hash_new(&mut memory, &params, "something else").unwrap();
    let salt = SaltString::generate(&mut PasswordRng);
    let phc = stock(params)
        .hash_password(b"rabbit-hole", &salt)
        .unwrap()
        .to_string();
    assert!(verify_with(&mut memory, "rabbit-hole", &phc).unwrap());
    assert!(!verify_with(&mut memory, "rabbit-hol", &phc).unwrap());
    assert!(!verify_with(&mut memory, "", &phc).unwrap());
    assert!(verify_with(&mut memory, "rabbit-hole", &phc).unwrap());
}

#[test]
fn other_costs_and_variants_verify() {
    // Cheaper than what is kept (a prefix of the kept memory), costlier (its own block),
    // another variant, output length and version: all as the stock verifier decides.
    let mut memory = HashMemory::new(64);
    let cases = [
        (
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32, 3, 1, None),
        ),
        (
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 2, Some(64)),
        ),
        (
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(64, 2, 1, Some(16)),
        ),
    ];
    for (algorithm, version, params) in cases {
        let hasher = Argon2::new(algorithm, version, params.unwrap());
        let salt = SaltString::generate(&mut PasswordRng);
        let phc = hasher.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify_with(&mut memory, "pw", &phc).unwrap(), "{phc}");
        assert!(!verify_with(&mut memory, "pW", &phc).unwrap(), "{phc}");
    }
    assert_eq!(memory.blocks.len(), 64);
}

#[test]
fn malformed_hashes_are_errors() {
    let mut memory = HashMemory::new(cheap().block_count());
    for phc in [
        "",
        "plain",
        "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ",
        "$bcrypt$x",
    ] {
        assert!(verify_with(&mut memory, "pw", phc).is_err(), "{phc}");
    }
}
