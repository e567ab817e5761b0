//! TLS for the server: a self-signed development certificate made on first run, or a real
//! certificate loaded from PEM files, turned into a `rustls` server configuration.
//!
//! Only TLS 1.2 and 1.3 are offered, with the `ring` provider. The development certificate
//! (ECDSA P-256, made with `rcgen`) is written to the data directory as [`DEV_CERT_FILE`] and
//! [`DEV_KEY_FILE`] (the key with mode 0600) and reused on later runs, so clients that pinned its
//! [`TlsMaterial::fingerprint_sha256`] keep working. To change its names, delete both files.
//! No ALPN protocols are set; the HTTP layer adds them if it needs to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

use crate::private_files::{create_private_dir, ensure_private, write_new_file};

/// File name of the development certificate inside the data directory.
pub const DEV_CERT_FILE: &str = "cert.pem";
/// File name of the development certificate's private key inside the data directory.
pub const DEV_KEY_FILE: &str = "key.pem";
/// Names the development certificate always covers.
pub const DEFAULT_DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why TLS material could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file or directory could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM file could not be parsed.
    #[error("{path} is not valid PEM: {reason}")]
    Pem { path: PathBuf, reason: String },
    /// The certificate file holds no certificate.
    #[error("{0} contains no certificate")]
    NoCertificate(PathBuf),
    /// Only one of the development certificate and its key exists.
    #[error("{present} exists but {missing} does not; delete {present} to make a new dev cert")]
    Incomplete { present: PathBuf, missing: PathBuf },
    /// The development certificate could not be generated (e.g. an invalid hostname).
    #[error("cannot generate the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key (e.g. they do not match).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A ready server certificate: the rustls configuration plus what admins and clients see.
#[derive(Clone)]
pub struct TlsMaterial {
    server_config: Arc<ServerConfig>,
    // Only the tests read the chain back (the server serves it through `server_config`).
    #[cfg(test)]
    certificate_chain: Vec<CertificateDer<'static>>,
    fingerprint: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("fingerprint_sha256", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Builds the material from a certificate chain (leaf first) and its private key.
    pub fn new(
        certificate_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let fingerprint = certificate_chain
            .first()
            .map(|leaf| fingerprint_sha256(leaf))
            .unwrap_or_default();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(certificate_chain.clone(), key)?;
        Ok(Self {
            server_config: Arc::new(server_config),
            #[cfg(test)]
            certificate_chain,
            fingerprint,
        })
    }

    /// The rustls server configuration (TLS 1.2 and 1.3, `ring` provider, no client auth).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server_config)
    }

    /// The certificate chain served, leaf first (DER).
    #[cfg(test)]
    pub fn certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.certificate_chain
    }

    /// SHA-256 of the leaf certificate's DER as colon-separated uppercase hex
    /// (`AB:CD:…`), the form shown to users who pin a self-signed certificate.
    pub fn fingerprint_sha256(&self) -> &str {
        &self.fingerprint
    }
}

/// SHA-256 of a DER certificate as colon-separated uppercase hex.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Loads a real certificate chain and private key from PEM files.
pub fn load_cert(cert_path: &Path, key_path: &Path) -> Result<TlsMaterial, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(io_error(cert_path))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_owned()));
    }
    let key_pem = std::fs::read(key_path).map_err(io_error(key_path))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    let material = TlsMaterial::new(chain, key)?;
    tracing::info!(
        cert = %cert_path.display(),
        fingerprint = %material.fingerprint,
        "loaded TLS certificate"
    );
    Ok(material)
}

/// Loads the development certificate from `data_dir`, or on first run generates a
/// self-signed one for localhost, 127.0.0.1, ::1 and `hostnames` and writes it there.
pub fn load_or_create_dev_cert(
    data_dir: impl AsRef<Path>,
    hostnames: &[String],
) -> Result<TlsMaterial, TlsError> {
    let data_dir = data_dir.as_ref();
    create_private_dir(data_dir).map_err(io_error(data_dir))?;
    let cert_path = data_dir.join(DEV_CERT_FILE);
    let key_path = data_dir.join(DEV_KEY_FILE);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            ensure_private(&key_path).map_err(io_error(&key_path))?;
            return load_cert(&cert_path, &key_path);
        }
        (true, false) => {
            return Err(TlsError::Incomplete {
                present: cert_path,
                missing: key_path,
            });
        }
        (false, true) => {
            return Err(TlsError::Incomplete {
                present: key_path,
                missing: cert_path,
            });
        }
        (false, false) => {}
    }

    let names = dev_cert_names(hostnames);
    let mut params = rcgen::CertificateParams::new(names.clone())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Conclave development certificate",
    );
    let key_pair = rcgen::KeyPair::generate()?;
    let certificate = params.self_signed(&key_pair)?;
    // Key first: a crash in between leaves a key without a certificate, which the next run
    // reports instead of silently pairing a new certificate with an old key.
    write_new_file(&key_path, key_pair.serialize_pem().as_bytes(), 0o600)
        .map_err(io_error(&key_path))?;
    write_new_file(&cert_path, certificate.pem().as_bytes(), 0o644)
        .map_err(io_error(&cert_path))?;

    let key =
        PrivateKeyDer::try_from(key_pair.serialize_der()).map_err(|reason| TlsError::Pem {
            path: key_path.clone(),
            reason: reason.to_owned(),
        })?;
    let material = TlsMaterial::new(vec![certificate.der().clone()], key)?;
    tracing::info!(
        cert = %cert_path.display(),
        names = ?names,
        fingerprint = %material.fingerprint,
        "created a self-signed development certificate"
    );
    Ok(material)
}

