//! The organization identity key: the Ed25519 key that certifies signed-in members' MLS
//! signature keys (see `conclave_protocol::identity`).
//!
//! It lives in the data directory as [`ORG_KEY_FILE`] (32 raw secret bytes, mode 0600), apart
//! from the TLS key, so rotating one never touches the other. Losing it means every client that
//! pinned its fingerprint must be re-pinned, so it is created once and never overwritten: a
//! file of the wrong size is an error for the administrator to resolve, not a reason to make a
//! new key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conclave_protocol::identity::{CredentialError, MemberCertificate, OrgSigningKey};

use crate::private_files::{create_private_dir, ensure_private, write_new_file};
use crate::store::UserRecord;

/// File name of the organization key inside the data directory.
pub const ORG_KEY_FILE: &str = "org-identity.key";
/// How far back a certificate's validity starts, to absorb clock skew between machines.
pub const CERTIFICATE_BACKDATE: Duration = Duration::from_secs(300);

/// Why the organization key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum OrgKeyError {
    /// The key file or data directory could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key file exists but is not 32 bytes long.
    #[error(
        "{path} holds {len} bytes, not a 32-byte organization key; restore it from a backup \
         (deleting it creates a new key that clients pinned to the old one will refuse)"
    )]
    Corrupt { path: PathBuf, len: usize },
    /// Certificates are not issued to disabled accounts.
    #[error("the account {0} is disabled")]
    UserDisabled(String),
    /// The certificate could not be made (e.g. a field too long).
    #[error("cannot issue a certificate: {0}")]
    Credential(#[from] CredentialError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OrgKeyError + '_ {
    move |source| OrgKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Loads the organization key from `data_dir`, creating (and persisting) a new one on first
/// run. The data directory is created if missing.
pub fn load_or_create_org_key(data_dir: impl AsRef<Path>) -> Result<OrgSigningKey, OrgKeyError> {
    let data_dir = data_dir.as_ref();
    create_private_dir(data_dir).map_err(io_error(data_dir))?;
    let path = data_dir.join(ORG_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => return key_from_file(&path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&path)(e)),
    }
    let key = OrgSigningKey::generate();
    match write_new_file(&path, &key.secret_bytes(), 0o600) {
        Ok(()) => {
            tracing::info!(
                path = %path.display(),
                fingerprint = %key.public().fingerprint(),
                "created the organization identity key"
            );
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            key_from_file(&path, &bytes)
        }
        Err(e) => Err(io_error(&path)(e)),
    }
}

fn key_from_file(path: &Path, bytes: &[u8]) -> Result<OrgSigningKey, OrgKeyError> {
    let secret: &[u8; 32] = bytes.try_into().map_err(|_| OrgKeyError::Corrupt {
        path: path.to_owned(),
        len: bytes.len(),
    })?;
    ensure_private(path).map_err(io_error(path))?;
    let key = OrgSigningKey::from_secret_bytes(secret);
    tracing::info!(
        path = %path.display(),
        fingerprint = %key.public().fingerprint(),
        "loaded the organization identity key"
    );
    Ok(key)
}

/// Certifies `device_signature_key` (one device's MLS signature key) for `user`, valid from
/// [`CERTIFICATE_BACKDATE`] before `now` until `now + validity` (Unix seconds).
pub fn issue_member_certificate(
    org: &OrgSigningKey,
    user: &UserRecord,
    device_signature_key: &[u8],
    now: u64,
    validity: Duration,
) -> Result<MemberCertificate, OrgKeyError> {
    if user.disabled {
        return Err(OrgKeyError::UserDisabled(user.username.clone()));
    }
    let not_before = now.saturating_sub(CERTIFICATE_BACKDATE.as_secs());
    let not_after = now.saturating_add(validity.as_secs());
    let certificate = org.certify(
        &user.id,
        &user.display_name,
        device_signature_key,
        not_before,
        not_after,
    )?;
    tracing::debug!(user_id = %user.id, not_after, "issued a member certificate");
    Ok(certificate)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn user(disabled: bool) -> UserRecord {
        UserRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            username: "alice".into(),
            display_name: "Alice Liddell".into(),
            disabled,
            created_at: 0,
        }
    }

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load_or_create_org_key(&data).unwrap();
        let stored = std::fs::read(data.join(ORG_KEY_FILE)).unwrap();
        assert_eq!(stored, first.secret_bytes());
        let second = load_or_create_org_key(&data).unwrap();
        assert_eq!(first.public(), second.public());
        assert_eq!(first.secret_bytes(), second.secret_bytes());
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [ORG_KEY_FILE]);
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        load_or_create_org_key(dir.path()).unwrap();
        let path = dir.path().join(ORG_KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create_org_key(dir.path()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "loose permissions are tightened");
    }

    #[test]
    fn corrupt_key_file_is_an_error_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ORG_KEY_FILE);
        std::fs::write(&path, b"short").unwrap();
        let err = load_or_create_org_key(dir.path()).unwrap_err();
        assert!(
            matches!(err, OrgKeyError::Corrupt { len: 5, .. }),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn issued_certificate_verifies_for_the_device_key() {
        let dir = tempfile::tempdir().unwrap();
        let org = load_or_create_org_key(dir.path()).unwrap();
        let device_key = [9u8; 32];
        let now = 1_700_000_000;
        let validity = Duration::from_secs(3600);
        let cert =
            issue_member_certificate(&org, &user(false), &device_key, now, validity).unwrap();
        assert_eq!(cert.user_id(), "0123456789abcdef0123456789abcdef");
        assert_eq!(cert.display_name(), "Alice Liddell");
        assert_eq!(cert.not_after, now + 3600);
        assert!(!cert.to_bytes().unwrap().is_empty());
        let public = org.public();
        cert.verify(&public, &device_key, now).unwrap();
        cert.verify(&public, &device_key, now - 60).unwrap();
        assert!(cert.verify(&public, &[8u8; 32], now).is_err());
        assert!(cert.verify(&public, &device_key, now + 3601).is_err());

        let err =
            issue_member_certificate(&org, &user(true), &device_key, now, validity).unwrap_err();
        assert!(matches!(err, OrgKeyError::UserDisabled(_)));
    }
}
