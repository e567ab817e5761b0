//! Who a member is: organization-certified users and self-asserted guests.
//!
//! Every MLS leaf carries a basic credential whose identity bytes are a TLS-encoded
//! [`CredentialPayload`]. A guest's payload holds only the name they typed. A signed-in user's
//! payload holds a [`MemberCertificate`]: the organization identity key's Ed25519 signature over
//! the user id, display name, validity window and the member's MLS signature key. Binding the
//! certificate to the leaf's signature key means a certificate copied into someone else's leaf
//! does not verify. See `docs/security.md`.

use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};
use tls_codec::{Deserialize as _, Serialize as _, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

/// Domain-separation label signed with every certificate, so an org signature made for another
/// purpose can never be replayed as a member certificate.
const CERTIFICATE_LABEL: &[u8] = b"Conclave 1.0 member certificate";
/// Version byte of [`CredentialPayload`]; bumped if the layout ever changes.
const PAYLOAD_VERSION: u8 = 1;
/// Longest display name carried in a credential, in bytes (UTF-8).
pub const MAX_NAME_BYTES: usize = 256;
/// Longest user id carried in a certificate, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;

/// Why a credential or certificate was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential could not be decoded: {0}")]
    Malformed(String),
    #[error("the certificate was signed by another organization key")]
    WrongOrganization,
    #[error("the certificate's signature does not verify")]
    BadSignature,
    #[error("the certificate is not valid yet (valid from {not_before})")]
    NotYetValid { not_before: u64 },
    #[error("the certificate expired at {not_after}")]
    Expired { not_after: u64 },
    #[error("the certificate was issued for another signature key")]
    KeyMismatch,
    #[error("no organization key is known, so a signed-in identity cannot be checked")]
    NoOrganizationKey,
    #[error("{field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("the organization key is malformed")]
    BadOrganizationKey,
}

/// The organization identity key. The server holds it and certifies members at sign-in; it is
/// kept apart from the TLS key so that rotating one never touches the other.
pub struct OrgSigningKey {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for OrgSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrgSigningKey({})", self.public().fingerprint())
    }
}

impl OrgSigningKey {
    /// A fresh random organization key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        Self::from_secret_bytes(&seed)
    }

    /// Restores a key from its 32 secret bytes (as stored in the server's data dir).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            key: ed25519_dalek::SigningKey::from_bytes(secret),
        }
    }

    /// The 32 secret bytes, for the server to persist with restrictive permissions.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public half clients verify against (and IT may pin).
    pub fn public(&self) -> OrgPublicKey {
        OrgPublicKey(self.key.verifying_key().to_bytes())
    }

    /// Certifies that `member_signature_key` (the MLS leaf signature key of one device) belongs
    /// to `user_id`, valid from `not_before` to `not_after` (Unix seconds).
    pub fn certify(
        &self,
        user_id: &str,
        display_name: &str,
        member_signature_key: &[u8],
        not_before: u64,
        not_after: u64,
    ) -> Result<MemberCertificate, CredentialError> {
        check_len("user id", user_id.len(), MAX_USER_ID_BYTES)?;
        check_len("display name", display_name.len(), MAX_NAME_BYTES)?;
        let mut certificate = MemberCertificate {
            org_key: self.public().0.to_vec().into(),
            user_id: user_id.as_bytes().to_vec().into(),
            display_name: display_name.as_bytes().to_vec().into(),
            signature_key: member_signature_key.to_vec().into(),
            not_before,
            not_after,
            signature: Vec::new().into(),
        };
        let tbs = certificate.to_be_signed()?;
        certificate.signature = self.key.sign(&tbs).to_bytes().to_vec().into();
        Ok(certificate)
    }
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), CredentialError> {
    if len > max {
        Err(CredentialError::TooLong { field, max })
    } else {
        Ok(())
    }
}

/// The organization's public identity key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgPublicKey(pub [u8; 32]);

impl std::fmt::Debug for OrgPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrgPublicKey({})", self.fingerprint())
    }
}

impl OrgPublicKey {
    /// Parses the 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CredentialError> {
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CredentialError::BadOrganizationKey)?;
        ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| CredentialError::BadOrganizationKey)?;
        Ok(Self(raw))
    }

    /// SHA-256 of the key as colon-separated hex, the form shown to admins for pinning.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// An organization's statement that an MLS signature key belongs to a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct MemberCertificate {
    org_key: VLBytes,
    user_id: VLBytes,
    display_name: VLBytes,
    signature_key: VLBytes,
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds.
    pub not_after: u64,
    signature: VLBytes,
}

