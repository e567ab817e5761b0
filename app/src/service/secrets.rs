//! Secrets on this device — the sign-in token, the MLS signature key with its certificate, the
//! embedded server's host password and the clear passwords of meetings the user scheduled —
//! live only in the OS keychain (`keyring`: Keychain on macOS, Credential Manager on Windows,
//! the kernel keyutils store on Linux). When there is no keychain the caller gets
//! [`SecretsError::Unavailable`] and shows it; nothing falls back to a plain file.
//!
//! Keychain calls can block (a D-Bus or security-daemon round trip), so the UI runs the async
//! wrappers, which move them to a blocking thread.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conclave_core::client::TlsTrust;
use conclave_protocol::identity::{MemberCertificate, OrgPublicKey};
use serde::{Deserialize, Serialize};

use super::join::SignedInIdentity;

const SERVICE: &str = "conclave-app";
const IDENTITY_ACCOUNT: &str = "signed-in-identity";

/// Why a secret could not be kept or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    #[error("no keychain is available on this computer: {0}")]
    Unavailable(String),
    #[error("the keychain entry is damaged: {0}")]
    Damaged(String),
}

fn entry(account: &str) -> Result<keyring::Entry, SecretsError> {
    keyring::Entry::new(SERVICE, account).map_err(|e| SecretsError::Unavailable(e.to_string()))
}

fn unavailable(error: keyring::Error) -> SecretsError {
    SecretsError::Unavailable(error.to_string())
}

/// Stores `secret` under `account`.
pub fn set(account: &str, secret: &str) -> Result<(), SecretsError> {
    entry(account)?.set_password(secret).map_err(unavailable)
}

/// The secret under `account`, or `None` if there is none.
pub fn get(account: &str) -> Result<Option<String>, SecretsError> {
    match entry(account)?.get_password() {
        Ok(secret) => Ok(Some(secret)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

/// Removes the secret under `account` (no error if there was none).
pub fn delete(account: &str) -> Result<(), SecretsError> {
    match entry(account)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(unavailable(e)),
    }
}

/// Runs a keychain call on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, SecretsError> + Send + 'static,
) -> Result<T, SecretsError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| SecretsError::Unavailable(e.to_string()))?
}

/// The keychain account of the embedded server's host password.
pub fn host_password_account(username: &str) -> String {
    format!("local-host/{username}")
}

/// The keychain account of a scheduled meeting's clear password.
pub fn meeting_password_account(server: &str, number: &str) -> String {
    format!("meeting-password/{server}/{number}")
}

/// A signed-in identity as kept in the keychain (one at a time: sign-out removes it).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredIdentity {
    pub server: String,
    /// Certificate pin of the server; `None` means the public web roots.
    pub pin: Option<String>,
    pub username: String,
    pub display_name: String,
    pub token: String,
    /// Unix seconds; 0 in sign-ins kept before refresh tokens.
    #[serde(default)]
    pub expires_at: i64,
    /// Absent in sign-ins kept before refresh tokens.
    #[serde(default)]
    pub refresh_token: Option<String>,
    signature_keys: String,
    certificate: String,
    org_key: String,
}

