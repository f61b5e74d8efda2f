//! XenAPI client against wiremock: the envelope, login redirects, re-login, and every way a
//! server can answer badly (malformed, oversized, slow, HTTP 500, not an envelope, not there).

use std::time::{Duration, Instant};

use wiremock::{Mock, MockServer, ResponseTemplate};
use xenpool::xenapi::{
    Client, ClientOptions, ErrorCode, Limits, PowerState, Ref, Session, Value, XenApiError,
};
use xenpool_xmlrpc::Struct;

use crate::support::xapi_mock::{
    call, client, count_calls, credentials, failure, login, mount_login, mount_login_redirect,
    mount_login_refused_echoing_password, mount_session, options, received_call, received_calls,
    strings, success, unused_port, url_of, xml, PASSWORD,
};

fn host_record(name: &str) -> Value {
    let mut other = Struct::new();
    other.insert("xenpool_home", "yes");
    let mut software = Struct::new();
    software.insert("product_version", "8.4.0");
    let mut rec = Struct::new();
    rec.insert("uuid", "8c1a-host");
    rec.insert("name_label", name);
    rec.insert("address", "10.0.0.1");
    rec.insert("enabled", true);
    rec.insert(
        "resident_VMs",
        strings(&["OpaqueRef:dom0", "OpaqueRef:vm1"]),
    );
    rec.insert("metrics", "OpaqueRef:metrics1");
    rec.insert("memory_overhead", "1073741824"); // int64 as a decimal string, as XAPI sends it
    rec.insert("software_version", software);
    rec.insert("other_config", other);
    rec.insert("API_version_major", "2");
    rec.insert("some_field_from_the_future", Value::Array(vec![]));
    Value::Struct(rec)
}

#[tokio::test]
async fn success_envelopes_decode_into_typed_records_with_the_session_first() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    let mut all = Struct::new();
    all.insert("OpaqueRef:h1", host_record("h1"));
    Mock::given(call("host.get_all_records").with_params([Value::from("OpaqueRef:s1")]))
        .respond_with(success(all))
        .expect(1)
        .mount(&server)
        .await;

    let session = login(&server).await;
    let hosts = session.host_get_all_records().await.unwrap();
    let h1 = &hosts[&Ref::from("OpaqueRef:h1")];
    assert_eq!(h1.name_label, "h1");
    assert!(h1.enabled);
    assert_eq!(h1.memory_overhead, 1 << 30);
    assert_eq!(h1.resident_vms.len(), 2);
    assert_eq!(h1.metrics, Ref::from("OpaqueRef:metrics1"));
    assert_eq!(h1.software_version["product_version"], "8.4.0");
    assert_eq!(h1.other_config["xenpool_home"], "yes");
    assert_eq!(h1.api_version_major, 2);
    assert!(
        h1.control_domain.is_null(),
        "missing ref fields default to NULL"
    );

    let calls = received_calls(&server).await;
    assert_eq!(calls[0].name, "session.login_with_password");
    assert_eq!(
        calls[0].params,
        vec![
            Value::from("root"),
            Value::from(PASSWORD),
            Value::from("1.0"),
            Value::from("xenpool")
        ]
    );
}

#[tokio::test]
async fn vm_records_and_dynamic_calls_decode() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    let mut vm = Struct::new();
    vm.insert("uuid", "vm-uuid");
    vm.insert("name_label", "web1");
    vm.insert("power_state", "Running");
    vm.insert("resident_on", "OpaqueRef:h1");
    vm.insert("memory_static_max", "4294967296");
    vm.insert("memory_dynamic_max", "4294967296");
    vm.insert("memory_target", "2147483648");
    vm.insert("is_control_domain", false);
    vm.insert("VBDs", strings(&["OpaqueRef:vbd1"]));
    Mock::given(call("VM.get_record"))
        .respond_with(success(vm))
        .mount(&server)
        .await;
    Mock::given(call("host.get_address"))
        .respond_with(success("10.0.0.1"))
        .mount(&server)
        .await;

    let session = login(&server).await;
    let rec = session
        .vm_get_record(&Ref::from("OpaqueRef:vm1"))
        .await
        .unwrap();
    assert_eq!(rec.power_state, PowerState::Running);
    assert_eq!(rec.memory_static_max, 4 << 30);
    assert_eq!(rec.memory_target, 2 << 30);
    assert_eq!(rec.vbds, vec![Ref::from("OpaqueRef:vbd1")]);
    assert!(rec.is_guest());
    let address = session
        .call("host.get_address", vec![Value::from("OpaqueRef:h1")])
        .await
        .unwrap();
    assert_eq!(address, Value::from("10.0.0.1"));
}

