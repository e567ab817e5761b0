//! Where a signed-in identity lives between runs: the OS keychain when there is one, else a
//! file the user names (created with owner-only permissions). It holds the bearer token, this
//! device's MLS signature key and the organization's certificate for it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conclave_core::group::{
    GroupMember, SignatureKeyPair, signature_keys_from_bytes, signature_keys_to_bytes,
};
use conclave_core::identity::{CredentialPayload, MemberCertificate, OrgPublicKey};
use serde::{Deserialize, Serialize};

const KEYRING_SERVICE: &str = "conclave";

/// A signed-in identity for one server.
#[derive(Serialize, Deserialize)]
pub struct StoredIdentity {
    pub server: String,
    pub user_id: String,
    pub display_name: String,
    pub token: String,
    signature_keys: String,
    certificate: String,
    org_key: String,
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
    pub fn new(
        server: &str,
        sign_in: &conclave_core::client::account::SignIn,
        signature_keys: &SignatureKeyPair,
    ) -> Result<Self> {
        Ok(Self {
            server: server.to_string(),
            user_id: sign_in.user_id.clone(),
            display_name: sign_in.display_name.clone(),
            token: sign_in.token.clone(),
            signature_keys: STANDARD.encode(signature_keys_to_bytes(signature_keys)?),
            certificate: STANDARD.encode(sign_in.certificate.to_bytes()?),
            org_key: STANDARD.encode(sign_in.org_key.0),
            meeting_passwords: std::collections::BTreeMap::new(),
        })
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
        Ok(OrgPublicKey::from_bytes(&STANDARD.decode(&self.org_key)?)?)
    }

    /// An MLS member carrying the certified credential.
    pub fn member(&self) -> Result<GroupMember> {
        let signer = signature_keys_from_bytes(&STANDARD.decode(&self.signature_keys)?)?;
        let certificate = MemberCertificate::from_bytes(&STANDARD.decode(&self.certificate)?)?;
        Ok(GroupMember::new(
            signer,
            &CredentialPayload::user(certificate),
        )?)
    }

    /// Saves into the vault.
    pub fn save(&self, vault: &Vault) -> Result<()> {
        let json = serde_json::to_string(self)?;
        match vault {
            Vault::Keychain { account } => keyring::Entry::new(KEYRING_SERVICE, account)
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
            Vault::Keychain { account } => keyring::Entry::new(KEYRING_SERVICE, account)
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
            Vault::Keychain { account } => keyring::Entry::new(KEYRING_SERVICE, account)
                .and_then(|entry| entry.delete_credential())
                .map_err(|e| anyhow!("could not remove the keychain entry: {e}")),
            Vault::File(path) => std::fs::remove_file(path)
                .with_context(|| format!("could not remove {}", path.display())),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
