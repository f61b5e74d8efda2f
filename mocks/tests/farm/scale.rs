//! A 100-host farm starts and every host answers; TLS hosts present their reported certificate.

use xenpool_mocks::FarmOptions;

use crate::support::{farm_with, pem_to_der, s, Reply, Xapi};

#[tokio::test]
async fn a_hundred_hosts_all_answer_on_one_port() {
    let farm = farm_with(FarmOptions {
        hosts: 100,
        time_scale: 0.0,
        ..Default::default()
    })
    .await;
    let port = farm.host_url("xs1").rsplit(':').next().unwrap().to_owned();
    let mut calls = Vec::new();
    for i in 1..=100 {
        let url = farm.host_url(&format!("xs{i}"));
        assert!(url.ends_with(&port), "{url} shares the port");
        calls.push(tokio::spawn(async move {
            matches!(
                Xapi::new(&url)
                    .call("session.login_with_password", vec![s("root"), s("mock")])
                    .await,
                Reply::Ok(_)
            )
        }));
    }
    for (i, c) in calls.into_iter().enumerate() {
        assert!(c.await.unwrap(), "xs{} answered", i + 1);
    }
    assert_eq!(farm.host_address("xs100"), "127.0.0.101");
    assert_eq!(farm.state().pools.len(), 100);
    assert!(farm.invariants().ok);
    farm.shutdown().await;
}

#[tokio::test]
async fn tls_hosts_serve_their_own_self_signed_certificate() {
    let farm = farm_with(FarmOptions {
        hosts: 2,
        tls: true,
        time_scale: 0.0,
        ..Default::default()
    })
    .await;
    let url = farm.host_url("xs2");
    assert!(url.starts_with("https://127.0.0.3:"));
    let pem = farm.certificate_pem("xs2").unwrap();
    let x = Xapi::new_tls(&url, &pem);
    assert!(matches!(
        x.call("session.login_with_password", vec![s("root"), s("mock")])
            .await,
        Reply::Ok(_)
    ));
    let wrong = Xapi::new_tls(&url, &farm.certificate_pem("xs1").unwrap());
    assert!(matches!(
        wrong
            .call("session.login_with_password", vec![s("root"), s("mock")])
            .await,
        Reply::Transport(_)
    ));
    let fp = farm.fingerprint("xs2").unwrap();
    assert!(fp.starts_with("sha256:") && fp.len() == 7 + 64, "{fp}");
    assert_ne!(fp, farm.fingerprint("xs1").unwrap());
    use sha2::Digest;
    assert_eq!(
        fp,
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(pem_to_der(&pem)))
        )
    );
    assert_eq!(farm.ready_line()["fingerprints"]["xs2"], fp.as_str());
}

#[tokio::test]
async fn a_member_tells_its_masters_thumbprint_when_asked() {
    let scenario = xenpool_mocks::Scenario::from_toml(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\n",
    )
    .unwrap();
    let farm = farm_with(FarmOptions {
        scenario: Some(scenario),
        tls: true,
        time_scale: 0.0,
        ..Default::default()
    })
    .await;
    let x = Xapi::new_tls(&farm.host_url("xs2"), &farm.certificate_pem("xs2").unwrap());
    let login = xenpool_xmlrpc::encode_call("session.login_with_password", &[s("root"), s("mock")]);
    let ask = [(
        "x-xenapi-request-host-certificate-thumbprint",
        "sha-256:master",
    )];
    let (_, headers, body) = x.post_with_headers("/", login.clone(), &ask).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("HOST_IS_SLAVE"));
    let tp = headers["x-xenapi-response-host-certificate-thumbprint"]
        .to_str()
        .unwrap()
        .to_owned();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(pem_to_der(&farm.certificate_pem("xs1").unwrap()));
    let want: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        tp,
        want.join(":"),
        "XAPI's form of the master's SHA-256 fingerprint"
    );
    let (_, headers, _) = x.post_with_headers("/", login, &[]).await.unwrap();
    assert!(
        headers
            .get("x-xenapi-response-host-certificate-thumbprint")
            .is_none(),
        "only when asked"
    );
}