#[tokio::test]
async fn failure_envelopes_keep_code_and_params_and_name_method_and_host() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    Mock::given(call("VM.pool_migrate"))
        .respond_with(failure(
            "HOST_NOT_ENOUGH_FREE_MEMORY",
            &["4294967296", "1073741824"],
        ))
        .mount(&server)
        .await;

    let session = login(&server).await;
    let err = session
        .vm_pool_migrate(
            &Ref::from("OpaqueRef:vm1"),
            &Ref::from("OpaqueRef:h2"),
            &[("live".to_string(), "true".to_string())].into(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::HOST_NOT_ENOUGH_FREE_MEMORY));
    assert_eq!(err.params(), ["4294967296", "1073741824"]);
    assert!(err.is_migration_refusal());
    let shown = err.to_string();
    assert!(shown.contains("VM.pool_migrate"), "{shown}");
    assert!(shown.contains(&server.uri()), "{shown}");
    assert!(shown.contains("HOST_NOT_ENOUGH_FREE_MEMORY"), "{shown}");
    assert!(shown.contains("4294967296"), "{shown}");
    assert!(!err.is_transient());

    // The options map went out as a struct.
    let migrate = received_call(&server, "VM.pool_migrate").await;
    let mut live = Struct::new();
    live.insert("live", "true");
    assert_eq!(migrate.params[3], Value::Struct(live));
}

#[tokio::test]
async fn unknown_codes_are_kept_verbatim() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    Mock::given(call("SR.scan"))
        .respond_with(failure(
            "SR_BACKEND_FAILURE_46",
            &["", "The VDI is not available", ""],
        ))
        .mount(&server)
        .await;
    let session = login(&server).await;
    let err = session.call("SR.scan", vec![]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&ErrorCode::Other("SR_BACKEND_FAILURE_46".into()))
    );
    assert_eq!(err.params(), ["", "The VDI is not available", ""]);
}

/// A member on 127.0.0.1:P and its master on 127.0.0.2:P (the redirect keeps the port).
async fn member_and_master() -> (MockServer, MockServer) {
    member_and_master_at("127.0.0.2").await
}

/// A member on 127.0.0.1:P and its master on `master_ip`:P.
async fn member_and_master_at(master_ip: &str) -> (MockServer, MockServer) {
    let mut servers = same_port_servers(&["127.0.0.1", master_ip])
        .await
        .into_iter();
    (servers.next().unwrap(), servers.next().unwrap())
}

/// Mock servers on these loopback addresses, all on one port (redirects keep the port).
async fn same_port_servers(ips: &[&str]) -> Vec<MockServer> {
    let first = std::net::TcpListener::bind((ips[0], 0)).unwrap();
    let port = first.local_addr().unwrap().port();
    let mut listeners = vec![first];
    for ip in &ips[1..] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        listeners.push(
            std::net::TcpListener::bind((ip, port))
                .unwrap_or_else(|e| panic!("bind {ip} port {port} (loopback): {e}")),
        );
    }
    let mut servers = Vec::new();
    for listener in listeners {
        servers.push(MockServer::builder().listener(listener).start().await);
    }
    servers
}

#[tokio::test]
async fn login_on_a_member_follows_host_is_slave_to_the_master_once() {
    let (member, master) = member_and_master().await;
    mount_login_redirect(&member, "127.0.0.2").await;
    mount_login(&master, "OpaqueRef:master-session").await;
    Mock::given(call("pool.get_all").with_params([Value::from("OpaqueRef:master-session")]))
        .respond_with(success(strings(&["OpaqueRef:pool"])))
        .expect(1)
        .mount(&master)
        .await;

    let session = Session::login_with_password(client(), url_of(&member), credentials())
        .await
        .unwrap();
    assert_eq!(session.url().host_str(), Some("127.0.0.2"));
    assert_eq!(session.url().port(), url_of(&member).port());
    assert_eq!(
        session.pool_get_all().await.unwrap(),
        vec![Ref::from("OpaqueRef:pool")]
    );
    assert_eq!(count_calls(&member, "session.login_with_password").await, 1);
}

#[tokio::test]
async fn an_ipv6_master_address_is_bracketed_in_the_redirect() {
    let (member, master) = member_and_master_at("::1").await;
    mount_login_redirect(&member, "::1").await;
    mount_login(&master, "OpaqueRef:v6").await;
    let session = Session::login_with_password(client(), url_of(&member), credentials())
        .await
        .unwrap();
    assert_eq!(
        session.url().as_str(),
        format!("http://[::1]:{}/", url_of(&member).port().unwrap())
    );
    assert_eq!(session.reference(), Ref::from("OpaqueRef:v6"));
}

