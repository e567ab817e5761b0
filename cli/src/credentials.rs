//! Where a signed-in identity lives between runs: the OS keychain when there is one, else a
//! file the user names (created with owner-only permissions). It holds the bearer token, the
//! refresh token that renews it, this device's MLS signature key and the organization's
//! certificate for it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use conclave_core::client::account::{AccountError, SignIn, refresh, unix_now};
use conclave_core::client::{KeptSignIn, SignedInIdentity, TlsTrust};
use conclave_e2ee::group::{GroupMember, SignatureKeyPair, signature_keys_to_bytes};
use conclave_protocol::identity::OrgPublicKey;
use serde::{Deserialize, Serialize};

const KEYRING_SERVICE: &str = "conclave";

/// The CLI keeps its sign-ins in the kernel keyring on Linux (gone at logout; scripts and
/// servers have no Secret Service), whatever store the keyring crate would default to when
/// the app's features are built in the same workspace.
fn keychain_entry(account: &str) -> keyring::Result<keyring::Entry> {
    #[cfg(target_os = "linux")]
    {
        static CHOSEN: std::sync::Once = std::sync::Once::new();
        CHOSEN.call_once(|| {
            keyring::set_default_credential_builder(
                keyring::keyutils::default_credential_builder(),
            );
        });
    }
    keyring::Entry::new(KEYRING_SERVICE, account)
}

/// A signed-in identity for one server: core's record plus what the CLI keeps beside it.
#[derive(Serialize, Deserialize)]
pub struct StoredIdentity {
    #[serde(flatten)]
    pub sign_in: KeptSignIn,
    pub user_id: String,
    /// Clear passwords of meetings this user scheduled, by meeting number: the server keeps
    /// only hashes, and the password message is rendered from here.
    #[serde(default)]
    meeting_passwords: std::collections::BTreeMap<String, String>,
}

/// Where to keep it.
#[derive(Debug, Clone)]
pub enum Vault {
    Keychain { account: String },
    File(PathBuf),
}

impl Vault {
    /// The keychain entry for `username@server`, or the named file.
    pub fn new(file: Option<PathBuf>, username: &str, server: &str) -> Self {
        match file {
            Some(path) => Vault::File(path),
            None => Vault::Keychain {
                account: format!("{username}@{server}"),
            },
        }
    }
}

impl StoredIdentity {
    /// Bundles what sign-in produced.
    pub fn new(server: &str, sign_in: &SignIn, signature_keys: &SignatureKeyPair) -> Result<Self> {
        let identity =
            SignedInIdentity::from_sign_in(sign_in, signature_keys_to_bytes(signature_keys)?);
        Ok(Self {
            sign_in: KeptSignIn::new(server, &sign_in.display_name, &identity)?,
            user_id: sign_in.user_id.clone(),
            meeting_passwords: std::collections::BTreeMap::new(),
        })
    }

    /// The refresh token, if this sign-in has one.
    pub fn refresh_token(&self) -> Option<&str> {
        self.sign_in.refresh_token()
    }

    /// The bearer token, as kept (see [`Self::fresh`] before using it).
    pub fn token(&self) -> &str {
        self.sign_in.token()
    }

    /// The identity this record keeps.
    pub fn identity(&self) -> Result<SignedInIdentity> {
        Ok(self.sign_in.identity()?)
    }

    /// This sign-in with an access token that is good for a while: when it has expired or is
    /// about to, the refresh token buys a new one (and a new refresh token and certificate),
    /// saved into `vault` at once since the old refresh token is spent.
    pub async fn fresh(mut self, vault: &Vault, trust: &TlsTrust) -> Result<Self> {
        if !self.sign_in.needs_refresh(unix_now()) {
            return Ok(self);
        }
        let Some(refresh_token) = self.sign_in.refresh_token() else {
            bail!("your sign-in has expired; run `conclave-cli signin` again");
        };
        let refreshed = match refresh(&self.sign_in.server, trust, refresh_token).await {
            Ok(refreshed) => refreshed,
            Err(AccountError::SignInAgain) => {
                bail!("your sign-in has expired or was revoked; run `conclave-cli signin` again")
            }
            Err(e) => return Err(e).context("could not renew the sign-in"),
        };
        self.sign_in.renew(refreshed)?;
        self.save(vault)
            .context("the sign-in was renewed but could not be saved; sign in again")?;
        Ok(self)
    }

