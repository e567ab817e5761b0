//! Checking a joiner's KeyPackage before anyone commits it: well-formed, this ciphersuite, a
//! credential that verifies (against the organisation key when one is set), not expired.

use super::*;

/// A KeyPackage that passed signature and lifetime checks, with what its credential claims.
pub struct ValidatedKeyPackage {
    pub(super) key_package: KeyPackage,
    /// The trust state of the would-be member, for lobby display and "deny" decisions.
    pub trust: TrustState,
    /// The joiner's MLS signature key (what expel and deny-lists key on).
    pub signature_key: Vec<u8>,
}

/// Checks a serialized KeyPackage (an `MlsMessage` carrying one).
pub fn validate_key_package(
    bytes: &[u8],
    org: Option<&OrgPublicKey>,
    now: u64,
) -> Result<ValidatedKeyPackage, GroupError> {
    let message = MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(|e| GroupError::Decode(e.to_string()))?;
    let MlsMessageBodyIn::KeyPackage(key_package_in) = message.extract() else {
        return Err(GroupError::UnexpectedMessage {
            expected: "a KeyPackage",
        });
    };
    let crypto = openmls_rust_crypto::RustCrypto::default();
    let key_package = key_package_in
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|e| GroupError::InvalidKeyPackage(e.to_string()))?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(GroupError::InvalidKeyPackage(
            "unsupported ciphersuite".into(),
        ));
    }
    let leaf = key_package.leaf_node();
    let signature_key = leaf.signature_key().as_slice().to_vec();
    let trust = credential_trust(leaf.credential(), &signature_key, org, now);
    Ok(ValidatedKeyPackage {
        key_package,
        trust,
        signature_key,
    })
}

pub(super) fn credential_trust(
    credential: &Credential,
    signature_key: &[u8],
    org: Option<&OrgPublicKey>,
    now: u64,
) -> TrustState {
    match BasicCredential::try_from(credential.clone()) {
        Ok(basic) => classify(basic.identity(), signature_key, org, now),
        Err(e) => TrustState::Invalid {
            display_name: None,
            reason: conclave_protocol::identity::CredentialError::Malformed(e.to_string()),
        },
    }
}