/// The part of a certificate the organization signs.
#[derive(TlsSerialize, TlsSize)]
struct CertificateTbs<'a> {
    label: &'a VLBytes,
    org_key: &'a VLBytes,
    user_id: &'a VLBytes,
    display_name: &'a VLBytes,
    signature_key: &'a VLBytes,
    not_before: u64,
    not_after: u64,
}

impl MemberCertificate {
    fn to_be_signed(&self) -> Result<Vec<u8>, CredentialError> {
        let label = VLBytes::new(CERTIFICATE_LABEL.to_vec());
        CertificateTbs {
            label: &label,
            org_key: &self.org_key,
            user_id: &self.user_id,
            display_name: &self.display_name,
            signature_key: &self.signature_key,
            not_before: self.not_before,
            not_after: self.not_after,
        }
        .tls_serialize_detached()
        .map_err(|e| CredentialError::Malformed(e.to_string()))
    }

    /// The account this certificate names.
    pub fn user_id(&self) -> String {
        String::from_utf8_lossy(self.user_id.as_slice()).into_owned()
    }

    /// The name the organization vouches for.
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(self.display_name.as_slice()).into_owned()
    }

    /// The MLS signature key this certificate is bound to.
    pub fn signature_key(&self) -> &[u8] {
        self.signature_key.as_slice()
    }

    /// Checks the certificate against the organization key, the leaf's own signature key and
    /// the current time (Unix seconds).
    pub fn verify(
        &self,
        org: &OrgPublicKey,
        leaf_signature_key: &[u8],
        now: u64,
    ) -> Result<(), CredentialError> {
        if self.org_key.as_slice() != org.0 {
            return Err(CredentialError::WrongOrganization);
        }
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&org.0)
            .map_err(|_| CredentialError::BadOrganizationKey)?;
        let signature = ed25519_dalek::Signature::from_slice(self.signature.as_slice())
            .map_err(|_| CredentialError::BadSignature)?;
        verifying
            .verify(&self.to_be_signed()?, &signature)
            .map_err(|_| CredentialError::BadSignature)?;
        if self.signature_key.as_slice() != leaf_signature_key {
            return Err(CredentialError::KeyMismatch);
        }
        if now < self.not_before {
            return Err(CredentialError::NotYetValid {
                not_before: self.not_before,
            });
        }
        if now > self.not_after {
            return Err(CredentialError::Expired {
                not_after: self.not_after,
            });
        }
        Ok(())
    }

    /// TLS encoding, for storing a certificate next to its key.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CredentialError> {
        self.tls_serialize_detached()
            .map_err(|e| CredentialError::Malformed(e.to_string()))
    }

    /// Decodes [`MemberCertificate::to_bytes`] output.
    pub fn from_bytes(mut bytes: &[u8]) -> Result<Self, CredentialError> {
        let certificate = Self::tls_deserialize(&mut bytes)
            .map_err(|e| CredentialError::Malformed(e.to_string()))?;
        if !bytes.is_empty() {
            return Err(CredentialError::Malformed("trailing bytes".into()));
        }
        Ok(certificate)
    }
}

/// What a leaf's basic credential identity contains.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct CredentialPayload {
    version: u8,
    display_name: VLBytes,
    certificate: Option<MemberCertificate>,
}

impl CredentialPayload {
    /// A guest: only a self-chosen name, which nobody vouches for.
    pub fn guest(display_name: &str) -> Result<Self, CredentialError> {
        check_len("display name", display_name.len(), MAX_NAME_BYTES)?;
        Ok(Self {
            version: PAYLOAD_VERSION,
            display_name: display_name.as_bytes().to_vec().into(),
            certificate: None,
        })
    }

    /// A signed-in user; the display name is the one the organization certified.
    pub fn user(certificate: MemberCertificate) -> Self {
        Self {
            version: PAYLOAD_VERSION,
            display_name: certificate.display_name.clone(),
            certificate: Some(certificate),
        }
    }

