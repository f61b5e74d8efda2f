//! TLS trust against a real rustls server on 127.0.0.1 with generated certificates: a CA file
//! or a pinned fingerprint is accepted, an unknown certificate or a wrong pin is refused.

use xenpool::xenapi::{Client, ClientOptions, Fingerprint, Ref, Session, TlsTrust, XenApiError};

use crate::support::tls_server::{self, Answer, TestCa, TLS_VALUE};
use crate::support::xapi_mock::{credentials, options};

async fn login_with(trust: TlsTrust, url: &url::Url) -> Result<Session, XenApiError> {
    let client = Client::new(ClientOptions { trust, ..options() }).unwrap();
    Session::login_with_password(client, url.clone(), credentials()).await
}

fn write_pem(pem: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, pem).unwrap();
    (dir, path)
}

#[tokio::test]
async fn a_self_signed_certificate_given_as_ca_file_is_accepted() {
    let server = tls_server::start(&tls_server::self_signed(&["127.0.0.1", "localhost"])).await;
    let (_dir, path) = write_pem(&server.cert_pem);
    let session = login_with(TlsTrust::CaFile(path), &server.url)
        .await
        .unwrap();
    assert_eq!(session.reference(), Ref::from(TLS_VALUE));
}

#[tokio::test]
async fn a_leaf_signed_by_the_ca_file_is_accepted() {
    let ca = TestCa::new();
    let server = tls_server::start(&ca.issue(&["127.0.0.1"])).await;
    let (_dir, path) = write_pem(&ca.pem);
    login_with(TlsTrust::CaFile(path), &server.url)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_ca_file_still_checks_the_host_name() {
    let server = tls_server::start(&tls_server::self_signed(&["xenserver-7.example"])).await;
    let (_dir, path) = write_pem(&server.cert_pem);
    let err = login_with(TlsTrust::CaFile(path), &server.url)
        .await
        .unwrap_err();
    assert!(matches!(err, XenApiError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn a_pinned_fingerprint_is_accepted_whatever_the_name() {
    let server = tls_server::start(&tls_server::self_signed(&["xenserver-7.example"])).await;
    let session = login_with(TlsTrust::Pinned(server.fingerprint), &server.url)
        .await
        .unwrap();
    assert_eq!(session.reference(), Ref::from(TLS_VALUE));
    // The same pin written as operators copy it from `openssl x509 -fingerprint -sha256`.
    let typed: Fingerprint = server
        .fingerprint
        .to_string()
        .trim_start_matches("sha256:")
        .to_lowercase()
        .parse()
        .unwrap();
    login_with(TlsTrust::Pinned(typed), &server.url)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_certificate_is_refused_by_default_with_a_clear_tls_error() {
    let server = tls_server::start(&tls_server::self_signed(&["127.0.0.1"])).await;
    let err = login_with(TlsTrust::WebPkiRoots, &server.url)
        .await
        .unwrap_err();
    match &err {
        XenApiError::Tls { message, .. } => {
            assert!(message.contains("certificate"), "{message}");
            assert!(message.contains("fingerprint"), "{message}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("session.login_with_password"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_fingerprint_is_refused() {
    let server = tls_server::start(&tls_server::self_signed(&["127.0.0.1"])).await;
    let other = Fingerprint::of_der(b"some other certificate");
    let err = login_with(TlsTrust::Pinned(other), &server.url)
        .await
        .unwrap_err();
    match &err {
        XenApiError::Tls { message, .. } => {
            assert!(message.contains("does not match the pinned"), "{message}");
            assert!(
                message.contains(&server.fingerprint.to_string()),
                "{message}"
            );
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// A member on 127.0.0.1:P pinned by the client, redirecting to a master on 127.0.0.2:P that
/// has its own self-signed certificate.
async fn pinned_member_and_master(report_thumbprint: bool) -> Result<Session, XenApiError> {
    let master_cert = tls_server::self_signed(&["master.example"]);
    let member_cert = tls_server::self_signed(&["member.example"]);
    let port = crate::support::xapi_mock::unused_port();
    let master = tls_server::start_answering(
        &master_cert,
        format!("127.0.0.2:{port}").parse().unwrap(),
        Answer::Success,
    )
    .await;
    let member = tls_server::start_answering(
        &member_cert,
        format!("127.0.0.1:{port}").parse().unwrap(),
        Answer::HostIsSlave {
            master: "127.0.0.2".into(),
            thumbprint: report_thumbprint.then_some(master.fingerprint),
        },
    )
    .await;
    assert_ne!(member.fingerprint, master.fingerprint);
    login_with(TlsTrust::Pinned(member.fingerprint), &member.url).await
}

#[tokio::test]
async fn a_redirect_from_a_pinned_member_pins_the_master_it_reports() {
    let session = pinned_member_and_master(true).await.unwrap();
    assert_eq!(session.url().host_str(), Some("127.0.0.2"));
    assert_eq!(session.reference(), Ref::from(TLS_VALUE));
}

#[tokio::test]
async fn a_redirect_without_a_reported_thumbprint_keeps_the_pin_and_refuses_the_master() {
    let err = pinned_member_and_master(false).await.unwrap_err();
    match &err {
        XenApiError::Tls {
            host_url, message, ..
        } => {
            assert!(host_url.contains("127.0.0.2"), "{err}");
            assert!(message.contains("does not match the pinned"), "{message}");
        }
        other => panic!("expected a TLS error on the master, got {other:?}"),
    }
}
