//! A minimal HTTPS XML-RPC server on 127.0.0.1 with a generated self-signed certificate
//! (rcgen + tokio-rustls): it answers every call with `{Status: Success, Value: "OpaqueRef:tls"}`.

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{CertificateParams, CertifiedKey, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use xenpool::xenapi::Fingerprint;
use xenpool_xmlrpc::{self as xmlrpc, Struct, Value};

/// The value every call on the TLS server returns.
pub const TLS_VALUE: &str = "OpaqueRef:tls";

/// A running TLS server and what a client needs to trust it.
pub struct TlsServer {
    /// `https://127.0.0.1:<port>/`
    pub url: url::Url,
    /// The certificate in PEM, usable as a CA file.
    pub cert_pem: String,
    /// SHA-256 fingerprint of the certificate.
    pub fingerprint: Fingerprint,
}

/// A self-signed leaf certificate for the given DNS names / IP addresses.
pub fn self_signed(names: &[&str]) -> CertifiedKey<KeyPair> {
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let signing_key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&signing_key).unwrap();
    CertifiedKey { cert, signing_key }
}

/// A test certificate authority.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate in PEM.
    pub pem: String,
}

impl TestCa {
    /// A fresh CA (`is_ca = true`).
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "xenpool test CA");
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa { params, key, pem }
    }

    /// A leaf for `names` signed by this CA.
    pub fn issue(&self, names: &[&str]) -> CertifiedKey<KeyPair> {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let signing_key = KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&signing_key, &issuer).unwrap();
        CertifiedKey { cert, signing_key }
    }
}

/// What a TLS test server answers to every call.
#[derive(Clone)]
pub enum Answer {
    /// `{Status: Success, Value: TLS_VALUE}`.
    Success,
    /// `HOST_IS_SLAVE [master]`, plus the master-thumbprint header when the client asks for it
    /// and `thumbprint` is set (as XAPI does).
    HostIsSlave {
        /// The bare master address.
        master: String,
        /// The master's certificate fingerprint.
        thumbprint: Option<Fingerprint>,
    },
}

/// Serves `leaf` on 127.0.0.1 (a free port), answering every call with success.
pub async fn start(leaf: &CertifiedKey<KeyPair>) -> TlsServer {
    start_answering(leaf, "127.0.0.1:0".parse().unwrap(), Answer::Success).await
}

/// Serves `leaf` on `bind` until the test ends, answering every call with `answer`.
pub async fn start_answering(
    leaf: &CertifiedKey<KeyPair>,
    bind: SocketAddr,
    answer: Answer,
) -> TlsServer {
    let cert_der: CertificateDer<'static> = leaf.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert_der.clone()], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = answer_one(&mut tls, &answer).await;
                }
            });
        }
    });
    TlsServer {
        url: url::Url::parse(&format!("https://{addr}/")).unwrap(),
        cert_pem: leaf.cert.pem(),
        fingerprint: Fingerprint::of_der(cert_der.as_ref()),
    }
}

/// Reads one HTTP/1.1 request (headers + Content-Length body) and answers it.
async fn answer_one<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    stream: &mut S,
    answer: &Answer,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let headers = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length.min(1 << 20) {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let asked = headers
        .lines()
        .any(|l| l.trim() == "x-xenapi-request-host-certificate-thumbprint: sha-256:master");
    let mut envelope = Struct::new();
    let mut extra = String::new();
    match answer {
        Answer::Success => {
            envelope.insert("Status", "Success");
            envelope.insert("Value", TLS_VALUE);
        }
        Answer::HostIsSlave { master, thumbprint } => {
            envelope.insert("Status", "Failure");
            envelope.insert(
                "ErrorDescription",
                Value::Array(vec![
                    Value::from("HOST_IS_SLAVE"),
                    Value::from(master.as_str()),
                ]),
            );
            if let (true, Some(fp)) = (asked, thumbprint) {
                // XAPI's form: upper-case hex pairs with colons, no algorithm prefix.
                let bare = fp.to_string().trim_start_matches("sha256:").to_owned();
                extra = format!("x-xenapi-response-host-certificate-thumbprint: {bare}\r\n");
            }
        }
    }
    let body = xmlrpc::encode_response(&Value::Struct(envelope));
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}