    /// Encodes into the bytes placed in the MLS basic credential.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CredentialError> {
        self.tls_serialize_detached()
            .map_err(|e| CredentialError::Malformed(e.to_string()))
    }

    /// Decodes the bytes of an MLS basic credential; anything else is an error, not a panic.
    pub fn from_bytes(mut bytes: &[u8]) -> Result<Self, CredentialError> {
        let payload = Self::tls_deserialize(&mut bytes)
            .map_err(|e| CredentialError::Malformed(e.to_string()))?;
        if !bytes.is_empty() {
            return Err(CredentialError::Malformed("trailing bytes".into()));
        }
        if payload.version != PAYLOAD_VERSION {
            return Err(CredentialError::Malformed(format!(
                "unknown credential version {}",
                payload.version
            )));
        }
        Ok(payload)
    }

    /// The display name as carried (certified for users, self-chosen for guests).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(self.display_name.as_slice()).into_owned()
    }

    /// The certificate, for signed-in users.
    pub fn certificate(&self) -> Option<&MemberCertificate> {
        self.certificate.as_ref()
    }
}

/// How much a roster entry can be trusted; this is what the badges in the UI show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustState {
    /// Signed in: the organization certified this leaf's key for this user.
    VerifiedUser {
        user_id: String,
        display_name: String,
    },
    /// A guest: the name is whatever they typed.
    UnverifiedGuest { display_name: String },
    /// Claims to be a user but the certificate does not check out (or cannot be decoded).
    Invalid {
        display_name: Option<String>,
        reason: CredentialError,
    },
}

impl TrustState {
    /// Whether the host's "expel all unverified" applies to this entry.
    pub fn is_verified(&self) -> bool {
        matches!(self, TrustState::VerifiedUser { .. })
    }

    /// The name to show, if any could be read.
    pub fn display_name(&self) -> Option<&str> {
        match self {
            TrustState::VerifiedUser { display_name, .. }
            | TrustState::UnverifiedGuest { display_name } => Some(display_name),
            TrustState::Invalid { display_name, .. } => display_name.as_deref(),
        }
    }
}

/// Decides the [`TrustState`] of one leaf from its credential identity bytes and signature key.
pub fn classify(
    credential_identity: &[u8],
    leaf_signature_key: &[u8],
    org: Option<&OrgPublicKey>,
    now: u64,
) -> TrustState {
    let payload = match CredentialPayload::from_bytes(credential_identity) {
        Ok(payload) => payload,
        Err(reason) => {
            return TrustState::Invalid {
                display_name: None,
                reason,
            };
        }
    };
    let display_name = payload.display_name();
    let Some(certificate) = payload.certificate() else {
        return TrustState::UnverifiedGuest { display_name };
    };
    let verdict = match org {
        Some(org) => certificate.verify(org, leaf_signature_key, now),
        None => Err(CredentialError::NoOrganizationKey),
    };
    match verdict {
        Ok(()) => TrustState::VerifiedUser {
            user_id: certificate.user_id(),
            display_name: certificate.display_name(),
        },
        Err(reason) => TrustState::Invalid {
            display_name: Some(display_name),
            reason,
        },
    }
}

/// How a client decides which organization key to trust: a key pinned by IT policy wins and
/// any other key the server offers is refused; without a pin the server's key is used.
#[derive(Debug, Clone, Default)]
pub struct OrgKeyPin {
    pinned_fingerprint: Option<String>,
}

impl OrgKeyPin {
    /// Trust whatever key the server presents (no policy set).
    pub fn unpinned() -> Self {
        Self::default()
    }

    /// Only accept the key with this fingerprint (as printed by [`OrgPublicKey::fingerprint`];
    /// case and separators are ignored).
    pub fn pinned(fingerprint: &str) -> Self {
        Self {
            pinned_fingerprint: Some(normalize_fingerprint(fingerprint)),
        }
    }

    /// Accepts or refuses the key a server offers.
    pub fn check(&self, offered: &OrgPublicKey) -> Result<(), CredentialError> {
        match &self.pinned_fingerprint {
            Some(pin) if *pin != normalize_fingerprint(&offered.fingerprint()) => {
                Err(CredentialError::WrongOrganization)
            }
            _ => Ok(()),
        }
    }
}