#[tokio::test]
async fn a_second_host_is_slave_is_returned_not_followed() {
    let (member, master) = member_and_master().await;
    mount_login_redirect(&member, "127.0.0.2").await;
    mount_login_redirect(&master, "127.0.0.2").await;
    let err = Session::login_with_password(client(), url_of(&member), credentials())
        .await
        .unwrap_err();
    assert_eq!(err.host_is_slave(), Some("127.0.0.2"));
    for server in [&member, &master] {
        assert_eq!(count_calls(server, "session.login_with_password").await, 1);
    }
    assert!(err.to_string().contains("127.0.0.2"), "{err}");
}

/// A server whose first session (`s1`) is invalid for `host.get_all`; the next login gives
/// `s2`, with which `host.get_all` answers `[h1]`.
async fn session_that_dies_once() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(call("session.login_with_password"))
        .respond_with(success("OpaqueRef:s1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_login(&server, "OpaqueRef:s2").await;
    Mock::given(call("host.get_all").with_params([Value::from("OpaqueRef:s1")]))
        .respond_with(failure("SESSION_INVALID", &["OpaqueRef:s1"]))
        .mount(&server)
        .await;
    Mock::given(call("host.get_all").with_params([Value::from("OpaqueRef:s2")]))
        .respond_with(success(strings(&["OpaqueRef:h1"])))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn session_invalid_logs_in_again_and_retries_once() {
    let server = session_that_dies_once().await;

    let session = login(&server).await;
    assert_eq!(
        session.host_get_all().await.unwrap(),
        vec![Ref::from("OpaqueRef:h1")]
    );
    assert_eq!(session.reference(), Ref::from("OpaqueRef:s2"));
    assert_eq!(count_calls(&server, "session.login_with_password").await, 2);
    assert_eq!(count_calls(&server, "host.get_all").await, 2);
}

#[tokio::test]
async fn session_invalid_twice_is_returned_after_one_retry() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    Mock::given(call("host.get_all"))
        .respond_with(failure("SESSION_INVALID", &["OpaqueRef:s1"]))
        .mount(&server)
        .await;

    let session = login(&server).await;
    let err = session.host_get_all().await.unwrap_err();
    assert!(err.is_session_invalid(), "{err}");
    assert_eq!(count_calls(&server, "session.login_with_password").await, 2);
    assert_eq!(count_calls(&server, "host.get_all").await, 2);
}

#[tokio::test]
async fn malformed_bodies_give_a_decode_error_with_the_byte_offset() {
    let server = MockServer::start().await;
    Mock::given(call("session.login_with_password"))
        .respond_with(xml(
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name></struct>",
        ))
        .mount(&server)
        .await;
    let err = Session::login_with_password(client(), url_of(&server), credentials())
        .await
        .unwrap_err();
    match &err {
        XenApiError::Decode { offset, method, .. } => {
            assert!(*offset > 0, "{err}");
            assert_eq!(method, "session.login_with_password");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(err.to_string().contains("at byte"), "{err}");
}

#[tokio::test]
async fn oversized_bodies_are_refused_at_the_limit() {
    let server = MockServer::start().await;
    let big = "x".repeat(8192);
    Mock::given(call("session.login_with_password"))
        .respond_with(success(big.as_str()))
        .mount(&server)
        .await;
    let options = ClientOptions {
        limits: Limits {
            max_document_bytes: 4096,
            ..Limits::default()
        },
        ..options()
    };
    let err = Session::login_with_password(
        Client::new(options).unwrap(),
        url_of(&server),
        credentials(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, XenApiError::ResponseTooLarge { limit: 4096, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_server_times_out_with_a_timeout_error() {
    let server = MockServer::start().await;
    Mock::given(call("session.login_with_password"))
        .respond_with(success("OpaqueRef:late").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let options = ClientOptions {
        call_timeout: Duration::from_millis(300),
        ..options()
    };
    let started = Instant::now();
    let err = Session::login_with_password(
        Client::new(options).unwrap(),
        url_of(&server),
        credentials(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, XenApiError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.is_transient());
    assert!(err.to_string().contains("timed out after 300 ms"), "{err}");
}

#[tokio::test]
async fn http_500_keeps_status_and_body() {
    let server = MockServer::start().await;
    Mock::given(call("session.login_with_password"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("<html>Xmlrpc.Parse_error(\"close_tag\", \"open_tag\", _)</html>"),
        )
        .mount(&server)
        .await;
    let err = Session::login_with_password(client(), url_of(&server), credentials())
        .await
        .unwrap_err();
    match &err {
        XenApiError::Http { status, body, .. } => {
            assert_eq!(*status, 500);
            assert!(body.contains("Xmlrpc.Parse_error"), "{body}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert!(!err.is_transient());
}

#[tokio::test]
async fn well_formed_non_envelopes_are_protocol_errors() {
    let server = MockServer::start().await;
    let mut no_status = Struct::new();
    no_status.insert("Value", "OpaqueRef:s");
    Mock::given(call("session.login_with_password"))
        .respond_with(xml(xenpool_xmlrpc::encode_response(&Value::Struct(
            no_status,
        ))))
        .mount(&server)
        .await;
    Mock::given(call("pool.get_all"))
        .respond_with(xml(xenpool_xmlrpc::encode_fault(&xenpool_xmlrpc::Fault {
            code: 500,
            string: "boom".into(),
        })))
        .mount(&server)
        .await;
    let err = Session::login_with_password(client(), url_of(&server), credentials())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, XenApiError::Protocol { message, .. } if message.contains("Status")),
        "{err:?}"
    );
    let fault = client()
        .call(&url_of(&server), "pool.get_all", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&fault, XenApiError::Protocol { message, .. } if message.contains("fault 500")),
        "{fault:?}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_transient_transport_error() {
    let port = unused_port();
    let url = xenpool::xenapi::parse_url(&format!("http://127.0.0.1:{port}/")).unwrap();
    let err = Session::login_with_password(client(), url, credentials())
        .await
        .unwrap_err();
    assert!(matches!(err, XenApiError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[tokio::test]
async fn the_password_never_appears_in_errors_or_debug_output() {
    let server = MockServer::start().await;
    mount_login_refused_echoing_password(&server).await;
    let err = Session::login_with_password(client(), url_of(&server), credentials())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::SESSION_AUTHENTICATION_FAILED));
    let shown = format!("{err} {err:?} {:?} {:?}", credentials(), client());
    assert!(!shown.contains(PASSWORD), "{shown}");

    let ok = MockServer::start().await;
    mount_login(&ok, "OpaqueRef:secret-session").await;
    Mock::given(call("pool.join"))
        .respond_with(failure(
            "HOSTS_NOT_HOMOGENEOUS",
            &["Software version differs"],
        ))
        .mount(&ok)
        .await;
    let session = login(&ok).await;
    let join = session
        .pool_join("10.0.0.9", &credentials())
        .await
        .unwrap_err();
    assert!(join.is_join_precheck());
    let shown = format!("{join} {join:?} {session:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!shown.contains("OpaqueRef:secret-session"), "{shown}");
}

#[tokio::test]
async fn logout_sends_the_session() {
    let server = MockServer::start().await;
    mount_session(&server, "OpaqueRef:s1").await;
    login(&server).await.logout().await.unwrap();
}

#[tokio::test]
async fn after_the_master_moves_a_call_follows_it_with_a_fresh_session() {
    // Logged in on the old master (127.0.0.2); it then becomes a member of 127.0.0.1.
    let (new_master, old_master) = member_and_master().await;
    Mock::given(call("session.login_with_password"))
        .respond_with(success("OpaqueRef:old"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&old_master)
        .await;
    mount_login_redirect(&old_master, "127.0.0.1").await;
    Mock::given(call("host.get_all"))
        .respond_with(failure("HOST_IS_SLAVE", &["127.0.0.1"]))
        .expect(1)
        .mount(&old_master)
        .await;
    mount_login(&new_master, "OpaqueRef:new").await;
    Mock::given(call("host.get_all").with_params([Value::from("OpaqueRef:new")]))
        .respond_with(success(strings(&["OpaqueRef:h1"])))
        .expect(1)
        .mount(&new_master)
        .await;

    let session = Session::login_with_password(client(), url_of(&old_master), credentials())
        .await
        .unwrap();
    assert_eq!(session.url().host_str(), Some("127.0.0.2"));
    assert_eq!(
        session.host_get_all().await.unwrap(),
        vec![Ref::from("OpaqueRef:h1")]
    );
    assert_eq!(session.url().host_str(), Some("127.0.0.1"));
}

#[tokio::test]
async fn persistent_disable_falls_back_on_servers_without_auto_enable() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    let host = Value::from("OpaqueRef:h1");
    Mock::given(call("host.disable").with_params([
        Value::from("OpaqueRef:s1"),
        host.clone(),
        Value::Bool(false),
    ]))
    .respond_with(failure(
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        &["host.disable", "1", "2"],
    ))
    .with_priority(1)
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(call("host.disable"))
        .respond_with(success(""))
        .expect(1)
        .mount(&server)
        .await;

    let session = login(&server).await;
    let persisted = session
        .host_disable_persistent(&Ref::from("OpaqueRef:h1"))
        .await
        .unwrap();
    assert!(!persisted);
    let disables: Vec<_> = received_calls(&server)
        .await
        .into_iter()
        .filter(|c| c.name == "host.disable")
        .map(|c| c.params.len())
        .collect();
    assert_eq!(disables, vec![3, 2], "with auto_enable, then without");
}

#[tokio::test]
async fn the_current_pool_is_the_single_pool_record() {
    let server = MockServer::start().await;
    mount_login(&server, "OpaqueRef:s1").await;
    let mut pool = Struct::new();
    pool.insert("uuid", "pool-uuid");
    pool.insert("name_label", "pool1");
    pool.insert("master", "OpaqueRef:h1");
    pool.insert("ha_enabled", false);
    let mut all = Struct::new();
    all.insert("OpaqueRef:p1", pool);
    Mock::given(call("pool.get_all_records"))
        .respond_with(success(all))
        .mount(&server)
        .await;
    let session = login(&server).await;
    let (reference, record) = session.pool_current().await.unwrap();
    assert_eq!(reference, Ref::from("OpaqueRef:p1"));
    assert_eq!(record.name_label, "pool1");
    assert_eq!(record.master, Ref::from("OpaqueRef:h1"));
}

#[tokio::test]
async fn concurrent_calls_on_a_dead_session_share_one_re_login() {
    let server = session_that_dies_once().await;

    let session = login(&server).await;
    let calls = (0..8).map(|_| {
        let session = session.clone();
        tokio::spawn(async move { session.host_get_all().await })
    });
    for call in calls {
        assert_eq!(
            call.await.unwrap().unwrap(),
            vec![Ref::from("OpaqueRef:h1")]
        );
    }
    assert_eq!(count_calls(&server, "session.login_with_password").await, 2);
}

#[tokio::test]
async fn a_streamed_body_is_cut_off_at_the_limit() {
    // A plain-HTTP server streaming an endless chunked body (bounded: at most 64 MiB).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok((mut tcp, _)) = listener.accept().await else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = tcp.read(&mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n";
        if tcp.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
        for _ in 0..1024 {
            if tcp.write_all(chunk.as_bytes()).await.is_err() {
                return; // the client hung up, as it should
            }
        }
    });
    let options = ClientOptions {
        limits: Limits {
            max_document_bytes: 1 << 20,
            ..Limits::default()
        },
        ..options()
    };
    let url = xenpool::xenapi::parse_url(&format!("http://{addr}/")).unwrap();
    let err = Session::login_with_password(Client::new(options).unwrap(), url, credentials())
        .await
        .unwrap_err();
    assert!(
        matches!(err, XenApiError::ResponseTooLarge { limit, .. } if limit == 1 << 20),
        "{err:?}"
    );
}

#[tokio::test]
async fn reconnect_starts_again_from_the_original_url_after_the_master_died() {
    let mut servers = same_port_servers(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let new_master = servers.pop().unwrap();
    let dead_master = servers.pop().unwrap();
    let member = servers.pop().unwrap();
    Mock::given(call("session.login_with_password"))
        .respond_with(failure("HOST_IS_SLAVE", &["127.0.0.2"]))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&member)
        .await;
    mount_login_redirect(&member, "127.0.0.3").await;
    mount_login(&dead_master, "OpaqueRef:a").await;
    mount_login(&new_master, "OpaqueRef:b").await;
    Mock::given(call("host.get_all").with_params([Value::from("OpaqueRef:b")]))
        .respond_with(success(strings(&["OpaqueRef:h1"])))
        .mount(&new_master)
        .await;

    let session = Session::login_with_password(client(), url_of(&member), credentials())
        .await
        .unwrap();
    assert_eq!(session.url().host_str(), Some("127.0.0.2"));
    drop(dead_master);
    let err = session.host_get_all().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    session.reconnect().await.unwrap();
    assert_eq!(session.url().host_str(), Some("127.0.0.3"));
    assert_eq!(
        session.host_get_all().await.unwrap(),
        vec![Ref::from("OpaqueRef:h1")]
    );
}
