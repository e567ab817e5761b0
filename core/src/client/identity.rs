//! A signed-in identity on this device, in memory ([`SignedInIdentity`]) and as kept between
//! runs ([`KeptSignIn`]). Both the app (OS keychain) and the CLI (keychain or a private file)
//! keep the same record, so a sign-in is encoded, decoded and renewed in one place; where it is
//! kept is the caller's business (core links no keychain).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conclave_e2ee::group::{GroupError, GroupMember, signature_keys_from_bytes};
use conclave_protocol::identity::{CredentialPayload, MemberCertificate, OrgPublicKey};
use serde::{Deserialize, Serialize};

use super::account::{Refreshed, SignIn, needs_refresh};

/// A kept sign-in that cannot be decoded; the user signs in again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the kept sign-in is damaged ({0}); sign in again")]
pub struct DamagedSignIn(String);

/// A signed-in user's identity: bearer token and certified MLS credential.
#[derive(Clone)]
pub struct SignedInIdentity {
    /// Bearer token for the WebSocket upgrade and HTTPS calls (never logged: `Debug` redacts
    /// it).
    pub token: String,
    /// Unix seconds after which `token` is refused; 0 when unknown (older kept sign-ins).
    pub expires_at: i64,
    /// Single-use token that renews `token` (secret: `Debug` redacts it); `None` for sign-ins
    /// kept before refresh tokens, which sign in again when their token expires.
    pub refresh_token: Option<String>,
    /// The device's MLS signature key pair, serialized (secret: `Debug` redacts it).
    pub signature_keys: Vec<u8>,
    /// The organization's certificate for this user's signature key.
    pub certificate: MemberCertificate,
    /// The organization key that certifies signed-in members, to verify the others.
    pub org: OrgPublicKey,
}

impl SignedInIdentity {
    /// What sign-in returned, with the device's serialized signature key pair it certified.
    pub fn from_sign_in(sign_in: &SignIn, signature_keys: Vec<u8>) -> Self {
        Self {
            token: sign_in.token.clone(),
            expires_at: sign_in.expires_at,
            refresh_token: sign_in.refresh_token.clone(),
            signature_keys,
            certificate: sign_in.certificate.clone(),
            org: sign_in.org_key,
        }
    }

    /// Whether the access token should be renewed before it is used at `now` (Unix seconds).
    pub fn needs_refresh(&self, now: i64) -> bool {
        needs_refresh(self.expires_at, now)
    }

    /// Takes the tokens and certificate a refresh returned (the old refresh token is spent).
    pub fn renew(&mut self, refreshed: Refreshed) {
        self.token = refreshed.token;
        self.expires_at = refreshed.expires_at;
        self.refresh_token = Some(refreshed.refresh_token);
        self.certificate = refreshed.certificate;
    }

    /// The MLS member carrying the certified credential.
    pub fn member(&self) -> Result<GroupMember, GroupError> {
        let signer = signature_keys_from_bytes(&self.signature_keys)?;
        GroupMember::new(signer, &CredentialPayload::user(self.certificate.clone()))
    }
}

impl std::fmt::Debug for SignedInIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedInIdentity")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A sign-in as kept between runs (JSON, base64 for keys and certificate). Callers embed it
/// with `#[serde(flatten)]` beside what they keep of their own, so records kept by earlier
/// versions still load.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeptSignIn {
    /// `host:port` of the server that issued it.
    pub server: String,
    pub display_name: String,
    token: String,
    /// Unix seconds; 0 in sign-ins kept before refresh tokens.
    #[serde(default)]
    expires_at: i64,
    /// Absent in sign-ins kept before refresh tokens.
    #[serde(default)]
    refresh_token: Option<String>,
    signature_keys: String,
    certificate: String,
    org_key: String,
}

impl std::fmt::Debug for KeptSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptSignIn")
            .field("server", &self.server)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

impl KeptSignIn {
    /// The record to keep for `identity`.
    pub fn new(
        server: &str,
        display_name: &str,
        identity: &SignedInIdentity,
    ) -> Result<Self, DamagedSignIn> {
        let certificate = identity
            .certificate
            .to_bytes()
            .map_err(|e| DamagedSignIn(e.to_string()))?;
        Ok(Self {
            server: server.to_owned(),
            display_name: display_name.to_owned(),
            token: identity.token.clone(),
            expires_at: identity.expires_at,
            refresh_token: identity.refresh_token.clone(),
            signature_keys: STANDARD.encode(&identity.signature_keys),
            certificate: STANDARD.encode(certificate),
            org_key: STANDARD.encode(identity.org.0),
        })
    }

    /// The bearer token, without decoding the rest.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The refresh token, if this sign-in has one.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// Whether the access token should be renewed before it is used at `now` (Unix seconds).
    pub fn needs_refresh(&self, now: i64) -> bool {
        needs_refresh(self.expires_at, now)
    }

    /// Takes the tokens and certificate a refresh returned (the old refresh token is spent).
    pub fn renew(&mut self, refreshed: Refreshed) -> Result<(), DamagedSignIn> {
        let certificate = refreshed
            .certificate
            .to_bytes()
            .map_err(|e| DamagedSignIn(e.to_string()))?;
        self.token = refreshed.token;
        self.expires_at = refreshed.expires_at;
        self.refresh_token = Some(refreshed.refresh_token);
        self.certificate = STANDARD.encode(certificate);
        Ok(())
    }

    /// The identity this record keeps.
    pub fn identity(&self) -> Result<SignedInIdentity, DamagedSignIn> {
        let damaged = |what: &str, e: &dyn std::fmt::Display| DamagedSignIn(format!("{what}: {e}"));
        let certificate = STANDARD
            .decode(&self.certificate)
            .map_err(|e| damaged("certificate", &e))
            .and_then(|bytes| {
                MemberCertificate::from_bytes(&bytes).map_err(|e| damaged("certificate", &e))
            })?;
        let org = STANDARD
            .decode(&self.org_key)
            .map_err(|e| damaged("organization key", &e))
            .and_then(|bytes| {
                OrgPublicKey::from_bytes(&bytes).map_err(|e| damaged("organization key", &e))
            })?;
        let signature_keys = STANDARD
            .decode(&self.signature_keys)
            .map_err(|e| damaged("device key", &e))?;
        Ok(SignedInIdentity {
            token: self.token.clone(),
            expires_at: self.expires_at,
            refresh_token: self.refresh_token.clone(),
            signature_keys,
            certificate,
            org,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kept(json_tail: &str) -> KeptSignIn {
        let json = format!(
            r#"{{"server":"s:1","display_name":"Hana","token":"very-secret-token",
            "signature_keys":"c2VjcmV0LWtleQ==","certificate":"","org_key":""{json_tail}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let record = kept(r#","refresh_token":"very-secret-refresh""#);
        let shown = format!("{record:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("c2VjcmV0LWtleQ"), "{shown}");
    }

    /// Records kept before refresh tokens still load; with no expiry known the
    /// token is used as is and the server decides.
    #[test]
    fn records_kept_by_earlier_versions_still_load() {
        let record = kept("");
        assert_eq!(record.token(), "very-secret-token");
        assert_eq!(
            (record.expires_at, record.refresh_token.as_deref()),
            (0, None)
        );
        assert!(!needs_refresh(record.expires_at, 1_000_000));
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_what_is_damaged() {
        let mut record = kept("");
        record.certificate = "not base64 !".into();
        let error = record.identity().err().unwrap();
        assert!(error.to_string().contains("certificate"), "{error}");
    }
}
