//! `xenpool xapi … call` as a real process against wiremock and the TLS test server: JSON out,
//! arguments in, the documented exit codes, and the password never printed.

use std::path::PathBuf;
use std::process::Output;

use wiremock::{Mock, MockServer};
use xenpool_xmlrpc::{Struct, Value};

use crate::support::tls_server::{self, TLS_VALUE};
use crate::support::xapi_mock::{
    call, failure, mount_login_refused_echoing_password, mount_session, received_call,
    received_calls, strings, success, unused_port, PASSWORD,
};

struct PasswordFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn password_file() -> PasswordFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password");
    std::fs::write(&path, format!("{PASSWORD}\n")).unwrap();
    PasswordFile { _dir: dir, path }
}

async fn xenpool(args: &[&str]) -> Output {
    xenpool_with_env(args, &[]).await
}

async fn xenpool_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_xenpool"))
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

/// Runs `xenpool xapi --url URL --username root --password-file F <rest…>`.
async fn xapi(url: &str, extra: &[&str], rest: &[&str]) -> Output {
    let pw = password_file();
    let mut args = vec![
        "xapi",
        "--url",
        url,
        "--username",
        "root",
        "--password-file",
        pw.path.to_str().unwrap(),
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(rest);
    xenpool(&args).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_password(out: &Output) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(PASSWORD), "password printed: {all}");
}

async fn server_with_session() -> MockServer {
    let server = MockServer::start().await;
    mount_session(&server, "OpaqueRef:cli").await;
    server
}

#[tokio::test]
async fn call_prints_the_result_as_json_and_logs_out() {
    let server = server_with_session().await;
    let mut rec = Struct::new();
    rec.insert("name_label", "h1");
    rec.insert("enabled", true);
    rec.insert("memory_overhead", "1073741824");
    rec.insert("resident_VMs", strings(&["OpaqueRef:vm1"]));
    rec.insert("blob", Value::Base64(b"hi".to_vec()));
    let mut all = Struct::new();
    all.insert("OpaqueRef:h1", rec);
    Mock::given(call("host.get_all_records").with_params([Value::from("OpaqueRef:cli")]))
        .respond_with(success(all))
        .expect(1)
        .mount(&server)
        .await;

    let out = xapi(&server.uri(), &[], &["call", "host.get_all_records"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"OpaqueRef:h1": {
            "name_label": "h1", "enabled": true, "memory_overhead": "1073741824",
            "resident_VMs": ["OpaqueRef:vm1"], "blob": "aGk="
        }})
    );
    assert_no_password(&out);
}

#[tokio::test]
async fn arguments_are_json_or_plain_strings_after_the_session() {
    let server = server_with_session().await;
    Mock::given(call("VM.pool_migrate"))
        .respond_with(success(""))
        .expect(1)
        .mount(&server)
        .await;
    let out = xapi(
        &server.uri(),
        &[],
        &[
            "call",
            "VM.pool_migrate",
            r#""OpaqueRef:vm1""#,
            "OpaqueRef:h2",
            r#"{"live":"true"}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), r#""""#);
    let migrate = received_call(&server, "VM.pool_migrate").await;
    let mut live = Struct::new();
    live.insert("live", "true");
    assert_eq!(
        migrate.params,
        vec![
            Value::from("OpaqueRef:cli"),
            Value::from("OpaqueRef:vm1"),
            Value::from("OpaqueRef:h2"),
            Value::Struct(live)
        ]
    );
}

#[tokio::test]
async fn xapi_failures_print_code_and_params_and_exit_3() {
    let server = server_with_session().await;
    Mock::given(call("host.disable"))
        .respond_with(failure("HOST_OFFLINE", &["OpaqueRef:h1", "second"]))
        .mount(&server)
        .await;
    let out = xapi(
        &server.uri(),
        &[],
        &["call", "host.disable", "OpaqueRef:h1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("HOST_OFFLINE: OpaqueRef:h1, second"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn a_wrong_password_exits_3_without_printing_it() {
    let server = MockServer::start().await;
    mount_login_refused_echoing_password(&server).await;
    let uri = server.uri();
    let args = [
        "xapi",
        "--url",
        &uri,
        "--username",
        "root",
        "--password-env",
        "XENPOOL_TEST_PW",
        "call",
        "pool.get_all",
    ];
    // The variable is unset in the child: a usage error naming it.
    let out = xenpool_with_env(&args, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("XENPOOL_TEST_PW"),
        "{}",
        text(&out.stderr)
    );

    let out = xenpool_with_env(&args, &[("XENPOOL_TEST_PW", PASSWORD)]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("SESSION_AUTHENTICATION_FAILED: root, "));
    assert_no_password(&out);
    let login = &received_calls(&server).await[0];
    assert_eq!(
        login.params[1],
        Value::from(PASSWORD),
        "the password from the env var was sent"
    );
}

#[tokio::test]
async fn transport_failures_exit_4() {
    let port = unused_port();
    let out = xapi(
        &format!("http://127.0.0.1:{port}/"),
        &[],
        &["call", "pool.get_all"],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("transport error"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn tls_is_verified_and_a_pinned_fingerprint_is_accepted() {
    let server = tls_server::start(&tls_server::self_signed(&["127.0.0.1"])).await;
    let refused = xapi(server.url.as_str(), &[], &["call", "pool.get_all"]).await;
    assert_eq!(refused.status.code(), Some(4));
    assert!(
        text(&refused.stderr).contains("TLS error"),
        "{}",
        text(&refused.stderr)
    );

    let pin = server.fingerprint.to_string();
    let pinned = xapi(
        server.url.as_str(),
        &["--fingerprint", &pin],
        &["call", "pool.get_all"],
    )
    .await;
    assert_eq!(pinned.status.code(), Some(0), "{}", text(&pinned.stderr));
    let json: serde_json::Value = serde_json::from_slice(&pinned.stdout).unwrap();
    assert_eq!(json, serde_json::json!(TLS_VALUE));
}

/// `xenpool xapi --url https://127.0.0.1/ --username root <flags…> call pool.get_all`.
async fn with_flags(flags: &[&str]) -> Output {
    let mut args = vec!["xapi", "--url", "https://127.0.0.1/", "--username", "root"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["call", "pool.get_all"]);
    xenpool(&args).await
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let no_password = with_flags(&[]).await;
    assert_eq!(no_password.status.code(), Some(2));

    let on_command_line = with_flags(&["--password", PASSWORD]).await;
    assert_eq!(on_command_line.status.code(), Some(2));

    let missing_file = with_flags(&["--password-file", "/nonexistent/pw"]).await;
    assert_eq!(missing_file.status.code(), Some(2));
    assert!(text(&missing_file.stderr).contains("/nonexistent/pw"));

    let bad_fingerprint = xapi(
        "https://127.0.0.1/",
        &["--fingerprint", "ab:cd"],
        &["call", "pool.get_all"],
    )
    .await;
    assert_eq!(bad_fingerprint.status.code(), Some(2));
    assert!(text(&bad_fingerprint.stderr).contains("fingerprint"));

    let bad_url = xapi("ftp://127.0.0.1/", &[], &["call", "pool.get_all"]).await;
    assert_eq!(bad_url.status.code(), Some(2));
}
