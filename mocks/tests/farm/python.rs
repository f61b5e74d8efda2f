//! Conformance with the official Python SDK (`XenAPI` from the `xenapi` package): the scripts in
//! `mocks/tests/python/` drive a farm this test starts.

use std::path::PathBuf;
use std::process::Command;

use xenpool_mocks::Farm;

use crate::support::farm_scenario;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("XENPOOL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the XenAPI conformance tests: run scripts/setup-venv (makes {}) or set XENPOOL_TEST_PYTHON",
        venv.display()
    );
    venv
}

fn run(script: &str, farm: &Farm) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let out = Command::new(python())
        .arg(dir.join(script))
        .arg(farm.ready_line().to_string())
        .current_dir(&dir)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("done"),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_host_is_slave() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\nvms = [{ name = \"a\" }, { name = \"b\", power_state = \"Halted\" }]\n\
         [[hosts]]\nname = \"xs2\"\nmember_of = \"xs1\"\n",
    )
    .await;
    tokio::task::spawn_blocking(move || run("login_redirect.py", &farm))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_migrate_designate_eject() {
    let farm = farm_scenario(
        "[[hosts]]\nname = \"xs1\"\n[[hosts]]\nname = \"xs2\"\nvms = []\ncpu_vendor = \"AuthenticAMD\"\n\
         [[hosts]]\nname = \"xs3\"\n",
    )
    .await;
    tokio::task::spawn_blocking(move || run("pool_ops.py", &farm))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_from() {
    let farm = crate::support::farm(1).await;
    tokio::task::spawn_blocking(move || run("events.py", &farm))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_https() {
    let farm = crate::support::farm_with(xenpool_mocks::FarmOptions {
        hosts: 1,
        tls: true,
        time_scale: 0.0,
        ..Default::default()
    })
    .await;
    tokio::task::spawn_blocking(move || run("tls.py", &farm))
        .await
        .unwrap();
}