/// The default names plus `hostnames`, trimmed, without blanks or duplicates.
fn dev_cert_names(hostnames: &[String]) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_DEV_NAMES.iter().map(|s| s.to_string()).collect();
    for name in hostnames {
        let name = name.trim();
        if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, Connection, ServerConnection};

    use super::*;

    fn client_config(
        material: &TlsMaterial,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(material.certificate_chain()[0].clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).unwrap();
        }
        let mut rest = &buf[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).unwrap();
            to.process_new_packets()?;
        }
        Ok(())
    }

    /// Runs a full in-memory handshake; returns the negotiated version.
    fn handshake(
        material: &TlsMaterial,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> Result<rustls::ProtocolVersion, rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = Connection::from(ClientConnection::new(client, name)?);
        let mut server = Connection::from(ServerConnection::new(material.server_config())?);
        for _ in 0..10 {
            transfer(&mut client, &mut server)?;
            transfer(&mut server, &mut client)?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(client.protocol_version().unwrap());
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn dev_cert_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_dev_cert(dir.path(), &[]).unwrap();
        let cert_pem = std::fs::read(dir.path().join(DEV_CERT_FILE)).unwrap();
        let second = load_or_create_dev_cert(dir.path(), &[]).unwrap();
        assert_eq!(first.fingerprint_sha256(), second.fingerprint_sha256());
        assert_eq!(first.certificate_chain(), second.certificate_chain());
        assert_eq!(
            std::fs::read(dir.path().join(DEV_CERT_FILE)).unwrap(),
            cert_pem
        );

        let fingerprint = first.fingerprint_sha256();
        assert_eq!(fingerprint.len(), 32 * 3 - 1);
        assert!(fingerprint.split(':').all(|byte| {
            byte.len() == 2
                && byte
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }));
        assert_eq!(
            fingerprint,
            fingerprint_sha256(&first.certificate_chain()[0])
        );
    }

    #[cfg(unix)]
    #[test]
    fn dev_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        load_or_create_dev_cert(dir.path(), &[]).unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(DEV_KEY_FILE), 0o600);
        assert_eq!(mode(DEV_CERT_FILE), 0o644);
    }

    #[test]
    fn dev_cert_serves_tls_12_and_13_for_its_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec![" conclave.example ".to_owned(), "LOCALHOST".to_owned()];
        let material = load_or_create_dev_cert(dir.path(), &names).unwrap();
        let both = client_config(
            &material,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        );
        for name in ["localhost", "127.0.0.1", "::1", "conclave.example"] {
            assert_eq!(
                handshake(&material, both.clone(), name).unwrap(),
                rustls::ProtocolVersion::TLSv1_3,
                "{name}"
            );
        }
        let only_12 = client_config(&material, &[&rustls::version::TLS12]);
        assert_eq!(
            handshake(&material, only_12, "localhost").unwrap(),
            rustls::ProtocolVersion::TLSv1_2
        );
        assert!(handshake(&material, both, "other.example").is_err());
    }

    #[test]
    fn real_certificates_load_from_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["meet.example".into()]).unwrap();
        let cert_path = dir.path().join("fullchain.pem");
        let key_path = dir.path().join("privkey.pem");
        std::fs::write(&cert_path, generated.cert.pem()).unwrap();
        std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
        let material = load_cert(&cert_path, &key_path).unwrap();
        assert_eq!(
            material.fingerprint_sha256(),
            fingerprint_sha256(generated.cert.der())
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        assert!(matches!(
            load_cert(&garbage, &key_path).unwrap_err(),
            TlsError::NoCertificate(_)
        ));
        assert!(matches!(
            load_cert(&cert_path, &garbage).unwrap_err(),
            TlsError::Pem { .. }
        ));
        assert!(matches!(
            load_cert(&dir.path().join("missing.pem"), &key_path).unwrap_err(),
            TlsError::Io { .. }
        ));
        // A key that does not match the certificate is refused.
        let other = rcgen::generate_simple_self_signed(vec!["x.example".into()]).unwrap();
        std::fs::write(&key_path, other.signing_key.serialize_pem()).unwrap();
        assert!(load_cert(&cert_path, &key_path).is_err());
    }

    #[test]
    fn half_a_dev_cert_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create_dev_cert(dir.path(), &[]).unwrap();
        std::fs::remove_file(dir.path().join(DEV_CERT_FILE)).unwrap();
        let err = load_or_create_dev_cert(dir.path(), &[]).unwrap_err();
        assert!(matches!(err, TlsError::Incomplete { .. }), "{err:?}");
        assert!(dir.path().join(DEV_KEY_FILE).exists());
    }

    #[test]
    fn invalid_hostnames_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_create_dev_cert(dir.path(), &["bücher.example".into()]).unwrap_err();
        assert!(matches!(err, TlsError::Generate(_)), "{err:?}");
        assert!(!dir.path().join(DEV_KEY_FILE).exists());
    }
}