impl std::fmt::Debug for StoredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIdentity")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl StoredIdentity {
    pub fn new(
        server: &str,
        trust: &TlsTrust,
        username: &str,
        display_name: &str,
        identity: &SignedInIdentity,
    ) -> Result<Self, SecretsError> {
        let certificate = identity
            .certificate
            .to_bytes()
            .map_err(|e| SecretsError::Damaged(e.to_string()))?;
        Ok(Self {
            server: server.to_owned(),
            pin: match trust {
                TlsTrust::PublicRoots => None,
                TlsTrust::PinnedSha256(pin) => Some(pin.clone()),
            },
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            token: identity.token.clone(),
            expires_at: identity.expires_at,
            refresh_token: identity.refresh_token.clone(),
            signature_keys: STANDARD.encode(&identity.signature_keys),
            certificate: STANDARD.encode(certificate),
            org_key: STANDARD.encode(identity.org.0),
        })
    }

    pub fn trust(&self) -> TlsTrust {
        match &self.pin {
            Some(pin) => TlsTrust::PinnedSha256(pin.clone()),
            None => TlsTrust::PublicRoots,
        }
    }

    /// The identity a join carries.
    pub fn identity(&self) -> Result<SignedInIdentity, SecretsError> {
        let damaged = |e: &dyn std::fmt::Display| SecretsError::Damaged(e.to_string());
        let certificate = STANDARD
            .decode(&self.certificate)
            .map_err(|e| damaged(&e))
            .and_then(|bytes| MemberCertificate::from_bytes(&bytes).map_err(|e| damaged(&e)))?;
        let org = STANDARD
            .decode(&self.org_key)
            .map_err(|e| damaged(&e))
            .and_then(|bytes| OrgPublicKey::from_bytes(&bytes).map_err(|e| damaged(&e)))?;
        Ok(SignedInIdentity {
            token: self.token.clone(),
            expires_at: self.expires_at,
            refresh_token: self.refresh_token.clone(),
            signature_keys: STANDARD
                .decode(&self.signature_keys)
                .map_err(|e| damaged(&e))?,
            certificate,
            org,
        })
    }

    pub fn save(&self) -> Result<(), SecretsError> {
        let json = serde_json::to_string(self).map_err(|e| SecretsError::Damaged(e.to_string()))?;
        set(IDENTITY_ACCOUNT, &json)
    }

    pub fn load() -> Result<Option<Self>, SecretsError> {
        match get(IDENTITY_ACCOUNT)? {
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| SecretsError::Damaged(e.to_string())),
            None => Ok(None),
        }
    }

    /// Sign-out: forgets the token and the device key.
    pub fn delete() -> Result<(), SecretsError> {
        delete(IDENTITY_ACCOUNT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let stored = StoredIdentity {
            server: "127.0.0.1:8443".into(),
            pin: None,
            username: "hana".into(),
            display_name: "Hana".into(),
            token: "very-secret-token".into(),
            expires_at: 0,
            refresh_token: Some("very-secret-refresh".into()),
            signature_keys: "c2VjcmV0LWtleQ==".into(),
            certificate: String::new(),
            org_key: String::new(),
        };
        let shown = format!("{stored:?}");
        assert!(!shown.contains("very-secret-token"));
        assert!(!shown.contains("very-secret-refresh"));
        assert!(!shown.contains("c2VjcmV0LWtleQ"));
    }

    #[test]
    fn a_damaged_identity_is_an_error() {
        let stored = StoredIdentity {
            server: "127.0.0.1:8443".into(),
            pin: None,
            username: "hana".into(),
            display_name: "Hana".into(),
            token: "t".into(),
            expires_at: 0,
            refresh_token: None,
            signature_keys: "not base64 !".into(),
            certificate: "also not".into(),
            org_key: String::new(),
        };
        assert!(matches!(stored.identity(), Err(SecretsError::Damaged(_))));
    }

    /// A sign-in kept before refresh tokens still loads (and signs in again when its token
    /// expires).
    #[test]
    fn identities_kept_without_a_refresh_token_still_load() {
        let json = r#"{"server":"s:1","pin":null,"username":"hana","display_name":"Hana",
            "token":"t","signature_keys":"","certificate":"","org_key":""}"#;
        let stored: StoredIdentity = serde_json::from_str(json).expect("old format");
        assert_eq!(stored.expires_at, 0);
        assert_eq!(stored.refresh_token, None);
    }

    #[test]
    fn keychain_round_trip_with_the_mock_store() {
        // keyring's mock keeps a secret per entry object, so one entry is used throughout.
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let entry = keyring::Entry::new(SERVICE, "test").expect("entry");
        entry.set_password("s3cret").expect("set");
        assert_eq!(entry.get_password().expect("get"), "s3cret");
        entry.delete_credential().expect("delete");
        assert!(matches!(entry.get_password(), Err(keyring::Error::NoEntry)));
    }
}
