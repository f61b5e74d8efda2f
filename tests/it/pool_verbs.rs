//! The manual pool verbs (`pool-status`, `pool-join`, `pool-eject`, `evacuate`) run as the real
//! binary with an agent config, against the mock XenServer and without a control plane.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use xenpool_mocks::{Farm, FarmOptions, Scenario};

fn agent_config(dir: &Path, farm: &Farm, host: &str) -> PathBuf {
    let secret = |name: &str, value: &str| {
        let path = dir.join(name);
        std::fs::write(&path, value).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    secret("token", "unused-by-manual-verbs\n");
    secret("xapi-password", &format!("{}\n", farm.password()));
    let path = dir.join(format!("{host}.toml"));
    let text = format!(
        "host = \"{host}\"\ncontrol_url = \"http://127.0.0.1:9\"\ntoken_file = \"token\"\nxapi_url = \"{}\"\n\
         xapi_username = \"{}\"\nxapi_password_file = \"xapi-password\"\nstate_dir = \"state-{host}\"\n",
        farm.host_url(host),
        farm.username()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn xenpool(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xenpool"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_join_inspect_evacuate_and_eject_without_the_control_plane() {
    let scenario = Scenario::from_toml(
        "[[hosts]]\nname = \"xs1\"\n[[hosts.vms]]\nname = \"web\"\n[[hosts]]\nname = \"xs2\"\n[[hosts]]\nname = \"xs3\"\n",
    )
    .unwrap();
    let farm = Farm::start(FarmOptions {
        scenario: Some(scenario),
        vms_per_host: 0,
        time_scale: 0.0,
        ..FarmOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (xs1, xs2, xs3) = (
        agent_config(dir.path(), &farm, "xs1"),
        agent_config(dir.path(), &farm, "xs2"),
        agent_config(dir.path(), &farm, "xs3"),
    );
    let joined = |h: &str| {
        farm.state()
            .pool_of("xs1")
            .is_some_and(|p| p.members.iter().any(|m| m == h))
            && farm.state().host(h).is_some_and(|x| x.enabled && x.online)
    };

    let master = farm.host_url("xs1");
    for (host, config) in [("xs2", &xs2), ("xs3", &xs3)] {
        let out = xenpool(config, &["pool-join", "--master", &master]);
        assert!(out.status.success(), "{}", text(&out));
        until(&format!("{host} joined"), || joined(host)).await;
    }

    let out = xenpool(&xs1, &["pool-status"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = text(&out);
    assert!(status.contains("master xs1"), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.contains("xs1") && l.contains("VMs: web")),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.contains("xs3") && l.contains("enabled")),
        "{status}"
    );

    let out = xenpool(&xs1, &["evacuate", "xs1", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("web: xs1 -> xs"), "{}", text(&out));
    assert_eq!(
        farm.state().vm("web").unwrap().resident_on.as_deref(),
        Some("xs1"),
        "a dry run moves nothing"
    );

    let out = xenpool(&xs1, &["evacuate", "xs1"]);
    assert!(out.status.success(), "{}", text(&out));
    let now_on = farm.state().vm("web").unwrap().resident_on.clone().unwrap();
    assert_ne!(now_on, "xs1");

    // The VM's host cannot be ejected, nor can the master: both refusals exit 1 with XAPI's code.
    let out = xenpool(&xs1, &["pool-eject", &now_on]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("OPERATION_NOT_ALLOWED"),
        "{}",
        text(&out)
    );
    let out = xenpool(&xs1, &["pool-eject", "xs1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Cannot_eject_master"), "{}", text(&out));

    let empty = if now_on == "xs2" { "xs3" } else { "xs2" };
    let out = xenpool(&xs1, &["pool-eject", empty]);
    assert!(out.status.success(), "{}", text(&out));
    until(&format!("{empty} standalone"), || {
        farm.state()
            .pool_of(empty)
            .is_some_and(|p| p.members == [empty])
    })
    .await;

    let out = xenpool(&xs1, &["pool-eject", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(farm.invariants().ok, "{:?}", farm.invariants().violations);
    farm.shutdown().await;
}
