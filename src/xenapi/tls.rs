//! TLS trust for XenAPI connections: rustls with the `ring` provider, verified by default
//! against the webpki root set, or against a CA file, or pinned to one certificate's SHA-256
//! fingerprint (XenServer hosts ship self-signed certificates). Knows nothing of XenAPI calls.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// How the server's certificate is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsTrust {
    /// The webpki root set (Mozilla's roots) and the host name in the URL.
    #[default]
    WebPkiRoots,
    /// Only the CA certificates in this PEM file, and the host name in the URL.
    CaFile(PathBuf),
    /// Exactly the leaf certificate with this SHA-256 fingerprint; the host name is not checked
    /// (XenServer's self-signed certificates rarely name the address used), the handshake
    /// signature still is. When a pinned member redirects a login with `HOST_IS_SLAVE`, the
    /// master is pinned to the thumbprint that member reports for it (see `Session`).
    Pinned(Fingerprint),
}

/// A SHA-256 certificate fingerprint (of the DER encoding, as `openssl x509 -fingerprint -sha256`
/// prints it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// A fingerprint string that is not 32 hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SHA-256 fingerprint {input:?}: {reason}; expected 64 hex digits, optionally as `sha256:AB:CD:…`")]
pub struct FingerprintError {
    input: String,
    reason: &'static str,
}

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Accepts `sha256:AB:CD:…`, `sha-256:…`, `AB:CD:…` or plain hex, in any case.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| FingerprintError {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        let lower = trimmed.to_ascii_lowercase();
        let body = lower
            .strip_prefix("sha256:")
            .or_else(|| lower.strip_prefix("sha-256:"))
            .unwrap_or(&lower);
        let hex_digits: String = body.chars().filter(|c| *c != ':').collect();
        if !hex_digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err("not hexadecimal"));
        }
        let bytes = hex::decode(&hex_digits).map_err(|_| err("odd number of hex digits"))?;
        let digest: [u8; 32] = bytes
            .try_into()
            .map_err(|_| err("wrong length (a SHA-256 digest is 32 bytes)"))?;
        Ok(Fingerprint(digest))
    }
}

impl fmt::Display for Fingerprint {
    /// `sha256:AB:CD:…` in upper case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A TLS configuration that could not be built (unreadable or empty CA file, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TlsConfigError(String);

/// The crypto provider every xenpool TLS client uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration for `trust`.
pub(crate) fn client_config(trust: &TlsTrust) -> Result<ClientConfig, TlsConfigError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(format!("TLS protocol versions: {e}")))?;
    let config = match trust {
        TlsTrust::WebPkiRoots => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsTrust::CaFile(path) => builder
            .with_root_certificates(load_ca_file(path)?)
            .with_no_client_auth(),
        TlsTrust::Pinned(fingerprint) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertVerifier {
                fingerprint: *fingerprint,
                provider,
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Reads every certificate of a PEM file into a root store, naming the file on any failure.
fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| TlsConfigError(format!("cannot read CA file {shown}: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| TlsConfigError(format!("CA file {shown}: bad PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| TlsConfigError(format!("CA file {shown}: unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(TlsConfigError(format!(
            "CA file {shown} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(roots)
}

/// Accepts exactly the leaf certificate whose SHA-256 fingerprint is pinned, and checks that the
/// server proves possession of its key (the handshake signature) with the usual algorithms.
#[derive(Debug)]
struct PinnedCertVerifier {
    fingerprint: Fingerprint,
    provider: Arc<CryptoProvider>,
}

/// Why a pinned-certificate check refused the server.
#[derive(Debug, thiserror::Error)]
#[error("server certificate fingerprint {presented} does not match the pinned {pinned}")]
struct FingerprintMismatch {
    presented: Fingerprint,
    pinned: Fingerprint,
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity.as_ref());
        if presented == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(FingerprintMismatch {
                    presented,
                    pinned: self.fingerprint,
                })),
            )))
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn fingerprints_parse_in_every_documented_form() {
        let plain: Fingerprint = HEX.parse().unwrap();
        let colons = plain.to_string();
        assert!(colons.starts_with("sha256:A1:B2:C3"));
        assert_eq!(colons.parse::<Fingerprint>().unwrap(), plain);
        assert_eq!(HEX.to_uppercase().parse::<Fingerprint>().unwrap(), plain);
        assert_eq!(
            colons
                .replace("sha256:", "SHA-256:")
                .parse::<Fingerprint>()
                .unwrap(),
            plain
        );
        assert_eq!(
            colons
                .trim_start_matches("sha256:")
                .parse::<Fingerprint>()
                .unwrap(),
            plain
        );
    }

    #[test]
    fn bad_fingerprints_name_the_problem() {
        let short = "ab:cd".parse::<Fingerprint>().unwrap_err().to_string();
        assert!(short.contains("wrong length"), "{short}");
        let junk = "sha256:zz".parse::<Fingerprint>().unwrap_err().to_string();
        assert!(junk.contains("not hexadecimal"), "{junk}");
        let odd = "abc".parse::<Fingerprint>().unwrap_err().to_string();
        assert!(odd.contains("odd number"), "{odd}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = client_config(&TlsTrust::CaFile("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = client_config(&TlsTrust::CaFile(path)).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn default_trust_builds() {
        client_config(&TlsTrust::WebPkiRoots).unwrap();
    }
}
