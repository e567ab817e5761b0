//! Secrets on this device — the sign-in token, the MLS signature key with its certificate, the
//! embedded server's host password and the clear passwords of meetings the user scheduled —
//! live only in the OS keychain (`keyring`: Keychain on macOS, Credential Manager on Windows;
//! on Linux the desktop's Secret Service — GNOME Keyring, KWallet, KeePassXC — when one
//! answers, which keeps the sign-in across logins and reboots, else the kernel keyring, which
//! forgets it at logout: [`choose_store`]). When there is no keychain the caller gets
//! [`SecretsError::Unavailable`] and shows it; nothing falls back to a plain file.
//!
//! Keychain calls can block (a D-Bus or security-daemon round trip), so the UI runs the async
//! wrappers, which move them to a blocking thread.

use conclave_core::client::{KeptSignIn, TlsTrust};
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

/// Which store keeps this computer's secrets (Settings says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStore {
    /// The desktop's Secret Service (GNOME Keyring, KWallet, KeePassXC): kept across logins.
    SecretService,
    /// The Linux kernel keyring: kept until the user logs out.
    KernelKeyring,
    /// The system keychain (macOS Keychain, Windows Credential Manager).
    SystemKeychain,
}

static STORE: std::sync::OnceLock<SecretStore> = std::sync::OnceLock::new();

/// Picks the store once, before the first secret is touched: on Linux the Secret Service if
/// one answers on the session bus, else the kernel keyring. A D-Bus round trip at most.
pub fn choose_store() -> SecretStore {
    *STORE.get_or_init(|| {
        let store = pick_store();
        tracing::info!(?store, "secrets are kept in this store");
        store
    })
}

/// The store chosen so far (`None` before the first secret was touched).
pub fn chosen_store() -> Option<SecretStore> {
    STORE.get().copied()
}

#[cfg(target_os = "linux")]
fn pick_store() -> SecretStore {
    if secret_service_answers() {
        keyring::set_default_credential_builder(
            keyring::secret_service::default_credential_builder(),
        );
        SecretStore::SecretService
    } else {
        keyring::set_default_credential_builder(keyring::keyutils::default_credential_builder());
        SecretStore::KernelKeyring
    }
}

#[cfg(not(target_os = "linux"))]
fn pick_store() -> SecretStore {
    SecretStore::SystemKeychain
}

/// Whether a Secret Service answers: a lookup of an entry that need not exist comes back
/// with a value or "no entry" (no session bus, or no service on it, is an error).
#[cfg(target_os = "linux")]
fn secret_service_answers() -> bool {
    use keyring::credential::CredentialApi as _;
    match keyring::secret_service::SsCredential::new_with_target(None, SERVICE, "store-probe") {
        Ok(credential) => matches!(
            credential.get_password(),
            Ok(_) | Err(keyring::Error::NoEntry)
        ),
        Err(_) => false,
    }
}

/// Tests: secrets go to keyring's in-memory mock, and no real store is chosen afterwards.
#[cfg(test)]
pub fn use_mock_store() {
    keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
    let _ = STORE.set(SecretStore::SystemKeychain);
}

fn entry(account: &str) -> Result<keyring::Entry, SecretsError> {
    choose_store();
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

/// A signed-in identity as kept in the keychain (one at a time: sign-out removes it): core's
/// record plus how to trust the server and the name the user signed in with.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredIdentity {
    #[serde(flatten)]
    pub sign_in: KeptSignIn,
    /// Certificate pin of the server; `None` means the public web roots.
    pub pin: Option<String>,
    pub username: String,
}

impl std::fmt::Debug for StoredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIdentity")
            .field("sign_in", &self.sign_in)
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
        Ok(Self {
            sign_in: KeptSignIn::new(server, display_name, identity)
                .map_err(|e| SecretsError::Damaged(e.to_string()))?,
            pin: match trust {
                TlsTrust::PublicRoots => None,
                TlsTrust::PinnedSha256(pin) => Some(pin.clone()),
            },
            username: username.to_owned(),
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
        self.sign_in
            .identity()
            .map_err(|e| SecretsError::Damaged(e.to_string()))
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

    const KEPT: &str = r#"{"server":"127.0.0.1:8443","pin":null,"username":"hana",
        "display_name":"Hana","token":"very-secret-token","refresh_token":"very-secret-refresh",
        "signature_keys":"c2VjcmV0LWtleQ==","certificate":"","org_key":""}"#;

    #[test]
    fn debug_output_never_shows_the_token() {
        let stored: StoredIdentity = serde_json::from_str(KEPT).expect("parses");
        let shown = format!("{stored:?}");
        assert!(!shown.contains("very-secret-token"));
        assert!(!shown.contains("very-secret-refresh"));
        assert!(!shown.contains("c2VjcmV0LWtleQ"));
        assert!(shown.contains("hana"));
    }

    #[test]
    fn a_damaged_identity_is_an_error() {
        let damaged = KEPT.replace(r#""certificate":"""#, r#""certificate":"also not base64""#);
        let stored: StoredIdentity = serde_json::from_str(&damaged).expect("parses");
        assert!(matches!(stored.identity(), Err(SecretsError::Damaged(_))));
    }

    /// A sign-in kept before refresh tokens (and before the record moved to core) still
    /// loads, and is written back in the same shape.
    #[test]
    fn identities_kept_by_earlier_versions_still_load() {
        let json = r#"{"server":"s:1","pin":null,"username":"hana","display_name":"Hana",
            "token":"t","signature_keys":"","certificate":"","org_key":""}"#;
        let stored: StoredIdentity = serde_json::from_str(json).expect("old format");
        assert_eq!(stored.sign_in.server, "s:1");
        assert_eq!(stored.username, "hana");
        let again: serde_json::Value = serde_json::to_value(&stored).expect("serialises");
        assert_eq!(again["username"], "hana");
        assert_eq!(again["token"], "t");
        assert_eq!(again["refresh_token"], serde_json::Value::Null);
    }

    #[test]
    fn keychain_round_trip_with_the_mock_store() {
        // keyring's mock keeps a secret per entry object, so one entry is used throughout.
        use_mock_store();
        let entry = keyring::Entry::new(SERVICE, "test").expect("entry");
        entry.set_password("s3cret").expect("set");
        assert_eq!(entry.get_password().expect("get"), "s3cret");
        entry.delete_credential().expect("delete");
        assert!(matches!(entry.get_password(), Err(keyring::Error::NoEntry)));
    }
}