    /// Keeps a meeting's password (save afterwards).
    pub fn set_meeting_password(&mut self, number: &str, password: &str) {
        self.meeting_passwords
            .insert(number.to_owned(), password.to_owned());
    }

    /// A kept meeting password.
    pub fn meeting_password(&self, number: &str) -> Option<&str> {
        self.meeting_passwords.get(number).map(String::as_str)
    }

    /// The organization key learnt at sign-in.
    pub fn org_key(&self) -> Result<OrgPublicKey> {
        Ok(self.identity()?.org)
    }

    /// An MLS member carrying the certified credential.
    pub fn member(&self) -> Result<GroupMember> {
        Ok(self.identity()?.member()?)
    }

    /// Saves into the vault.
    pub fn save(&self, vault: &Vault) -> Result<()> {
        let json = serde_json::to_string(self)?;
        match vault {
            Vault::Keychain { account } => keychain_entry(account)
                .and_then(|entry| entry.set_password(&json))
                .map_err(|e| {
                    anyhow!("the OS keychain is not available ({e}); pass --credentials-file")
                }),
            Vault::File(path) => write_private(path, json.as_bytes()),
        }
    }

    /// Loads from the vault.
    pub fn load(vault: &Vault) -> Result<Self> {
        let json = match vault {
            Vault::Keychain { account } => keychain_entry(account)
                .and_then(|entry| entry.get_password())
                .map_err(|e| {
                    anyhow!("not signed in as {account} ({e}); run `conclave-cli signin`")
                })?,
            Vault::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("not signed in: cannot read {}", path.display()))?,
        };
        serde_json::from_str(&json).context("the stored sign-in is damaged; sign in again")
    }

    /// Removes the stored identity (sign-out).
    pub fn delete(vault: &Vault) -> Result<()> {
        match vault {
            Vault::Keychain { account } => keychain_entry(account)
                .and_then(|entry| entry.delete_credential())
                .map_err(|e| anyhow!("could not remove the keychain entry: {e}")),
            Vault::File(path) => std::fs::remove_file(path)
                .with_context(|| format!("could not remove {}", path.display())),
        }
    }
}

/// Writes the credentials file owner-only (0600), whatever permissions an existing file had,
/// and never through a symbolic link (someone could point it at a file they can read).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    // Not truncated on open: the permissions are fixed before anything is written.
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot write {} (it must be a regular file, not a symbolic link)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    file.set_len(0)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod compat_tests {
    use super::*;

    /// A sign-in stored before refresh tokens still loads; with no expiry known it is used
    /// as is (the server decides), and once the server refuses it the user signs in again.
    #[test]
    fn sign_ins_stored_without_a_refresh_token_still_load() {
        let json = r#"{"server":"s:1","user_id":"u","display_name":"U","token":"t",
            "signature_keys":"","certificate":"","org_key":""}"#;
        let stored: StoredIdentity = serde_json::from_str(json).unwrap();
        assert_eq!((stored.token(), stored.user_id.as_str()), ("t", "u"));
        let again = serde_json::to_value(&stored).unwrap();
        assert_eq!(
            (&again["server"], &again["user_id"]),
            (&"s:1".into(), &"u".into())
        );
    }

    #[tokio::test]
    async fn an_expired_sign_in_without_a_refresh_token_asks_to_sign_in_again() {
        let json = r#"{"server":"127.0.0.1:1","user_id":"u","display_name":"U","token":"t",
            "expires_at":1,"signature_keys":"","certificate":"","org_key":""}"#;
        let stored: StoredIdentity = serde_json::from_str(json).unwrap();
        let vault = Vault::File(std::path::PathBuf::from("/nonexistent/never-written"));
        let error = stored
            .fresh(&vault, &TlsTrust::PublicRoots)
            .await
            .err()
            .unwrap();
        assert!(error.to_string().contains("signin"), "{error}");
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// Before the fix an existing 0644 file kept its permissions and a symbolic link was
    /// followed.
    #[test]
    fn the_credentials_file_is_always_private_and_never_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("me.credentials");
        std::fs::write(&path, "an older, longer content").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"{}").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");

        let target = dir.path().join("somewhere-else");
        std::fs::write(&target, "untouched").unwrap();
        let link = dir.path().join("link.credentials");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_private(&link, b"secret").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    }
}
