//! How the client trusts the server's TLS certificate: the public roots for servers with real
//! certificates, or an exact SHA-256 pin for a self-signed server (the fingerprint `conclaved`
//! prints at start-up, or that IT policy distributes).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Which server certificates to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// Certificates chaining to the bundled public web roots.
    PublicRoots,
    /// Exactly the certificate with this SHA-256 fingerprint (hex; case and `:` ignored).
    PinnedSha256(String),
}

/// Errors building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the certificate pin is not a SHA-256 fingerprint")]
    BadPin,
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Colon-separated uppercase hex SHA-256 of a DER certificate, as the server prints it.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn normalize(pin: &str) -> String {
    pin.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[derive(Debug)]
struct PinnedVerifier {
    pin: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The pin names the exact certificate, so neither chain nor name matter; the handshake
        // signature below still proves the server holds its key.
        if normalize(&fingerprint_sha256(end_entity)) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate does not match the pinned fingerprint".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client configuration (TLS 1.2 and 1.3, ring) for the given trust.
pub fn client_config(trust: &TlsTrust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    Ok(Arc::new(owned_client_config(trust)?))
}

/// As [`client_config`], by value (what reqwest's `use_preconfigured_tls` takes).
pub fn owned_client_config(trust: &TlsTrust) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match trust {
        TlsTrust::PublicRoots => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsTrust::PinnedSha256(pin) => {
            let pin = normalize(pin);
            if pin.len() != 64 {
                return Err(TlsError::BadPin);
            }
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin, provider }))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_must_be_sha256() {
        assert!(matches!(
            client_config(&TlsTrust::PinnedSha256("AB:CD".into())),
            Err(TlsError::BadPin)
        ));
        let pin = fingerprint_sha256(b"certificate");
        assert_eq!(pin.len(), 32 * 3 - 1);
        assert!(client_config(&TlsTrust::PinnedSha256(pin.to_lowercase())).is_ok());
        assert!(client_config(&TlsTrust::PublicRoots).is_ok());
    }
}