fn normalize_fingerprint(fingerprint: &str) -> String {
    fingerprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn issue(org: &OrgSigningKey, key: &[u8]) -> MemberCertificate {
        org.certify("u-42", "Aiko Tanaka", key, NOW - 60, NOW + 3600)
            .unwrap()
    }

    #[test]
    fn certified_credential_verifies_and_is_classified_verified() {
        let org = OrgSigningKey::generate();
        let leaf_key = [7u8; 32];
        let payload = CredentialPayload::user(issue(&org, &leaf_key));
        let bytes = payload.to_bytes().unwrap();
        let state = classify(&bytes, &leaf_key, Some(&org.public()), NOW);
        assert_eq!(
            state,
            TrustState::VerifiedUser {
                user_id: "u-42".into(),
                display_name: "Aiko Tanaka".into()
            }
        );
    }

    #[test]
    fn forged_certificates_are_rejected() {
        let org = OrgSigningKey::generate();
        let attacker = OrgSigningKey::generate();
        let leaf_key = [7u8; 32];

        // Signed by another key that claims to be the org.
        let mut forged = issue(&attacker, &leaf_key);
        forged.org_key = org.public().0.to_vec().into();
        assert_eq!(
            forged.verify(&org.public(), &leaf_key, NOW),
            Err(CredentialError::BadSignature)
        );

        // A genuine certificate with the name changed afterwards.
        let mut renamed = issue(&org, &leaf_key);
        renamed.display_name = b"CEO".to_vec().into();
        assert_eq!(
            renamed.verify(&org.public(), &leaf_key, NOW),
            Err(CredentialError::BadSignature)
        );

        // A genuine certificate of another org.
        assert_eq!(
            issue(&attacker, &leaf_key).verify(&org.public(), &leaf_key, NOW),
            Err(CredentialError::WrongOrganization)
        );

        // A genuine certificate copied into another leaf.
        assert_eq!(
            issue(&org, &leaf_key).verify(&org.public(), &[8u8; 32], NOW),
            Err(CredentialError::KeyMismatch)
        );
    }

    #[test]
    fn expired_and_future_certificates_are_rejected() {
        let org = OrgSigningKey::generate();
        let leaf_key = [7u8; 32];
        let certificate = issue(&org, &leaf_key);
        assert_eq!(
            certificate.verify(&org.public(), &leaf_key, NOW + 3601),
            Err(CredentialError::Expired {
                not_after: NOW + 3600
            })
        );
        assert_eq!(
            certificate.verify(&org.public(), &leaf_key, NOW - 61),
            Err(CredentialError::NotYetValid {
                not_before: NOW - 60
            })
        );
        let state = classify(
            &CredentialPayload::user(certificate).to_bytes().unwrap(),
            &leaf_key,
            Some(&org.public()),
            NOW + 7200,
        );
        assert!(matches!(
            state,
            TrustState::Invalid {
                reason: CredentialError::Expired { .. },
                ..
            }
        ));
    }

    #[test]
    fn guests_are_unverified_and_garbage_is_invalid() {
        let bytes = CredentialPayload::guest("Visitor")
            .unwrap()
            .to_bytes()
            .unwrap();
        let state = classify(&bytes, &[1u8; 32], None, NOW);
        assert_eq!(
            state,
            TrustState::UnverifiedGuest {
                display_name: "Visitor".into()
            }
        );
        assert!(!state.is_verified());

        for garbage in [&b""[..], b"\x01", b"\xff\xff\xff\xff", b"Alice"] {
            assert!(matches!(
                classify(garbage, &[1u8; 32], None, NOW),
                TrustState::Invalid { .. }
            ));
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(CredentialPayload::from_bytes(&trailing).is_err());
    }

    #[test]
    fn certificates_round_trip_and_need_an_org_key() {
        let org = OrgSigningKey::generate();
        let leaf_key = [9u8; 32];
        let certificate = issue(&org, &leaf_key);
        let decoded = MemberCertificate::from_bytes(&certificate.to_bytes().unwrap()).unwrap();
        assert_eq!(decoded, certificate);
        let bytes = CredentialPayload::user(certificate).to_bytes().unwrap();
        assert!(matches!(
            classify(&bytes, &leaf_key, None, NOW),
            TrustState::Invalid {
                reason: CredentialError::NoOrganizationKey,
                ..
            }
        ));
    }

    #[test]
    fn org_key_pinning_refuses_other_keys() {
        let org = OrgSigningKey::generate();
        let other = OrgSigningKey::generate();
        let pin = OrgKeyPin::pinned(&org.public().fingerprint().to_lowercase());
        assert!(pin.check(&org.public()).is_ok());
        assert_eq!(
            pin.check(&other.public()),
            Err(CredentialError::WrongOrganization)
        );
        assert!(OrgKeyPin::unpinned().check(&other.public()).is_ok());
        let restored = OrgSigningKey::from_secret_bytes(&org.secret_bytes());
        assert_eq!(restored.public(), org.public());
        assert!(OrgPublicKey::from_bytes(&[0u8; 5]).is_err());
    }

    #[test]
    fn overlong_names_are_refused() {
        let org = OrgSigningKey::generate();
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(CredentialPayload::guest(&long).is_err());
        assert!(org.certify("u", &long, &[1u8; 32], 0, 1).is_err());
    }
}
