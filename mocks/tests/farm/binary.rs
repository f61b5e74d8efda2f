//! The `mock-xenserver` binary: flags, the ready line, errors that name the problem.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{s, Session};

const BIN: &str = env!("CARGO_BIN_EXE_mock-xenserver");

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, Value) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    (
        running,
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}")),
    )
}

#[tokio::test]
async fn prints_the_ready_line_and_serves_the_hosts() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_run, ready) = start(&["--hosts", "2", "--vms-per-host", "1", "--time-scale", "0"]);
    assert_eq!(ready["username"], "root");
    assert_eq!(ready["password"], "mock");
    assert!(ready.get("fingerprints").is_none());
    let xs2 = ready["hosts"]["xs2"].as_str().unwrap();
    assert!(
        xs2.starts_with("http://127.0.0.3:") && xs2.ends_with('/'),
        "{xs2}"
    );
    let sess = Session::login(xs2).await.unwrap();
    assert_eq!(
        sess.ok("VM.get_by_name_label", vec![s("xs2-vm1")])
            .await
            .as_array()
            .map(<[_]>::len),
        Some(1)
    );
    let control = ready["control"].as_str().unwrap();
    let st: Value = reqwest::get(format!("{control}/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["hosts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn tls_and_a_password_file() {
    let dir = std::env::temp_dir().join(format!("mock-xenserver-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "s3cret\n").unwrap();
    let (_run, ready) = start(&[
        "--hosts",
        "1",
        "--tls",
        "--password-file",
        file.to_str().unwrap(),
        "--username",
        "admin",
    ]);
    assert!(
        ready.get("password").is_none(),
        "a chosen password is never printed"
    );
    assert_eq!(ready["username"], "admin");
    assert!(ready["fingerprints"]["xs1"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(ready["hosts"]["xs1"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_and_files_are_named() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--password-file", "/nonexistent/pw"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--password-file /nonexistent/pw"), "{err}");
    let (code, err) = run(&["--time-scale=-1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--time-scale"), "{err}");
    let (code, err) = run(&["--hosts", "0"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("1 to"), "{err}");
    let (code, err) = run(&["--scenario", "/nonexistent/s.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/s.toml"), "{err}");
}
