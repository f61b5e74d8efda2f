//! XAPI's wire form: endpoints, envelope, value forms, method and arity errors.

use crate::support::{farm, s, Reply, Session, Xapi};
use xenpool_xmlrpc as xmlrpc;

#[tokio::test]
async fn both_endpoints_answer_and_other_paths_do_not() {
    let farm = farm(1).await;
    let x = Xapi::new(&farm.host_url("xs1"));
    let body = xmlrpc::encode_call("session.login_with_password", &[s("root"), s("mock")]);
    for path in ["/", "/RPC2"] {
        let (status, reply) = x.post(path, body.clone()).await.unwrap();
        assert_eq!(status, 200, "{path}");
        assert!(
            String::from_utf8_lossy(&reply).contains("<value>Success</value>"),
            "{path}"
        );
    }
    let (status, _) = x.post("/json", body).await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn malformed_xml_is_an_http_500() {
    let farm = farm(1).await;
    let x = Xapi::new(&farm.host_url("xs1"));
    let (status, body) = x
        .post(
            "/",
            b"<methodCall><methodName>x</methodName><params>".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&body).contains("Parse_error"));
}

#[tokio::test]
async fn unknown_methods_and_wrong_arity_fail_like_xapi() {
    let farm = farm(1).await;
    let sess = Session::on(&farm, "xs1").await;
    assert_eq!(
        sess.fails("pool.frobnicate", vec![]).await,
        ["MESSAGE_METHOD_UNKNOWN", "pool.frobnicate"]
    );
    assert_eq!(
        sess.fails("VM.get_no_such_field", vec![s("x")]).await,
        ["MESSAGE_METHOD_UNKNOWN", "VM.get_no_such_field"]
    );
    assert_eq!(
        sess.fails("Async.session.logout", vec![]).await,
        ["MESSAGE_METHOD_UNKNOWN", "Async.session.logout"],
        "the session class has no Async variants"
    );
    assert_eq!(
        sess.fails("pool.join", vec![s("127.0.0.3")]).await,
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "pool.join", "3", "1"]
    );
    let x = Xapi::new(&farm.host_url("xs1"));
    let Reply::Failure(e) = x.call("session.login_with_password", vec![s("root")]).await else {
        panic!()
    };
    assert_eq!(
        e,
        [
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "session.login_with_password",
            "2",
            "1"
        ]
    );
    let five = vec![s("root"), s("mock"), s("1.1"), s("o"), s("extra")];
    let Reply::Failure(e) = x.call("session.login_with_password", five).await else {
        panic!()
    };
    assert_eq!(
        e,
        [
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "session.login_with_password",
            "4",
            "5"
        ]
    );
}

#[tokio::test]
async fn values_use_xapis_forms() {
    let farm = farm(1).await;
    let sess = Session::on(&farm, "xs1").await;
    assert!(sess.session.starts_with("OpaqueRef:"));
    let host = sess.host_ref("xs1").await;
    let body = xmlrpc::encode_call("host.compute_free_memory", &[s(&sess.session), s(&host)]);
    let (_, raw) = sess.xapi.post("/", body).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let free = (16384u64 - 1024 - 2048) * 1024 * 1024;
    assert!(
        raw.contains(&format!("<value>{free}</value>")),
        "int64 as a bare decimal string: {raw}"
    );
    let pool = sess.ok("pool.get_all", vec![]).await.as_array().unwrap()[0]
        .as_str()
        .unwrap()
        .to_owned();
    let body = xmlrpc::encode_call(
        "pool.set_name_label",
        &[s(&sess.session), s(&pool), s("p1")],
    );
    let (_, raw) = sess.xapi.post("/", body).await.unwrap();
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .contains("<name>Value</name><value></value>"),
        "void is an empty value"
    );
    let vm = sess.vm_ref("xs1-vm1").await;
    sess.ok("VM.hard_shutdown", vec![s(&vm)]).await;
    assert_eq!(
        sess.field("VM", &vm, "resident_on").await.as_str(),
        Some("OpaqueRef:NULL")
    );
    assert_eq!(
        sess.field("VM", &vm, "power_state").await.as_str(),
        Some("Halted")
    );
    assert_eq!(
        sess.field("VM", &vm, "memory_static_max").await.as_str(),
        Some("1073741824")
    );
    let rec = sess.ok("host.get_record", vec![s(&host)]).await;
    let rec = rec.as_struct().unwrap();
    assert_eq!(
        rec.get("address").and_then(|v| v.as_str()),
        Some("127.0.0.2")
    );
    assert_eq!(rec.get("enabled").and_then(|v| v.as_bool()), Some(true));
    let resident = rec.get("resident_VMs").and_then(|v| v.as_array()).unwrap();
    assert_eq!(resident.len(), 2, "dom0 and the still-running VM");
}
