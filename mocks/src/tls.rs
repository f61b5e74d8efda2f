//! Per-host self-signed certificates (as XenServer ships them) and their `sha256:` fingerprints.

use std::net::Ipv4Addr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

/// A host's TLS identity.
#[derive(Clone)]
pub struct HostTls {
    /// Accepts TLS connections with the host's certificate.
    pub acceptor: TlsAcceptor,
    /// `sha256:<lower-case hex of the SHA-256 of the DER certificate>`.
    pub fingerprint: String,
    /// The same digest as XAPI prints certificate fingerprints: upper-case hex octets joined
    /// by `:` (what the `x-xenapi-response-host-certificate-thumbprint` header carries).
    pub xapi_thumbprint: String,
    /// The certificate, PEM (usable as a CA file for that host).
    pub pem: String,
}

impl std::fmt::Debug for HostTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The fingerprint format the farm reports.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// XAPI's fingerprint format (`pp_hash`): `AB:CD:…`.
pub fn xapi_thumbprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Generates a self-signed certificate for `name` / `address` and a TLS acceptor for it.
pub fn host_tls(name: &str, address: Ipv4Addr) -> Result<HostTls, String> {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned(), address.to_string()])
        .map_err(|e| format!("certificate for {name}: {e}"))?;
    let der: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS config for {name}: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .map_err(|e| format!("TLS config for {name}: {e}"))?;
    Ok(HostTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        fingerprint: fingerprint(&der),
        xapi_thumbprint: xapi_thumbprint(&der),
        pem: certified.cert.pem(),
    })
}
